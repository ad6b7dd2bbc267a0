//! Runs one respond command: resolve the targets, call [`allowlist`](super::allowlist),
//! [`waf`](super::waf) or [`top_denied`](super::top_denied), print, return the exit code.
//!
//! It owns the order of the AWS calls of each command. It must never edit text or build an
//! AWS request itself; it must never write on `--dry-run`.

use std::io::Write;
use std::time::{Duration, SystemTime};

use aws_sdk_ssm::primitives::DateTime;
use vpc_proxy::allowlist::Entry;

use super::allowlist::{self, Change, InForce};
pub use super::args::{Args, Command, USAGE};
use super::top_denied;
use super::waf::{self, IpSetRef, Op};
use super::{Clients, Failure, Resolver, edit, exit};

/// The allow-list entries of the configured parameter, or `None` when none is configured.
async fn allow_entries(
    clients: &Clients,
    resolver: &mut Resolver<'_>,
) -> Result<Option<(String, i64, Vec<Entry>)>, Failure> {
    let Some(name) = resolver.get(super::PARAMETER).await? else {
        return Ok(None);
    };
    let cur = allowlist::read(&clients.ssm, &name).await?;
    let entries = edit::current(&cur.text)?;
    Ok(Some((cur.name, cur.version, entries)))
}

/// The configured IP sets: IPv4 (if any) and IPv6 (if any).
async fn ip_sets(
    resolver: &mut Resolver<'_>,
) -> Result<(Option<IpSetRef>, Option<IpSetRef>), Failure> {
    let v4 = match resolver.get(super::IP_SET).await? {
        Some(a) => Some(IpSetRef::parse(&a)?),
        None => None,
    };
    let v6 = match resolver.get(super::IP_SET_V6).await? {
        Some(a) => Some(IpSetRef::parse(&a)?),
        None => None,
    };
    Ok((v4, v6))
}

/// Every address the configured sets block now.
async fn blocked(clients: &Clients, resolver: &mut Resolver<'_>) -> Result<Vec<String>, Failure> {
    let (v4, v6) = ip_sets(resolver).await?;
    let mut out = Vec::new();
    for set in [v4, v6].into_iter().flatten() {
        out.extend(waf::get(&clients.waf, &set).await?.addresses);
    }
    Ok(out)
}

