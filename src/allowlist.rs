//! The source-IP allow-list: parsed once at start from the seed's "poor man's ACL" text
//! format, then answered by binary search over sorted, merged address ranges.
//!
//! It owns the text format (entries split by newlines, commas or whitespace, `#` comments,
//! addresses and CIDR ranges) and the membership question. It must never guess: an entry it
//! cannot read exactly is an error naming the line and the text, never skipped, and a CIDR
//! with host bits set is refused because `10.0.0.1/8` is more often a typo than an intent.

use std::net::IpAddr;

use ipnet::{IpNet, Ipv4Net};

/// An entry the parser could not read, with where it stood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {why}: {entry:?}")]
pub struct EntryError {
    pub line: usize,
    pub entry: String,
    pub why: &'static str,
}

/// One entry of an allow-list text, as written: where it stands and what it admits. Used
/// where a person needs the entry rather than the merged ranges (the `config updated` diff,
/// `vpc-proxy-ops check`); the request path only ever sees `AllowList`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// 1-based line of the text the entry is on.
    pub line: usize,
    /// The entry exactly as written (`10.0.0.0/8`).
    pub text: String,
    /// What it admits (IPv4-mapped IPv6 folded to IPv4).
    pub net: IpNet,
}

impl Entry {
    /// Does this entry admit `ip`? IPv4-mapped IPv6 addresses match as IPv4, as in `AllowList`.
    pub fn admits(&self, ip: IpAddr) -> bool {
        self.net.contains(&ip.to_canonical())
    }
}

/// Every entry of one allow-list text, in order, or the first that does not parse. The same
/// parser `AllowList::parse` uses, so a text this accepts is one the function accepts.
pub fn entries(text: &str) -> Result<Vec<Entry>, EntryError> {
    let mut out = Vec::new();
    for_each_entry(text, |line, token, net| {
        out.push(Entry {
            line,
            text: token.to_owned(),
            net,
        })
    })?;
    Ok(out)
}

/// Walks the entries of `text`: the one definition of the format's lines, comments and
/// separators.
fn for_each_entry(text: &str, mut each: impl FnMut(usize, &str, IpNet)) -> Result<(), EntryError> {
    for (index, raw_line) in text.split('\n').enumerate() {
        let line = raw_line.split('#').next().unwrap_or("");
        for token in line.split(|c: char| c == ',' || c.is_whitespace()) {
            if token.is_empty() {
                continue;
            }
            let net = parse_entry(token).map_err(|why| EntryError {
                line: index + 1,
                entry: token.to_owned(),
                why,
            })?;
            each(index + 1, token, net);
        }
    }
    Ok(())
}

/// Sorted, disjoint, non-adjacent inclusive ranges. Starts and ends live in separate vectors
/// so the binary search walks a dense array of keys.
#[derive(Debug, Default, Clone)]
struct RangeSet<T> {
    starts: Vec<T>,
    ends: Vec<T>,
}

impl<T: Copy + Ord + Step> RangeSet<T> {
    fn from_ranges(mut ranges: Vec<(T, T)>) -> Self {
        ranges.sort_unstable();
        let mut starts: Vec<T> = Vec::with_capacity(ranges.len());
        let mut ends: Vec<T> = Vec::with_capacity(ranges.len());
        for (start, end) in ranges {
            if let Some(last_end) = ends.last_mut() {
                // Merge overlapping and touching ranges: fewer keys, same answers.
                if last_end.succ().is_none_or(|next| start <= next) {
                    if end > *last_end {
                        *last_end = end;
                    }
                    continue;
                }
            }
            starts.push(start);
            ends.push(end);
        }
        starts.shrink_to_fit();
        ends.shrink_to_fit();
        RangeSet { starts, ends }
    }

    #[inline]
    fn contains(&self, ip: T) -> bool {
        let idx = self.starts.partition_point(|start| *start <= ip);
        match idx.checked_sub(1).and_then(|i| self.ends.get(i)) {
            Some(end) => ip <= *end,
            None => false,
        }
    }

    fn len(&self) -> usize {
        self.starts.len()
    }
}

