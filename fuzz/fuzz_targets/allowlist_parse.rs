//! The allow-list parser on arbitrary text: it must never panic, and a list it accepts must
//! contain every entry it was given (first and last address of each range), and answer an
//! IPv4 address and its IPv4-mapped IPv6 form alike.
//!
//! "Contains" follows the contract: an IPv4-mapped IPv6 source matches as its IPv4 address,
//! so an IPv6 range wider than /96 that covers `::ffff:0:0/96` (say `::/80`) does not admit
//! mapped sources, and an IPv4-mapped range of /96 or longer is the IPv4 range it maps.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
use libfuzzer_sys::fuzz_target;
use vpc_proxy::allowlist::AllowList;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Ok(list) = AllowList::parse(&text) else {
        return;
    };
    assert!(list.ranges() <= list.entries());

    // The same text split in two sources parses too (splitting between lines only).
    if let Some(cut) = text.find('\n') {
        let (a, b) = text.split_at(cut);
        let union = AllowList::parse_sources([a, b]).expect("halves of an accepted text parse");
        assert_eq!(union.entries(), list.entries());
    }

    // Every entry, tokenised naively, is inside the list.
    for line in text.split('\n') {
        let line = line.split('#').next().unwrap_or("");
        for token in line.split(|c: char| c == ',' || c.is_whitespace()) {
            let net = match token.parse::<IpNet>() {
                Ok(net) => net,
                Err(_) => match token.parse::<IpAddr>() {
                    Ok(ip) => IpNet::from(ip),
                    Err(_) => continue,
                },
            };
            for edge in [net.network(), net.broadcast()] {
                let mapped_source = matches!(edge, IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some());
                let folded_entry = matches!(net, IpNet::V6(n) if n.prefix_len() >= 96);
                if mapped_source && !folded_entry {
                    continue;
                }
                assert!(list.contains(edge), "{token:?}: {edge} not contained");
            }
        }
    }

    // Probes from the input's last bytes: IPv4 and its mapped form agree.
    let mut tail = [0u8; 16];
    for (slot, byte) in tail.iter_mut().zip(data.iter().rev()) {
        *slot = *byte;
    }
    let v4 = Ipv4Addr::new(tail[0], tail[1], tail[2], tail[3]);
    assert_eq!(
        list.contains(IpAddr::V4(v4)),
        list.contains(IpAddr::V6(v4.to_ipv6_mapped()))
    );
    let _ = list.contains(IpAddr::V6(Ipv6Addr::from(tail)));
});