/// Runs one respond command; returns the exit code.
pub async fn run(
    args: &Args,
    clients: &Clients,
    env: &dyn Fn(&str) -> Option<String>,
    now: SystemTime,
    out: &mut impl Write,
) -> Result<u8, Failure> {
    let mut resolver = Resolver::new(
        args.targets.clone(),
        env,
        Some(clients.cloudformation.clone()),
    );
    let in_force = |given: &Option<u64>| InForce {
        within_s: given
            .or_else(|| env("VPC_PROXY_OPS_IN_FORCE_S").and_then(|v| v.parse().ok()))
            .unwrap_or(60),
    };
    match &args.command {
        Command::List { json } => {
            let name = resolver.require(super::PARAMETER).await?;
            allowlist::list(&clients.ssm, &name, *json, out).await
        }
        Command::Check { ip, json } => {
            let name = resolver.require(super::PARAMETER).await?;
            let cur = allowlist::read(&clients.ssm, &name).await?;
            let entries = edit::current(&cur.text).map_err(|e| {
                Failure::refused(format!(
                    "{e}; until then the function keeps its last good list"
                ))
            })?;
            let by = allowlist::decide(&entries, *ip);
            let blocked_by = waf::blocked_by(&blocked(clients, &mut resolver).await?, *ip);
            if *json {
                let v = serde_json::json!({
                    "ip": ip.to_string(), "parameter": cur.name, "version": cur.version,
                    "decision": if by.is_some() { "allow" } else { "deny" },
                    "entry": by.map(|e| serde_json::json!({"line": e.line, "entry": e.text})),
                    "blocked": blocked_by.is_some(), "blocked_by": blocked_by,
                });
                writeln!(out, "{v}").map_err(Failure::io)?;
            } else {
                match by {
                    Some(e) => writeln!(
                        out,
                        "{ip}: allow, by line {} ({}) of {} version {}",
                        e.line, e.text, cur.name, cur.version
                    ),
                    None => writeln!(
                        out,
                        "{ip}: deny, no entry of {} version {} admits it",
                        cur.name, cur.version
                    ),
                }
                .map_err(Failure::io)?;
                if let Some(b) = &blocked_by {
                    writeln!(
                        out,
                        "{ip}: blocked at WAF by {b}: its requests never reach the function"
                    )
                    .map_err(Failure::io)?;
                }
            }
            Ok(if by.is_some() && blocked_by.is_none() {
                exit::OK
            } else {
                exit::REFUSED
            })
        }
        Command::Allow {
            entries,
            comment,
            dry_run,
            in_force_s,
        } => {
            let name = resolver.require(super::PARAMETER).await?;
            let who = super::caller(&clients.sts).await?;
            let note = super::note(&super::today(now), &who, comment);
            let change = Change::Allow {
                args: entries,
                note,
            };
            Ok(allowlist::change(
                &clients.ssm,
                &name,
                change,
                *dry_run,
                in_force(in_force_s),
                now,
                out,
            )
            .await?
            .0)
        }
        Command::Revoke {
            entries,
            comment,
            dry_run,
            in_force_s,
        } => {
            let name = resolver.require(super::PARAMETER).await?;
            let note = match comment {
                Some(c) => {
                    let who = super::caller(&clients.sts).await?;
                    Some(super::note(
                        &super::today(now),
                        &who,
                        &format!("revoked {}: {c}", entries.join(" ")),
                    ))
                }
                None => None,
            };
            let change = Change::Revoke {
                args: entries,
                note,
            };
            Ok(allowlist::change(
                &clients.ssm,
                &name,
                change,
                *dry_run,
                in_force(in_force_s),
                now,
                out,
            )
            .await?
            .0)
        }
        Command::Block {
            entries,
            comment,
            force,
            dry_run,
        } => {
            let (v4, v6) = waf::parse_args(entries)?;
            let (set4, set6) = ip_sets(&mut resolver).await?;
            if !force {
                let Some((pname, version, allow)) = allow_entries(clients, &mut resolver).await?
                else {
                    return Err(Failure::usage(
                        "block checks the allow-list first: give --parameter (or --stack), or --force to skip the check",
                    ));
                };
                for net in v4.iter().chain(&v6) {
                    if let Some(e) = waf::overlaps(&allow, net) {
                        return Err(Failure::refused(format!(
                            "{net} is admitted by line {} ({}) of {pname} version {version}; revoke it first, or block anyway with --force; nothing was written",
                            e.line, e.text
                        )));
                    }
                }
            }
            if resolver.has_stack() && resolver.get(super::WEB_ACL).await?.is_none() {
                writeln!(
                    out,
                    "note: the stack has no web ACL (WebAclArn): the IP set is not enforced until it is deployed with Waf=true"
                )
                .map_err(Failure::io)?;
            }
            let who = super::caller(&clients.sts).await?;
            let note = super::note(
                &super::today(now),
                &who,
                &format!("block {}: {comment}", entries.join(" ")),
            );
            waf_op(
                clients,
                Op::Block,
                (&v4, set4),
                (&v6, set6),
                &note,
                *dry_run,
                out,
            )
            .await
        }
        Command::Unblock {
            entries,
            comment,
            dry_run,
        } => {
            let (v4, v6) = waf::parse_args(entries)?;
            let (set4, set6) = ip_sets(&mut resolver).await?;
            let who = super::caller(&clients.sts).await?;
            let why = comment
                .as_deref()
                .map(|c| format!(": {c}"))
                .unwrap_or_default();
            let note = super::note(
                &super::today(now),
                &who,
                &format!("unblock {}{why}", entries.join(" ")),
            );
            waf_op(
                clients,
                Op::Unblock,
                (&v4, set4),
                (&v6, set6),
                &note,
                *dry_run,
                out,
            )
            .await
        }
        Command::TopDenied { since, limit, json } => {
            top(clients, &mut resolver, *since, *limit, *json, now, out).await
        }
    }
}

