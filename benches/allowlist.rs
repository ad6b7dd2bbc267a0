//! Allow-list build and lookup cost at 10, 10,000 and 1,000,000 entries.
//!
//! Entries are a deterministic mix: 40% IPv4 addresses, 20% IPv4 CIDRs (/16–/30), 25% IPv6
//! addresses, 15% IPv6 CIDRs (/48–/124), spread over the whole space so few merge (the worst
//! case for the range count). `build` parses the text, as start-up does. `lookup_hit` probes
//! addresses inside random entries, `lookup_miss` addresses on no entry; both cycle through
//! 4,096 prepared probes (half IPv4, half IPv6) so neither the branch predictor nor the cache
//! learns one answer.
//!
//! `lookup_live/hit` is the request path's own lookup since the allow-list became live: take
//! the snapshot in force from `Live` (a due-check and one atomic load), then `contains`; it
//! runs the `hit` probes, so it compares with `lookup/hit` of the same size.
//!
//!     CARGO_TARGET_DIR=/work/target-proof cargo bench --bench allowlist

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use vpc_proxy::allowlist::AllowList;
use vpc_proxy::live::{Clock, Live};
use vpc_proxy_testkit::config_from;

/// Polls a future that must complete without waiting (the request path when no read is due).
fn ready<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match future.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(out) => out,
        std::task::Poll::Pending => panic!("no read is due: the lookup must not wait"),
    }
}

const SIZES: [usize; 3] = [10, 10_000, 1_000_000];
const PROBES: usize = 4096;

/// splitmix64: small, deterministic, good enough to scatter addresses.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn u128(&mut self) -> u128 {
        (u128::from(self.next()) << 64) | u128::from(self.next())
    }
}

fn entries(n: usize, rng: &mut Rng) -> Vec<IpNet> {
    (0..n)
        .map(|_| {
            let kind = rng.next() % 100;
            if kind < 40 {
                IpNet::V4(Ipv4Net::from(Ipv4Addr::from(rng.next() as u32)))
            } else if kind < 60 {
                let len = 16 + (rng.next() % 15) as u8;
                IpNet::V4(
                    Ipv4Net::new(Ipv4Addr::from(rng.next() as u32), len)
                        .unwrap()
                        .trunc(),
                )
            } else if kind < 85 {
                IpNet::V6(Ipv6Net::from(Ipv6Addr::from(rng.u128())))
            } else {
                let len = 48 + (rng.next() % 77) as u8;
                IpNet::V6(
                    Ipv6Net::new(Ipv6Addr::from(rng.u128()), len)
                        .unwrap()
                        .trunc(),
                )
            }
        })
        .collect()
}

fn render(nets: &[IpNet]) -> String {
    let mut text = String::with_capacity(nets.len() * 24);
    for net in nets {
        if net.prefix_len() == net.max_prefix_len() {
            text.push_str(&net.addr().to_string());
        } else {
            text.push_str(&net.to_string());
        }
        text.push('\n');
    }
    text
}

/// A random address inside `net`.
fn inside(net: &IpNet, rng: &mut Rng) -> IpAddr {
    match net {
        IpNet::V4(n) => {
            let span = u64::from(u32::from(n.broadcast()) - u32::from(n.network())) + 1;
            IpAddr::V4(Ipv4Addr::from(
                u32::from(n.network()) + (rng.next() % span) as u32,
            ))
        }
        IpNet::V6(n) => {
            let span = u128::from(n.broadcast()) - u128::from(n.network());
            let offset = if span == u128::MAX {
                rng.u128()
            } else {
                rng.u128() % (span + 1)
            };
            IpAddr::V6(Ipv6Addr::from(u128::from(n.network()) + offset))
        }
    }
}

fn hits(list: &AllowList, nets: &[IpNet], rng: &mut Rng) -> Vec<IpAddr> {
    let v4: Vec<&IpNet> = nets.iter().filter(|n| matches!(n, IpNet::V4(_))).collect();
    let v6: Vec<&IpNet> = nets.iter().filter(|n| matches!(n, IpNet::V6(_))).collect();
    (0..PROBES)
        .map(|i| {
            let pool = if i % 2 == 0 { &v4 } else { &v6 };
            let net = pool[(rng.next() % pool.len() as u64) as usize];
            let ip = inside(net, rng);
            assert!(list.contains(ip), "{ip} should hit");
            ip
        })
        .collect()
}

fn misses(list: &AllowList, rng: &mut Rng) -> Vec<IpAddr> {
    let mut out = Vec::with_capacity(PROBES);
    while out.len() < PROBES {
        let ip = if out.len() % 2 == 0 {
            IpAddr::V4(Ipv4Addr::from(rng.next() as u32))
        } else {
            IpAddr::V6(Ipv6Addr::from(rng.u128()))
        };
        if !list.contains(ip) {
            out.push(ip);
        }
    }
    out
}

fn bench(c: &mut Criterion) {
    let mut rng = Rng(0x5eed);
    for n in SIZES {
        let nets = entries(n, &mut rng);
        let text = render(&nets);
        let list = AllowList::parse(&text).expect("generated list parses");
        eprintln!(
            "allow-list n={n}: {} text bytes, {} ranges after merging",
            text.len(),
            list.ranges()
        );

        let mut build = c.benchmark_group("allowlist/build");
        if n >= 1_000_000 {
            build.sample_size(10);
        }
        build.throughput(Throughput::Elements(n as u64));
        build.bench_with_input(BenchmarkId::from_parameter(n), &text, |b, text| {
            b.iter(|| AllowList::parse(black_box(text)).unwrap())
        });
        build.finish();

        let mut lookup = c.benchmark_group("allowlist/lookup");
        let hit_probes = hits(&list, &nets, &mut rng);
        for (name, probes) in [
            ("hit", hit_probes.clone()),
            ("miss", misses(&list, &mut rng)),
        ] {
            lookup.bench_with_input(BenchmarkId::new(name, n), &probes, |b, probes| {
                let mut i = 0usize;
                b.iter(|| {
                    i = (i + 1) & (PROBES - 1);
                    list.contains(black_box(probes[i]))
                })
            });
        }
        let config = config_from(&[
            ("PROXY_TARGET_URL", "http://127.0.0.1:9"),
            ("PROXY_ALLOWED_IPS", &text),
        ]);
        let live = Live::new(&config, Clock::system()).expect("live");
        drop(config);
        let mut failures = Vec::new();
        lookup.bench_with_input(BenchmarkId::new("live_hit", n), &hit_probes, |b, probes| {
            let mut i = 0usize;
            b.iter(|| {
                i = (i + 1) & (PROBES - 1);
                let snapshot = ready(live.current(&mut failures)).expect("in force");
                snapshot.allow_list.contains(black_box(probes[i]))
            })
        });
        lookup.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    targets = bench
}
criterion_main!(benches);
