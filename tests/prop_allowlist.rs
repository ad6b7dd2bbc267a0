//! Property tests for the allow-list: for random mixed lists of IPv4/IPv6 addresses and CIDR
//! ranges, written with every separator the format allows, `AllowList::contains` agrees with
//! a naive linear scan over `ipnet` ranges, for random probes, probes on and next to range
//! edges, and IPv4-mapped IPv6 probes.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use proptest::prelude::*;
use proptest::test_runner::Config as ProptestConfig;
use vpc_proxy::allowlist::AllowList;

/// The contract's meaning of an entry: an IPv4-mapped IPv6 range of /96 or longer is the
/// IPv4 range it maps; anything else is itself.
fn meaning(net: IpNet) -> IpNet {
    if let IpNet::V6(n) = net
        && n.prefix_len() >= 96
        && let Some(v4) = n.network().to_ipv4_mapped()
    {
        return IpNet::V4(Ipv4Net::new(v4, n.prefix_len() - 96).expect("valid"));
    }
    net
}

/// The oracle: an IPv4-mapped IPv6 source matches as its IPv4 address; then any entry that
/// contains it, scanned one by one.
fn naive_contains(entries: &[IpNet], probe: IpAddr) -> bool {
    let probe = match probe {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(probe, IpAddr::V4),
        v4 => v4,
    };
    entries.iter().any(|net| meaning(*net).contains(&probe))
}

/// IPv4 addresses crowded into a /20 so ranges overlap, touch and nest; now and then anywhere.
fn v4_addr() -> impl Strategy<Value = Ipv4Addr> {
    prop_oneof![
        4 => (0u32..4096).prop_map(|x| Ipv4Addr::from(0x0a00_0000 | x)),
        1 => any::<u32>().prop_map(Ipv4Addr::from),
        1 => prop_oneof![Just(Ipv4Addr::UNSPECIFIED), Just(Ipv4Addr::BROADCAST)],
    ]
}

/// IPv6 addresses crowded into 2001:db8::/116 likewise, plus the edges of the space.
fn v6_addr() -> impl Strategy<Value = Ipv6Addr> {
    prop_oneof![
        4 => (0u128..4096).prop_map(|x| Ipv6Addr::from(0x2001_0db8_u128 << 96 | x)),
        1 => any::<u128>().prop_map(Ipv6Addr::from),
        1 => prop_oneof![Just(Ipv6Addr::UNSPECIFIED), Just(Ipv6Addr::from(u128::MAX))],
    ]
}

fn entry() -> impl Strategy<Value = IpNet> {
    prop_oneof![
        3 => v4_addr().prop_map(|a| IpNet::V4(Ipv4Net::from(a))),
        3 => (v4_addr(), 20u8..=32).prop_map(|(a, l)| IpNet::V4(Ipv4Net::new(a, l).unwrap().trunc())),
        1 => (v4_addr(), 0u8..20).prop_map(|(a, l)| IpNet::V4(Ipv4Net::new(a, l).unwrap().trunc())),
        3 => v6_addr().prop_map(|a| IpNet::V6(Ipv6Net::from(a))),
        3 => (v6_addr(), 116u8..=128).prop_map(|(a, l)| IpNet::V6(Ipv6Net::new(a, l).unwrap().trunc())),
        1 => (v6_addr(), 0u8..116).prop_map(|(a, l)| IpNet::V6(Ipv6Net::new(a, l).unwrap().trunc())),
        // IPv4-mapped IPv6 entries, which the list folds to IPv4.
        2 => (v4_addr(), 116u8..=128).prop_map(|(a, l)| {
            IpNet::V6(Ipv6Net::new(a.to_ipv6_mapped(), l).unwrap().trunc())
        }),
    ]
}

