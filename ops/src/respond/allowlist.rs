//! `list`, `check`, `allow`, `revoke`: the live allow-list parameter in SSM.
//!
//! It owns the read, the write and the read-back: SSM has no compare-and-swap, so after
//! `PutParameter` the version it returns is compared with the version read before (someone
//! wrote in between: their entries our write dropped are named) and with a fresh read
//! (someone wrote after). It must never write a text the function's parser refuses, never
//! write on a dry run or a refused edit, and never keep quiet about a concurrent writer.

use std::io::Write;
use std::net::IpAddr;

use serde_json::json;
use vpc_proxy::allowlist::Entry;

use super::edit::{self, Edit};
use super::{Failure, aws, exit};

/// The parameter as read: name, text, version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Current {
    pub name: String,
    pub text: String,
    pub version: i64,
}

/// `GetParameter` (decrypted: a `SecureString` list reads the same way). `name` may carry a
/// `:version` selector.
pub async fn read(ssm: &aws_sdk_ssm::Client, name: &str) -> Result<Current, Failure> {
    let out = ssm
        .get_parameter()
        .name(name)
        .with_decryption(true)
        .send()
        .await
        .map_err(|e| aws(&format!("reading parameter {name}"), e))?;
    let p = out
        .parameter()
        .ok_or_else(|| Failure::usage(format!("parameter {name}: SSM returned no parameter")))?;
    Ok(Current {
        name: p.name().unwrap_or(name).to_owned(),
        text: p.value().unwrap_or_default().to_owned(),
        version: p.version(),
    })
}

/// `list`: the entries, comments and version, as the text with line numbers (or JSON).
pub async fn list(
    ssm: &aws_sdk_ssm::Client,
    name: &str,
    json_out: bool,
    out: &mut impl Write,
) -> Result<u8, Failure> {
    let cur = read(ssm, name).await?;
    let entries = edit::current(&cur.text);
    if json_out {
        let value = json!({
            "parameter": cur.name,
            "version": cur.version,
            "entries": entries.as_ref().map(|es| es.iter().map(|e| json!({"line": e.line, "entry": e.text})).collect::<Vec<_>>()).unwrap_or_default(),
            "error": entries.as_ref().err().map(|e| e.to_string()),
            "text": cur.text,
        });
        writeln!(out, "{value}").map_err(Failure::io)?;
    } else {
        let count = match &entries {
            Ok(es) => format!("{} entries", es.len()),
            Err(e) => format!("DOES NOT PARSE: {e}"),
        };
        writeln!(out, "{} version {}: {count}", cur.name, cur.version).map_err(Failure::io)?;
        for (i, line) in cur.text.lines().enumerate() {
            writeln!(out, "{:>4} | {line}", i + 1).map_err(Failure::io)?;
        }
    }
    Ok(if entries.is_ok() {
        exit::OK
    } else {
        exit::REFUSED
    })
}

/// What `check` found for one address in the list.
pub fn decide(entries: &[Entry], ip: IpAddr) -> Option<&Entry> {
    edit::deciding(entries, ip)
}

/// When a write is in force everywhere, for the operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InForce {
    /// Extension cache TTL + `PROXY_CONFIG_REFRESH_S` (60 s in the shipped template).
    pub within_s: u64,
}

/// An allow-list change to make: the edit and how it is described.
pub enum Change<'a> {
    Allow {
        args: &'a [String],
        note: String,
    },
    Revoke {
        args: &'a [String],
        note: Option<String>,
    },
}

/// What a write did, for the report and the tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub before: i64,
    pub after: Option<i64>,
    pub edit: Edit,
}

/// `allow` / `revoke`: read, edit with the function's parser, print the diff, and unless a
/// dry run write it, then read back. Returns the exit code.
pub async fn change(
    ssm: &aws_sdk_ssm::Client,
    name: &str,
    change: Change<'_>,
    dry_run: bool,
    in_force: InForce,
    now: std::time::SystemTime,
    out: &mut impl Write,
) -> Result<(u8, Written), Failure> {
    let cur = read(ssm, name).await?;
    let edit = match &change {
        Change::Allow { args, note } => edit::add(&cur.text, args, note)?,
        Change::Revoke { args, note } => edit::remove(&cur.text, args, note.as_deref())?,
    };
    for s in &edit.skipped {
        writeln!(out, "skipped: {s}").map_err(Failure::io)?;
    }
    let mut written = Written {
        before: cur.version,
        after: None,
        edit: edit.clone(),
    };
    if edit.text == cur.text {
        writeln!(
            out,
            "{} version {}: nothing to change",
            cur.name, cur.version
        )
        .map_err(Failure::io)?;
        return Ok((exit::OK, written));
    }
    writeln!(out, "--- {} version {}", cur.name, cur.version).map_err(Failure::io)?;
    writeln!(out, "+++ {} (new)", cur.name).map_err(Failure::io)?;
    write!(out, "{}", edit::diff(&cur.text, &edit.text)).map_err(Failure::io)?;
    if dry_run {
        writeln!(out, "dry run: nothing was written").map_err(Failure::io)?;
        return Ok((exit::OK, written));
    }
    // The name GetParameter answered with: `--parameter` may be an ARN, which reads but does
    // not write. Overwrite keeps the parameter's type, key and tier: none of them is sent.
    let name = cur.name.as_str();
    let put = ssm
        .put_parameter()
        .name(name)
        .value(&edit.text)
        .overwrite(true)
        .send()
        .await
        .map_err(|e| aws(&format!("writing parameter {name}"), e))?;
    let version = put.version();
    written.after = Some(version);
    let mut code = exit::OK;
    if version != cur.version + 1 {
        // Someone wrote between our read and our write: our text replaced theirs. Name what
        // theirs had that ours does not, so nothing is lost silently.
        let theirs = read(ssm, &format!("{name}:{}", version - 1)).await?;
        let lost = dropped(&theirs.text, &edit.text);
        writeln!(
            out,
            "CONCURRENT CHANGE: version {} was written by someone else after we read version {}; our version {version} replaced it{}",
            version - 1,
            cur.version,
            if lost.is_empty() {
                " (it held no entry we dropped)".to_owned()
            } else {
                format!("; entries it had that are now gone: {}", lost.join(", "))
            }
        )
        .map_err(Failure::io)?;
        code = exit::CONCURRENT;
    }
    let back = read(ssm, name).await?;
    if back.version != version || back.text != edit.text {
        writeln!(
            out,
            "CONCURRENT CHANGE: the parameter is at version {} now, not our {version}: someone wrote after us; check it with `vpc-proxy-ops list`",
            back.version
        )
        .map_err(Failure::io)?;
        code = exit::CONCURRENT;
    }
    let at = super::today_time(now + std::time::Duration::from_secs(in_force.within_s));
    writeln!(
        out,
        "written: {name} version {version}; in force everywhere by {at} (within {} s); summary lines then show allowlist_version {version}",
        in_force.within_s
    )
    .map_err(Failure::io)?;
    Ok((code, written))
}

/// Entries of `theirs` that `ours` does not have (by network).
fn dropped(theirs: &str, ours: &str) -> Vec<String> {
    let (Ok(theirs), Ok(ours)) = (edit::current(theirs), edit::current(ours)) else {
        return Vec::new();
    };
    theirs
        .into_iter()
        .filter(|t| !ours.iter().any(|o| o.net == t.net))
        .map(|t| t.text)
        .collect()
}