/// The successor of an address, `None` at the top of the space.
trait Step: Sized {
    fn succ(self) -> Option<Self>;
}
impl Step for u32 {
    fn succ(self) -> Option<Self> {
        self.checked_add(1)
    }
}
impl Step for u128 {
    fn succ(self) -> Option<Self> {
        self.checked_add(1)
    }
}

/// A parsed allow-list. Lookup cost is logarithmic in the number of merged ranges.
#[derive(Debug, Default, Clone)]
pub struct AllowList {
    v4: RangeSet<u32>,
    v6: RangeSet<u128>,
    entries: usize,
}

impl AllowList {
    /// Parses one or more texts (say, the variable and the file) into one list: the union.
    /// The error's `line` counts within the text it came from; the caller names the source.
    pub fn parse_sources<'a>(
        sources: impl IntoIterator<Item = &'a str>,
    ) -> Result<AllowList, (usize, EntryError)> {
        let mut builder = Builder::default();
        for (index, text) in sources.into_iter().enumerate() {
            builder.add_text(text).map_err(|e| (index, e))?;
        }
        Ok(builder.build())
    }

    /// Parses one text in the allow-list format.
    pub fn parse(text: &str) -> Result<AllowList, EntryError> {
        let mut builder = Builder::default();
        builder.add_text(text)?;
        Ok(builder.build())
    }

    /// Is this source address allowed? IPv4-mapped IPv6 addresses match as IPv4.
    #[inline]
    pub fn contains(&self, ip: IpAddr) -> bool {
        match ip.to_canonical() {
            IpAddr::V4(v4) => self.v4.contains(u32::from(v4)),
            IpAddr::V6(v6) => self.v6.contains(u128::from(v6)),
        }
    }

    /// How many entries the texts held (before merging).
    pub fn entries(&self) -> usize {
        self.entries
    }

    /// How many disjoint ranges remain after merging overlaps.
    pub fn ranges(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ranges() == 0
    }

    /// Both lists as one (several sources = union). Built off the request path, at each read.
    pub fn union(&self, other: &AllowList) -> AllowList {
        let pairs = |set: &RangeSet<u32>| -> Vec<(u32, u32)> {
            set.starts
                .iter()
                .copied()
                .zip(set.ends.iter().copied())
                .collect()
        };
        let pairs6 = |set: &RangeSet<u128>| -> Vec<(u128, u128)> {
            set.starts
                .iter()
                .copied()
                .zip(set.ends.iter().copied())
                .collect()
        };
        let mut v4 = pairs(&self.v4);
        v4.extend(pairs(&other.v4));
        let mut v6 = pairs6(&self.v6);
        v6.extend(pairs6(&other.v6));
        AllowList {
            v4: RangeSet::from_ranges(v4),
            v6: RangeSet::from_ranges(v6),
            entries: self.entries + other.entries,
        }
    }

    /// A short, stable name for what the list admits: 12 hex digits of an FNV-1a hash of the
    /// merged ranges. Two lists that admit the same addresses have the same fingerprint,
    /// whatever their order, comments or sources; it is the same in every process (no random
    /// seed), so summary lines from different execution environments can be compared.
    pub fn fingerprint(&self) -> String {
        const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
        const PRIME: u64 = 0x0000_0100_0000_01b3;
        let mut hash = OFFSET;
        let mut feed = |bytes: &[u8]| {
            for b in bytes {
                hash ^= u64::from(*b);
                hash = hash.wrapping_mul(PRIME);
            }
        };
        for (start, end) in self.v4.starts.iter().zip(&self.v4.ends) {
            feed(&[4]);
            feed(&start.to_be_bytes());
            feed(&end.to_be_bytes());
        }
        for (start, end) in self.v6.starts.iter().zip(&self.v6.ends) {
            feed(&[6]);
            feed(&start.to_be_bytes());
            feed(&end.to_be_bytes());
        }
        format!("{:012x}", hash >> 16)
    }
}

#[derive(Default)]
struct Builder {
    v4: Vec<(u32, u32)>,
    v6: Vec<(u128, u128)>,
    entries: usize,
}

impl Builder {
    fn add_text(&mut self, text: &str) -> Result<(), EntryError> {
        for_each_entry(text, |_, _, net| self.add(net))
    }