async fn waf_op(
    clients: &Clients,
    op: Op,
    v4: (&[ipnet::IpNet], Option<IpSetRef>),
    v6: (&[ipnet::IpNet], Option<IpSetRef>),
    note: &str,
    dry_run: bool,
    out: &mut impl Write,
) -> Result<u8, Failure> {
    // Check both families before touching either, so a missing IPv6 set writes nothing.
    for ((nets, set), (family, target)) in [
        (&v4, ("IPv4", super::IP_SET)),
        (&v6, ("IPv6", super::IP_SET_V6)),
    ] {
        if !nets.is_empty() && set.is_none() {
            return Err(Failure::usage(format!(
                "{family} addresses given but no {family} IP set: give {} ARN, set {}, or --stack (output {}); nothing was written",
                target.flag, target.env, target.output
            )));
        }
    }
    let mut any = false;
    for (nets, set) in [v4, v6] {
        if let (false, Some(set)) = (nets.is_empty(), set) {
            any |= waf::apply(&clients.waf, &set, op, nets, note, dry_run, out).await?;
        }
    }
    let msg = match (any, dry_run) {
        (false, _) => "nothing to change",
        (true, true) => "dry run: nothing was written",
        (true, false) => {
            "written: WAF applies an IP set change within about a minute; verify with `vpc-proxy-ops check IP` and the dashboard's WAF widget"
        }
    };
    writeln!(out, "{msg}").map_err(Failure::io)?;
    Ok(exit::OK)
}

async fn top(
    clients: &Clients,
    resolver: &mut Resolver<'_>,
    since: Duration,
    limit: i32,
    json: bool,
    now: SystemTime,
    out: &mut impl Write,
) -> Result<u8, Failure> {
    let end_s = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0) as i64;
    // Whole minutes: the report's datapoints are aligned to its period.
    let end = DateTime::from_secs(end_s - end_s % 60 + 60);
    let start = DateTime::from_secs(end.secs() - since.as_secs() as i64);
    let mut found = None;
    let mut heading = String::new();
    if let Some(rule) = resolver.rule_name().await?
        && let Some(s) =
            top_denied::from_insights(&clients.cloudwatch, &rule, start, end, since, limit).await?
    {
        heading = format!("Contributor Insights rule {rule}");
        found = Some(s);
    }
    let mut sources = match found {
        Some(s) => s,
        None => {
            let group = resolver.log_group().await?.ok_or_else(|| {
                Failure::usage("no Contributor Insights rule found and no log group to query: give --rule-name, --service, --log-group, --function-name or --stack")
            })?;
            heading = format!("Logs Insights over {group}");
            top_denied::from_logs(
                &clients.logs,
                &group,
                start,
                end,
                limit,
                Duration::from_secs(1),
            )
            .await?
        }
    };
    let allow = allow_entries(clients, resolver).await?;
    let blocked = blocked(clients, resolver).await?;
    let entries = allow.as_ref().map(|(_, _, e)| e.as_slice());
    top_denied::annotate(&mut sources, entries, &blocked);
    if json {
        let v = top_denied::render_json(&sources, &heading, since.as_secs());
        writeln!(out, "{v}").map_err(Failure::io)?;
    } else {
        let list = match &allow {
            Some((name, version, _)) => format!("allow-list {name} version {version}"),
            None => "no allow-list parameter given: ALLOW-LIST NOW is not known".to_owned(),
        };
        top_denied::render_text(
            &sources,
            &format!(
                "Top denied sources, last {}s, from {heading}; {list}",
                since.as_secs()
            ),
            out,
        )?;
    }
    Ok(exit::OK)
}
