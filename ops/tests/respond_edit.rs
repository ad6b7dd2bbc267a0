//! Property tests of the allow-list text edits (`respond::edit`): adding keeps every existing
//! line as it was and appends the new entries in order after one note; removing drops exactly
//! the asked entries, keeps every other line (comments included) in order, and the result is
//! always a text the function's own parser accepts.

use proptest::prelude::*;
use vpc_proxy::allowlist::{self, AllowList};
use vpc_proxy_ops::respond::edit;

/// One entry: an IPv4 address or a /24 network in 10.x, or an IPv6 /64.
fn entry() -> impl Strategy<Value = String> {
    prop_oneof![
        (0u8..=255, 0u8..=255).prop_map(|(a, b)| format!("10.{a}.{b}.7")),
        (0u8..=255, 0u8..=255).prop_map(|(a, b)| format!("10.{a}.{b}.0/24")),
        (0u16..=0xffff).prop_map(|a| format!("2001:db8:{a:x}::/64")),
    ]
}

/// One line: a comment, a blank line, or entries with separators and maybe a comment.
fn line() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z ]{0,12}".prop_map(|c| format!("# {c}")),
        Just(String::new()),
        (
            prop::collection::vec(entry(), 1..4),
            prop::sample::select(vec![" ", ", ", ",", "\t"]),
            prop::option::of("[a-z ]{0,10}")
        )
            .prop_map(|(es, sep, c)| {
                let mut l = es.join(sep);
                if let Some(c) = c {
                    l.push_str("  # ");
                    l.push_str(&c);
                }
                l
            }),
    ]
}

fn text() -> impl Strategy<Value = String> {
    (prop::collection::vec(line(), 0..12), any::<bool>()).prop_map(|(lines, nl)| {
        let mut t = lines.join("\n");
        if nl && !t.is_empty() {
            t.push('\n');
        }
        t
    })
}

fn texts(text: &str) -> Vec<String> {
    allowlist::entries(text)
        .unwrap()
        .into_iter()
        .map(|e| e.text)
        .collect()
}

proptest! {
    #[test]
    fn add_keeps_every_line_and_appends_in_order(
        old in text(),
        new in prop::collection::vec((0u8..=255).prop_map(|d| format!("203.0.113.{d}")), 1..5),
        note in ".{0,40}",
    ) {
        let e = edit::add(&old, &new, &note).unwrap();
        AllowList::parse(&e.text).unwrap();
        let mut want = texts(&old);
        let mut added = Vec::new();
        for n in &new {
            if !added.contains(n) {
                added.push(n.clone());
            }
        }
        want.extend(added.iter().cloned());
        prop_assert_eq!(texts(&e.text), want);
        prop_assert_eq!(&e.changed, &added);
        // The old text is untouched, a prefix of the new one.
        let old_lines: Vec<&str> = old.lines().collect();
        let new_lines: Vec<&str> = e.text.lines().collect();
        prop_assert_eq!(&new_lines[..old_lines.len()], &old_lines[..]);
        // Exactly one note line, and it is a comment.
        prop_assert!(new_lines[old_lines.len()].starts_with('#'));
        prop_assert_eq!(new_lines.len(), old_lines.len() + 1 + added.len());
    }

    #[test]
    fn add_then_remove_gives_the_same_entries_back(old in text(), new in entry()) {
        let before = texts(&old);
        let added = edit::add(&old, std::slice::from_ref(&new), "n").unwrap();
        if added.changed.is_empty() {
            return Ok(());
        }
        let removed = edit::remove(&added.text, std::slice::from_ref(&new), None).unwrap();
        prop_assert_eq!(texts(&removed.text), before);
    }

    #[test]
    fn remove_drops_exactly_the_asked_entries_and_keeps_the_rest(
        old in text(),
        pick in prop::collection::vec(any::<prop::sample::Index>(), 1..4),
    ) {
        let entries = allowlist::entries(&old).unwrap();
        prop_assume!(!entries.is_empty());
        let chosen: Vec<String> = pick.iter().map(|i| i.get(&entries).text.clone()).collect();
        let nets: Vec<_> = chosen.iter().map(|c| edit::parse_one(c).unwrap().net).collect();
        let e = edit::remove(&old, &chosen, Some("gone")).unwrap();
        AllowList::parse(&e.text).unwrap();
        let want: Vec<String> = entries
            .iter()
            .filter(|x| !nets.contains(&x.net))
            .map(|x| x.text.clone())
            .collect();
        prop_assert_eq!(texts(&e.text), want);
        // Every line without a removed entry survives, in order (a subsequence).
        let touched: Vec<usize> = entries.iter().filter(|x| nets.contains(&x.net)).map(|x| x.line).collect();
        let kept: Vec<&str> = old
            .split('\n')
            .enumerate()
            .filter(|(i, _)| !touched.contains(&(i + 1)))
            .map(|(_, l)| l)
            .collect();
        let new_lines: Vec<&str> = e.text.split('\n').collect();
        let mut it = new_lines.iter();
        for k in &kept {
            prop_assert!(it.any(|l| l == k), "line {:?} lost or reordered in {:?}", k, e.text);
        }
    }

    #[test]
    fn a_bad_entry_is_refused(old in text(), bad in prop_oneof![
        Just("10.0.0.1/8".to_owned()), Just("300.1.1.1".to_owned()), Just("10.0.0.0/33".to_owned()),
        Just("a.b".to_owned()), Just("10.0.0.1 10.0.0.2".to_owned()), Just("# x".to_owned()),
    ]) {
        prop_assert!(edit::add(&old, std::slice::from_ref(&bad), "n").is_err());
        prop_assert!(edit::remove(&old, &[bad], None).is_err());
    }
}

#[test]
fn diff_shows_only_changed_lines_with_numbers() {
    let d = edit::diff("a\nb\nc\n", "a\nc\nd\n");
    assert_eq!(d, "-   2 | b\n+   3 | d\n");
}