    fn add(&mut self, net: IpNet) {
        self.entries += 1;
        match net {
            IpNet::V4(n) => self
                .v4
                .push((u32::from(n.network()), u32::from(n.broadcast()))),
            IpNet::V6(n) => self
                .v6
                .push((u128::from(n.network()), u128::from(n.broadcast()))),
        }
    }

    fn build(self) -> AllowList {
        AllowList {
            v4: RangeSet::from_ranges(self.v4),
            v6: RangeSet::from_ranges(self.v6),
            entries: self.entries,
        }
    }
}

/// One entry: an address or a CIDR range, with IPv4-mapped IPv6 folded to IPv4.
fn parse_entry(token: &str) -> Result<IpNet, &'static str> {
    if let Some((addr, len)) = token.split_once('/') {
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| "not an IP address before the '/'")?;
        // Only plain decimal prefix lengths: "+8" or "08" are not what anyone writes.
        if len.is_empty() || len.len() > 3 || !len.bytes().all(|b| b.is_ascii_digit()) {
            return Err("prefix length is not a number");
        }
        let len: u8 = len.parse().map_err(|_| "prefix length is not a number")?;
        let net = IpNet::new(addr, len).map_err(|_| "prefix length too long for the address")?;
        if net.trunc() != net {
            return Err("CIDR has host bits set (write the network address, or /32 or /128)");
        }
        Ok(fold_mapped(net))
    } else {
        let addr: IpAddr = token
            .parse()
            .map_err(|_| "not an IP address or CIDR range")?;
        Ok(fold_mapped(IpNet::from(addr)))
    }
}

