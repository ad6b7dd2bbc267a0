//! The `config updated` line: which entries (or, for the secret, which header names) a new
//! value added and removed. It must never log a header's value.

use std::collections::HashSet;

use ipnet::IpNet;

use super::read::{HeadersValue, ListValue};

/// How many added and removed entries the `config updated` line lists.
const DIFF_SHOWN: usize = 20;

pub(super) fn log_list_update(kind: &str, name: &str, old: Option<&ListValue>, new: &ListValue) {
    let old_nets: HashSet<IpNet> = old
        .map(|o| o.entries.iter().map(|e| e.net).collect())
        .unwrap_or_default();
    let new_nets: HashSet<IpNet> = new.entries.iter().map(|e| e.net).collect();
    let added: Vec<&str> = new
        .entries
        .iter()
        .filter(|e| !old_nets.contains(&e.net))
        .map(|e| e.text.as_str())
        .collect();
    let removed: Vec<&str> = old
        .map(|o| {
            o.entries
                .iter()
                .filter(|e| !new_nets.contains(&e.net))
                .map(|e| e.text.as_str())
                .collect()
        })
        .unwrap_or_default();
    tracing::info!(
        source = kind,
        name,
        old_version = old.map(|o| o.version.as_str()),
        new_version = new.version.as_str(),
        old_entries = old.map(|o| o.entries.len() as u64),
        new_entries = new.entries.len() as u64,
        added_count = added.len() as u64,
        removed_count = removed.len() as u64,
        added = first(&added).as_str(),
        removed = first(&removed).as_str(),
        "config updated"
    );
}

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
    let added: Vec<&str> = new_names
        .iter()
        .filter(|n| !old_names.contains(n))
        .copied()
        .collect();
    let removed: Vec<&str> = old_names
        .iter()
        .filter(|n| !new_names.contains(n))
        .copied()
        .collect();
    tracing::info!(
        source = kind,
        name,
        old_version = old.map(|o| o.version.as_str()),
        new_version = new.version.as_str(),
        old_entries = old.map(|o| o.headers.len() as u64),
        new_entries = new.headers.len() as u64,
        added_count = added.len() as u64,
        removed_count = removed.len() as u64,
        added = first(&added).as_str(),
        removed = first(&removed).as_str(),
        "config updated"
    );
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