/// Writes the entries in the text format with random separators, blank lines and comments.
fn render(entries: &[IpNet], seps: &[u8]) -> String {
    let mut text = String::from("# generated\n");
    for (i, net) in entries.iter().enumerate() {
        // A single address is written bare half the time, as operators do.
        let bare = net.prefix_len() == net.max_prefix_len() && i % 2 == 0;
        if bare {
            text.push_str(&net.addr().to_string());
        } else {
            text.push_str(&net.to_string());
        }
        text.push_str(match seps.get(i).copied().unwrap_or(0) % 7 {
            0 => "\n",
            1 => ",",
            2 => " ",
            3 => "\t",
            4 => " , ",
            5 => "  # a comment, with 1.2.3.4 in it\n",
            _ => "\r\n\n",
        });
    }
    text
}

/// Probes: random, on and next to every entry's first and last address, and the mapped IPv6
/// form of IPv4 ones.
fn probes(entries: &[IpNet], extra_v4: &[Ipv4Addr], extra_v6: &[Ipv6Addr]) -> Vec<IpAddr> {
    let mut out: Vec<IpAddr> = Vec::new();
    for net in entries {
        match meaning(*net) {
            IpNet::V4(n) => {
                let lo = u32::from(n.network());
                let hi = u32::from(n.broadcast());
                for x in [lo.checked_sub(1), Some(lo), Some(hi), hi.checked_add(1)]
                    .into_iter()
                    .flatten()
                {
                    out.push(IpAddr::V4(Ipv4Addr::from(x)));
                }
            }
            IpNet::V6(n) => {
                let lo = u128::from(n.network());
                let hi = u128::from(n.broadcast());
                for x in [lo.checked_sub(1), Some(lo), Some(hi), hi.checked_add(1)]
                    .into_iter()
                    .flatten()
                {
                    out.push(IpAddr::V6(Ipv6Addr::from(x)));
                }
            }
        }
    }
    out.extend(extra_v4.iter().copied().map(IpAddr::V4));
    out.extend(extra_v6.iter().copied().map(IpAddr::V6));
    let mapped: Vec<IpAddr> = out
        .iter()
        .filter_map(|ip| match ip {
            IpAddr::V4(v4) => Some(IpAddr::V6(v4.to_ipv6_mapped())),
            IpAddr::V6(_) => None,
        })
        .collect();
    out.extend(mapped);
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn lookup_agrees_with_linear_scan(
        entries in proptest::collection::vec(entry(), 0..60),
        seps in proptest::collection::vec(any::<u8>(), 60),
        extra_v4 in proptest::collection::vec(v4_addr(), 0..40),
        extra_v6 in proptest::collection::vec(v6_addr(), 0..40),
    ) {
        let text = render(&entries, &seps);
        let list = AllowList::parse(&text)
            .map_err(|e| TestCaseError::fail(format!("{text:?} did not parse: {e}")))?;
        prop_assert_eq!(list.entries(), entries.len());
        prop_assert!(list.ranges() <= entries.len());
        prop_assert_eq!(list.is_empty(), entries.is_empty());
        for probe in probes(&entries, &extra_v4, &extra_v6) {
            prop_assert_eq!(
                list.contains(probe),
                naive_contains(&entries, probe),
                "probe {} against {:?}",
                probe,
                text
            );
        }
    }

    /// Splitting the entries over two sources (the variable and the file) answers the same
    /// as one text holding them all.
    #[test]
    fn union_of_sources_is_one_list(
        entries in proptest::collection::vec(entry(), 0..40),
        split in any::<prop::sample::Index>(),
        seps in proptest::collection::vec(any::<u8>(), 40),
        extra_v4 in proptest::collection::vec(v4_addr(), 0..20),
        extra_v6 in proptest::collection::vec(v6_addr(), 0..20),
    ) {
        let at = if entries.is_empty() { 0 } else { split.index(entries.len() + 1) };
        let (a, b) = entries.split_at(at);
        let list = AllowList::parse_sources([render(a, &seps).as_str(), render(b, &seps).as_str()])
            .map_err(|(i, e)| TestCaseError::fail(format!("source {i}: {e}")))?;
        prop_assert_eq!(list.entries(), entries.len());
        for probe in probes(&entries, &extra_v4, &extra_v6) {
            prop_assert_eq!(list.contains(probe), naive_contains(&entries, probe), "probe {}", probe);
        }
    }
}