fn fold_mapped(net: IpNet) -> IpNet {
    match net {
        IpNet::V6(n) if n.prefix_len() >= 96 => match n.network().to_ipv4_mapped() {
            Some(v4) => Ipv4Net::new(v4, n.prefix_len() - 96)
                .map(IpNet::V4)
                .unwrap_or(net),
            None => net,
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn union_and_fingerprint() {
        let a = AllowList::parse("10.0.0.0/8 2001:db8::/32").unwrap();
        let b = AllowList::parse("192.168.1.1, 10.1.0.0/16").unwrap();
        let u = a.union(&b);
        assert_eq!(u.entries(), 4);
        assert_eq!(u.ranges(), 3, "10.1.0.0/16 merges into 10.0.0.0/8");
        for ip in ["10.9.9.9", "192.168.1.1", "2001:db8::1"] {
            assert!(u.contains(ip.parse().unwrap()), "{ip}");
        }
        assert!(!u.contains("192.168.1.2".parse().unwrap()));
        let same =
            AllowList::parse("# other order\n2001:db8::/32\n192.168.1.1 10.0.0.0/8").unwrap();
        assert_eq!(u.fingerprint(), same.fingerprint());
        assert_eq!(u.fingerprint().len(), 12);
        assert_ne!(u.fingerprint(), a.fingerprint());
        assert_ne!(AllowList::default().fingerprint(), a.fingerprint());
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn entries_keep_line_and_text_and_agree_with_the_list() {
        let text = "# office\n10.0.0.1, 192.168.0.0/16 # vpn\n\n::ffff:10.1.0.0/112\n";
        let got = entries(text).unwrap();
        let lines: Vec<(usize, &str)> = got.iter().map(|e| (e.line, e.text.as_str())).collect();
        assert_eq!(
            lines,
            [
                (2, "10.0.0.1"),
                (2, "192.168.0.0/16"),
                (4, "::ffff:10.1.0.0/112")
            ]
        );
        assert!(got[2].admits(ip("10.1.2.3")));
        assert!(got[2].admits(ip("::ffff:10.1.2.3")));
        assert!(!got[0].admits(ip("10.0.0.2")));
        let list = AllowList::parse(text).unwrap();
        assert_eq!(list.entries(), got.len());
        let e = entries("10.0.0.1\n10.0.0.1/8").unwrap_err();
        assert_eq!((e.line, e.entry.as_str()), (2, "10.0.0.1/8"));
    }

    #[test]
    fn separators_comments_and_blank_lines() {
        let list = AllowList::parse(
            "# office\n10.0.0.1, 10.0.0.2 10.0.0.3\t10.0.0.4\r\n\n  192.168.1.0/24 # vpn\n2001:db8::/32",
        )
        .unwrap();
        assert_eq!(list.entries(), 6);
        for a in ["10.0.0.1", "10.0.0.4", "192.168.1.255", "2001:db8:ffff::1"] {
            assert!(list.contains(ip(a)), "{a} should be allowed");
        }
        for a in ["10.0.0.5", "192.168.2.0", "2001:db9::1", "::1"] {
            assert!(!list.contains(ip(a)), "{a} should be denied");
        }
    }

    #[test]
    fn mapped_ipv6_source_matches_ipv4_entry() {
        let list = AllowList::parse("203.0.113.7").unwrap();
        assert!(list.contains(ip("::ffff:203.0.113.7")));
        assert!(!list.contains(ip("::ffff:203.0.113.8")));
    }

    #[test]
    fn mapped_ipv6_entry_is_folded_to_ipv4() {
        let list = AllowList::parse("::ffff:10.1.0.0/112").unwrap();
        assert!(list.contains(ip("10.1.2.3")));
        assert!(!list.contains(ip("10.2.0.0")));
    }

    #[test]
    fn errors_name_line_and_entry() {
        let err = AllowList::parse("10.0.0.1\n# c\n10.0.0.300\n").unwrap_err();
        assert_eq!(err.line, 3);
        assert_eq!(err.entry, "10.0.0.300");
        for bad in [
            "10.0.0.0/33",
            "10.0.0.1/8",
            "10.0.0.0/",
            "10.0.0.0/+8",
            "2001:db8::/129",
            "fe80::1%eth0",
            "010.0.0.1",
            "10.0.0",
            "example.com",
            "1.2.3.4-1.2.3.9",
        ] {
            let err = AllowList::parse(bad).unwrap_err();
            assert_eq!(err.line, 1);
            assert_eq!(err.entry, bad);
        }
    }

    #[test]
    fn empty_text_denies_everything() {
        let list = AllowList::parse("  # nothing here\n\n").unwrap();
        assert!(list.is_empty());
        assert!(!list.contains(ip("127.0.0.1")));
    }

    #[test]
    fn overlapping_and_adjacent_ranges_merge() {
        let list = AllowList::parse("10.0.0.0/25 10.0.0.128/25 10.0.0.5 10.0.0.0/24").unwrap();
        assert_eq!(list.entries(), 4);
        assert_eq!(list.ranges(), 1);
        assert!(list.contains(ip("10.0.0.255")));
        assert!(!list.contains(ip("10.0.1.0")));
    }

    #[test]
    fn extremes_of_the_address_space() {
        let list = AllowList::parse("0.0.0.0/0 ::/0").unwrap();
        assert!(list.contains(ip("255.255.255.255")));
        assert!(list.contains(ip("0.0.0.0")));
        assert!(list.contains(ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")));
        let list = AllowList::parse("255.255.255.255 0.0.0.0").unwrap();
        assert!(list.contains(ip("255.255.255.255")));
        assert!(!list.contains(ip("255.255.255.254")));
    }

    #[test]
    fn union_of_sources() {
        let list = AllowList::parse_sources(["10.0.0.1", "10.0.0.2\n"]).unwrap();
        assert!(list.contains(ip("10.0.0.1")) && list.contains(ip("10.0.0.2")));
        let (source, err) = AllowList::parse_sources(["10.0.0.1", "\nbad"]).unwrap_err();
        assert_eq!((source, err.line), (1, 2));
    }

    #[test]
    fn large_list_agrees_with_linear_scan() {
        let mut text = String::new();
        let mut nets = Vec::new();
        let mut x: u32 = 12345;
        for _ in 0..2000 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let len = 16 + (x % 17) as u8;
            let net = Ipv4Net::new(Ipv4Addr::from(x), len).unwrap().trunc();
            text.push_str(&format!("{net}\n"));
            nets.push(net);
        }
        let list = AllowList::parse(&text).unwrap();
        for _ in 0..20000 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let a = Ipv4Addr::from(x);
            assert_eq!(
                list.contains(IpAddr::V4(a)),
                nets.iter().any(|n| n.contains(&a)),
                "{a}"
            );
        }
    }
}
