//! `block` / `unblock`: the WAF IP sets the web ACL blocks (one for IPv4, optionally one for
//! IPv6), and the "is it blocked" answer `check` and `top-denied` give.
//!
//! It owns the optimistic-locking exchange: `GetIPSet` for the addresses and the lock token,
//! `UpdateIPSet` with the whole new list and that token, again from the read on
//! `WAFOptimisticLockException`. It must never send an update built from a stale read, never
//! block what the allow-list admits unless forced (the caller decides, [`overlaps`] answers),
//! and never send anything on a dry run.

use std::io::Write;
use std::net::IpAddr;

use aws_sdk_wafv2::types::Scope;
use ipnet::IpNet;
use vpc_proxy::allowlist::Entry;

use super::edit;
use super::{Failure, aws, exit};

/// How many times an update is tried when another writer keeps changing the set.
pub const ATTEMPTS: usize = 5;

/// An IP set named by its ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpSetRef {
    pub arn: String,
    pub name: String,
    pub id: String,
    pub scope: Scope,
}

impl IpSetRef {
    /// `arn:aws:wafv2:REGION:ACCOUNT:regional/ipset/NAME/ID` (or `global/…` for CloudFront).
    pub fn parse(arn: &str) -> Result<IpSetRef, Failure> {
        let bad = || {
            Failure::usage(format!(
                "{arn:?} is not a WAF IP set ARN (arn:aws:wafv2:REGION:ACCOUNT:regional/ipset/NAME/ID)"
            ))
        };
        let resource = arn.splitn(6, ':').nth(5).ok_or_else(bad)?;
        let parts: Vec<&str> = resource.split('/').collect();
        let [scope, "ipset", name, id] = parts.as_slice() else {
            return Err(bad());
        };
        let scope = match *scope {
            "regional" => Scope::Regional,
            "global" => Scope::Cloudfront,
            _ => return Err(bad()),
        };
        Ok(IpSetRef {
            arn: arn.to_owned(),
            name: (*name).to_owned(),
            id: (*id).to_owned(),
            scope,
        })
    }
}

/// A set as read: its addresses (CIDR text, as WAF holds them), lock token and description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpSet {
    pub addresses: Vec<String>,
    pub lock_token: String,
    pub description: Option<String>,
}

pub async fn get(waf: &aws_sdk_wafv2::Client, set: &IpSetRef) -> Result<IpSet, Failure> {
    let out = waf
        .get_ip_set()
        .name(&set.name)
        .id(&set.id)
        .scope(set.scope.clone())
        .send()
        .await
        .map_err(|e| aws(&format!("reading WAF IP set {}", set.name), e))?;
    let ip_set = out.ip_set();
    Ok(IpSet {
        addresses: ip_set.map(|s| s.addresses().to_vec()).unwrap_or_default(),
        lock_token: out.lock_token().unwrap_or_default().to_owned(),
        description: ip_set.and_then(|s| s.description()).map(str::to_owned),
    })
}

/// The set's entry that covers `ip`, if any.
pub fn blocked_by(addresses: &[String], ip: IpAddr) -> Option<String> {
    addresses
        .iter()
        .find(|a| {
            a.parse::<IpNet>()
                .is_ok_and(|n| n.contains(&ip.to_canonical()))
        })
        .cloned()
}

/// The allow-list entry that overlaps `net` (admits part or all of it), if any.
pub fn overlaps<'a>(allow: &'a [Entry], net: &IpNet) -> Option<&'a Entry> {
    allow
        .iter()
        .find(|e| e.net.contains(net) || net.contains(&e.net))
}

/// The description WAF keeps: the note of the last change, in the characters WAF accepts
/// (letters, digits, `_+=:#@/-,.` and spaces), at most 256.
pub fn description(note: &str) -> String {
    let clean: String = note
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_+=:#@/-,. ".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    clean
        .trim()
        .chars()
        .take(256)
        .collect::<String>()
        .trim()
        .to_owned()
}

/// Block or unblock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Block,
    Unblock,
}

/// Applies `op` for `nets` (all of one family) to `set`; prints the diff; returns whether an
/// update was sent (or would be, on a dry run).
pub async fn apply(
    waf: &aws_sdk_wafv2::Client,
    set: &IpSetRef,
    op: Op,
    nets: &[IpNet],
    note: &str,
    dry_run: bool,
    out: &mut impl Write,
) -> Result<bool, Failure> {
    for attempt in 1..=ATTEMPTS {
        let cur = get(waf, set).await?;
        let held: Vec<Option<IpNet>> = cur.addresses.iter().map(|a| a.parse().ok()).collect();
        let mut next = cur.addresses.clone();
        let mut lines = Vec::new();
        match op {
            Op::Block => {
                for net in nets {
                    if let Some(by) = held.iter().flatten().find(|h| h.contains(net)) {
                        writeln!(
                            out,
                            "skipped: {net} is already blocked by {by} in {}",
                            set.name
                        )
                        .map_err(Failure::io)?;
                    } else {
                        next.push(net.to_string());
                        lines.push(format!("+ {net}"));
                    }
                }
            }
            Op::Unblock => {
                for net in nets {
                    let before = next.len();
                    next.retain(|a| a.parse::<IpNet>().ok().as_ref() != Some(net));
                    if next.len() == before {
                        return Err(Failure::refused(format!(
                            "{net} is not in WAF IP set {}; nothing was written",
                            set.name
                        )));
                    }
                    lines.push(format!("- {net}"));
                }
            }
        }
        if lines.is_empty() {
            return Ok(false);
        }
        writeln!(
            out,
            "WAF IP set {} ({} addresses):",
            set.name,
            cur.addresses.len()
        )
        .map_err(Failure::io)?;
        for l in &lines {
            writeln!(out, "{l}").map_err(Failure::io)?;
        }
        if dry_run {
            return Ok(true);
        }
        let sent = waf
            .update_ip_set()
            .name(&set.name)
            .id(&set.id)
            .scope(set.scope.clone())
            .set_addresses(Some(next))
            .description(description(note))
            .lock_token(&cur.lock_token)
            .send()
            .await;
        match sent {
            Ok(_) => return Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_waf_optimistic_lock_exception()) =>
            {
                if attempt == ATTEMPTS {
                    break;
                }
                writeln!(
                    out,
                    "someone else changed {} meanwhile; reading it again",
                    set.name
                )
                .map_err(Failure::io)?;
            }
            Err(e) => return Err(aws(&format!("updating WAF IP set {}", set.name), e)),
        }
    }
    Err(Failure {
        code: exit::CONCURRENT,
        message: format!(
            "WAF IP set {} kept changing under us ({ATTEMPTS} tries); nothing was written",
            set.name
        ),
    })
}

/// The networks of `args`, read with the function's parser, split by family.
pub fn parse_args(args: &[String]) -> Result<(Vec<IpNet>, Vec<IpNet>), Failure> {
    let mut v4 = Vec::new();
    let mut v6 = Vec::new();
    for a in args {
        let e = edit::parse_one(a)?;
        match e.net {
            IpNet::V4(_) => v4.push(e.net),
            IpNet::V6(_) => v6.push(e.net),
        }
    }
    Ok((v4, v6))
}
