//! The `config updated` line: which entries (or, for the secret, which header names) a new
//! value added and removed. It must never log a header's value.

use std::collections::HashSet;

use ipnet::IpNet;

use super::read::{HeadersValue, ListValue};

/// How many added and removed entries the `config updated` line lists.
const DIFF_SHOWN: usize = 20;

/// One `config updated` line: the versions, the entry counts and what was added and removed.
struct Update<'a> {
    old_version: Option<&'a str>,
    new_version: &'a str,
    old_entries: Option<usize>,
    new_entries: usize,
    added: Vec<&'a str>,
    removed: Vec<&'a str>,
}

impl Update<'_> {
    fn log(&self, kind: &str, name: &str) {
        tracing::info!(
            source = kind,
            name,
            old_version = self.old_version,
            new_version = self.new_version,
            old_entries = self.old_entries.map(|n| n as u64),
            new_entries = self.new_entries as u64,
            added_count = self.added.len() as u64,
            removed_count = self.removed.len() as u64,
            added = first(&self.added).as_str(),
            removed = first(&self.removed).as_str(),
            "config updated"
        );
    }
}

/// An allow-list changed: entries compare as networks, and are shown as they were written.
pub(super) fn log_list_update(kind: &str, name: &str, old: Option<&ListValue>, new: &ListValue) {
    let old_nets: HashSet<IpNet> = old
        .map(|o| o.entries.iter().map(|e| e.net).collect())
        .unwrap_or_default();
    let new_nets: HashSet<IpNet> = new.entries.iter().map(|e| e.net).collect();
    Update {
        old_version: old.map(|o| o.version.as_str()),
        new_version: &new.version,
        old_entries: old.map(|o| o.entries.len()),
        new_entries: new.entries.len(),
        added: new
            .entries
            .iter()
            .filter(|e| !old_nets.contains(&e.net))
            .map(|e| e.text.as_str())
            .collect(),
        removed: old
            .map(|o| {
                o.entries
                    .iter()
                    .filter(|e| !new_nets.contains(&e.net))
                    .map(|e| e.text.as_str())
                    .collect()
            })
            .unwrap_or_default(),
    }
    .log(kind, name);
}

/// The secret changed: header names only, never a value.
pub(super) fn log_headers_update(
    kind: &str,
    name: &str,
    old: Option<&HeadersValue>,
    new: &HeadersValue,
) {
    let old_names: Vec<&str> = old
        .map(|o| o.headers.names().map(|n| n.as_str()).collect())
        .unwrap_or_default();
    let new_names: Vec<&str> = new.headers.names().map(|n| n.as_str()).collect();
    Update {
        old_version: old.map(|o| o.version.as_str()),
        new_version: &new.version,
        old_entries: old.map(|o| o.headers.len()),
        new_entries: new.headers.len(),
        added: new_names
            .iter()
            .filter(|n| !old_names.contains(n))
            .copied()
            .collect(),
        removed: old_names
            .iter()
            .filter(|n| !new_names.contains(n))
            .copied()
            .collect(),
    }
    .log(kind, name);
}

/// The first `DIFF_SHOWN` items, comma-separated (the counts say how many there were).
fn first(items: &[&str]) -> String {
    items
        .iter()
        .take(DIFF_SHOWN)
        .copied()
        .collect::<Vec<_>>()
        .join(",")
}
