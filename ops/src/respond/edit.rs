//! Text edits of the live allow-list: adding entries with a note, removing exact entries, and
//! the line diff a dry run prints.
//!
//! It owns only text: every entry is read with the function's own parser
//! (`vpc_proxy::allowlist`), so an edit it accepts is a text the function accepts. It must
//! never reorder, reformat or drop a line it was not asked to change (comments and order are
//! the operators' record), never let a note become an entry (newlines are flattened), and
//! never call AWS.

use std::net::IpAddr;

use ipnet::IpNet;
use vpc_proxy::allowlist::{self, AllowList, Entry};

/// Why an edit was refused; nothing is written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    #[error("{0:?} is not an address or CIDR range the function accepts ({1})")]
    BadEntry(String, &'static str),
    #[error("{0:?} holds more than one entry; give one per argument")]
    NotOneEntry(String),
    #[error("the current list does not parse (line {line}: {why}: {entry:?}); fix it first")]
    CurrentInvalid {
        line: usize,
        entry: String,
        why: &'static str,
    },
    #[error("{entry} is not an entry of the list{}", admitted_note(.by))]
    NotAnEntry {
        entry: String,
        by: Option<(usize, String)>,
    },
}

fn admitted_note(by: &Option<(usize, String)>) -> String {
    by.as_ref()
        .map(|(line, text)| {
            format!("; it is admitted by line {line} ({text}), revoke that entry instead")
        })
        .unwrap_or_default()
}

/// One entry given on the command line, read with the function's parser.
pub fn parse_one(arg: &str) -> Result<Entry, EditError> {
    match allowlist::entries(arg) {
        Ok(mut list) if list.len() == 1 => Ok(list.remove(0)),
        Ok(_) => Err(EditError::NotOneEntry(arg.to_owned())),
        Err(e) => Err(EditError::BadEntry(arg.to_owned(), e.why)),
    }
}

/// The entries of the current text, or why the function would refuse it.
pub fn current(text: &str) -> Result<Vec<Entry>, EditError> {
    allowlist::entries(text).map_err(|e| EditError::CurrentInvalid {
        line: e.line,
        entry: e.entry,
        why: e.why,
    })
}

/// The first entry of `entries` that admits `ip` (the one a person should look at).
pub fn deciding(entries: &[Entry], ip: IpAddr) -> Option<&Entry> {
    entries.iter().find(|e| e.admits(ip))
}

/// Does some entry already admit the whole of `net`?
fn covering<'a>(entries: &'a [Entry], net: &IpNet) -> Option<&'a Entry> {
    entries.iter().find(|e| e.net.contains(net))
}

/// A note as one comment line: newlines flattened so it can never become an entry.
pub fn comment_line(note: &str) -> String {
    let flat: String = note
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    format!("# {}", flat.trim())
}

/// The outcome of an edit: the new text (equal to the old when nothing changes) and what was
/// skipped and why, for the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    pub text: String,
    pub changed: Vec<String>,
    pub skipped: Vec<String>,
}

/// Appends `args` (each one entry) after a `# note` line, keeping every existing line as it
/// is. Entries already admitted by the list are skipped and reported, not duplicated.
pub fn add(text: &str, args: &[String], note: &str) -> Result<Edit, EditError> {
    let existing = current(text)?;
    let mut new: Vec<Entry> = Vec::new();
    let mut skipped = Vec::new();
    for arg in args {
        let entry = parse_one(arg)?;
        if let Some(by) = covering(&existing, &entry.net) {
            skipped.push(format!(
                "{} is already admitted by line {} ({})",
                entry.text, by.line, by.text
            ));
        } else if new.iter().any(|n| n.net.contains(&entry.net)) {
            skipped.push(format!("{} is given twice", entry.text));
        } else {
            new.push(entry);
        }
    }
    if new.is_empty() {
        return Ok(Edit {
            text: text.to_owned(),
            changed: Vec::new(),
            skipped,
        });
    }
    let mut out = text.to_owned();
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(&comment_line(note));
    out.push('\n');
    for e in &new {
        out.push_str(&e.text);
        out.push('\n');
    }
    check_parses(&out)?;
    Ok(Edit {
        text: out,
        changed: new.into_iter().map(|e| e.text).collect(),
        skipped,
    })
}

/// Removes the entries equal to `args` (same network: `10.0.0.1` matches `10.0.0.1/32`). A
/// line left without entries goes, with its trailing comment (it described the entry); other
/// lines are untouched. An argument that is not an entry refuses the whole edit. With a
/// note, a `# note` line is appended as the record of the removal.
pub fn remove(text: &str, args: &[String], note: Option<&str>) -> Result<Edit, EditError> {
    let existing = current(text)?;
    let mut targets: Vec<Entry> = Vec::new();
    for arg in args {
        let entry = parse_one(arg)?;
        if !existing.iter().any(|e| e.net == entry.net) {
            let by = existing
                .iter()
                .find(|e| e.net.contains(&entry.net))
                .map(|e| (e.line, e.text.clone()));
            return Err(EditError::NotAnEntry {
                entry: entry.text,
                by,
            });
        }
        targets.push(entry);
    }
    let gone = |e: &Entry| targets.iter().any(|t| t.net == e.net);
    let mut lines: Vec<String> = Vec::new();
    let mut changed = Vec::new();
    for (index, raw) in text.split('\n').enumerate() {
        let on_line: Vec<&Entry> = existing.iter().filter(|e| e.line == index + 1).collect();
        if !on_line.iter().any(|e| gone(e)) {
            lines.push(raw.to_owned());
            continue;
        }
        changed.extend(on_line.iter().filter(|e| gone(e)).map(|e| e.text.clone()));
        let kept: Vec<&str> = on_line
            .iter()
            .filter(|e| !gone(e))
            .map(|e| e.text.as_str())
            .collect();
        if kept.is_empty() {
            continue;
        }
        let (code, comment) = match raw.split_once('#') {
            Some((code, comment)) => (code, Some(comment)),
            None => (raw, None),
        };
        let sep = if code.contains(',') { ", " } else { " " };
        let mut line = kept.join(sep);
        if let Some(comment) = comment {
            line.push_str("  #");
            line.push_str(comment);
        }
        lines.push(line);
    }
    let mut out = lines.join("\n");
    if let Some(note) = note {
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&comment_line(note));
        out.push('\n');
    }
    check_parses(&out)?;
    Ok(Edit {
        text: out,
        changed,
        skipped: Vec::new(),
    })
}

/// The function's own parser has the last word on what is written.
fn check_parses(text: &str) -> Result<(), EditError> {
    AllowList::parse(text)
        .map(|_| ())
        .map_err(|e| EditError::CurrentInvalid {
            line: e.line,
            entry: e.entry,
            why: e.why,
        })
}

/// A line diff of `old` -> `new` (longest common subsequence; lists are a few kilobytes):
/// changed lines only, `-`/`+` with their line numbers.
pub fn diff(old: &str, new: &str) -> String {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    let (n, m) = (a.len(), b.len());
    // lcs[i][j]: common subsequence length of a[i..] and b[j..].
    let mut lcs = vec![vec![0usize; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut out = String::new();
    while i < n || j < m {
        if i < n && j < m && a[i] == b[j] {
            i += 1;
            j += 1;
        } else if j < m && (i == n || lcs[i][j + 1] >= lcs[i + 1][j]) {
            out.push_str(&format!("+{:>4} | {}\n", j + 1, b[j]));
            j += 1;
        } else {
            out.push_str(&format!("-{:>4} | {}\n", i + 1, a[i]));
            i += 1;
        }
    }
    out
}
