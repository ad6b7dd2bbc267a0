//! The respond commands' command line, typed: which command, its entries and comment, the
//! target flags, `--dry-run`, `--json`, and the AWS flags.
//!
//! It owns the flags and their checks (a required `--comment`, one IP for `check`, a sane
//! `--since`). It must never call AWS or read the environment: [`command`](super::command)
//! does that with what this returns.

use std::net::IpAddr;
use std::time::Duration;

use super::top_denied;
use super::{Failure, TARGETS};
use crate::cli::unknown_option;

/// The respond commands' own flags; the targets' flags are in `TARGETS`.
const FLAGS: &[&str] = &[
    "--json",
    "--dry-run",
    "--force",
    "--profile",
    "--region",
    "--endpoint-url",
    "--since",
    "--comment",
    "--limit",
    "--in-force-s",
];

/// The respond commands.
pub const COMMANDS: &[&str] = &[
    "top-denied",
    "check",
    "list",
    "allow",
    "revoke",
    "block",
    "unblock",
];

pub const USAGE: &str = "\
Respond (see the runbook, deny-spike):
  top-denied [--since 1h] [--limit 20] [--json]
                  the most denied sources: counts, first and last seen, admitted or blocked now
  check IP [--json] what the live function decides for IP, the entry that decides it, and WAF
  list [--json]   the live allow-list parameter: entries, comments, version
  allow IP/CIDR... --comment TEXT      add to the allow-list parameter
  revoke IP/CIDR... [--comment TEXT]   remove exact entries from it
  block IP/CIDR... --comment TEXT [--force]   add to the WAF block IP set(s)
  unblock IP/CIDR... [--comment TEXT]  remove from them
  Every command: --dry-run prints the change as a diff and writes nothing.
  Targets: --stack NAME (outputs of deploy/template.yaml), or --parameter, --ip-set-arn,
  --ip-set-v6-arn, --rule-name, --log-group, --function-name, --service, --web-acl-arn; each as
  VPC_PROXY_OPS_<NAME>. --in-force-s N (default 60) is how long a change takes to be in force.
  AWS: --profile, --region, --endpoint-url, or the usual AWS variables and files.
  Exit: 0 done / admitted, 1 refused or denied (nothing written), 2 usage, 3 concurrent
  change (look again), 4 AWS call failed.
";

/// One respond command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    TopDenied {
        since: Duration,
        limit: i32,
    },
    Check {
        ip: IpAddr,
    },
    List,
    Allow {
        entries: Vec<String>,
        comment: String,
    },
    Revoke {
        entries: Vec<String>,
        comment: Option<String>,
    },
    Block {
        entries: Vec<String>,
        comment: String,
        force: bool,
    },
    Unblock {
        entries: Vec<String>,
        comment: Option<String>,
    },
}

/// A respond command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Args {
    pub command: Command,
    pub json: bool,
    pub dry_run: bool,
    pub profile: Option<String>,
    pub region: Option<String>,
    pub endpoint_url: Option<String>,
    pub in_force_s: Option<u64>,
    /// Target flags (`--parameter` …) as given.
    pub targets: Vec<(&'static str, String)>,
}

/// Parses a respond command line (the command first).
pub fn parse(argv: &[String]) -> Result<Args, Failure> {
    let mut it = argv.iter();
    let name = it.next().map(String::as_str).unwrap_or_default();
    let (mut json, mut dry_run, mut force) = (false, false, false);
    let (mut profile, mut region, mut endpoint_url, mut in_force_s) = (None, None, None, None);
    let (mut since, mut limit, mut comment) = (None, None, None);
    let mut targets = Vec::new();
    let mut positional = Vec::new();
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_owned())),
            _ => (arg.as_str(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| it.next().cloned())
                .ok_or_else(|| Failure::usage(format!("{flag} needs a value")))
        };
        match flag {
            "--json" => json = true,
            "--dry-run" => dry_run = true,
            "--force" => force = true,
            "--profile" => profile = Some(value()?),
            "--region" => region = Some(value()?),
            "--endpoint-url" => endpoint_url = Some(value()?),
            "--since" => since = Some(top_denied::parse_since(&value()?)?),
            "--comment" => comment = Some(value()?),
            "--limit" => {
                let v = value()?;
                limit = Some(
                    v.parse::<i32>()
                        .ok()
                        .filter(|n| (1..=100).contains(n))
                        .ok_or_else(|| {
                            Failure::usage(format!("--limit {v:?}: give a number from 1 to 100"))
                        })?,
                );
            }
            "--in-force-s" => {
                let v = value()?;
                in_force_s = Some(v.parse().map_err(|_| {
                    Failure::usage(format!("--in-force-s {v:?}: give a number of seconds"))
                })?);
            }
            f if f.starts_with("--") => {
                let Some(t) = TARGETS.iter().find(|t| t.flag == f) else {
                    let known = FLAGS.iter().copied().chain(TARGETS.iter().map(|t| t.flag));
                    let context = format!(" for {name}");
                    return Err(Failure::usage(unknown_option(f, known, &context)));
                };
                targets.push((t.flag, value()?));
            }
            _ => positional.push(arg.clone()),
        }
    }
    let need_entries = |p: &[String]| {
        if p.is_empty() {
            Err(Failure::usage(format!("{name} needs at least one IP/CIDR")))
        } else {
            Ok(p.to_vec())
        }
    };
    let need_comment = |c: Option<String>| {
        c.filter(|c| !c.trim().is_empty()).ok_or_else(|| {
            Failure::usage(format!(
                "{name} needs --comment TEXT: who asked and why, for the record"
            ))
        })
    };
    let none_positional = |p: &[String]| match p.first() {
        Some(x) => Err(Failure::usage(format!(
            "unexpected argument {x:?} for {name}"
        ))),
        None => Ok(()),
    };
    let command = match name {
        "top-denied" => {
            none_positional(&positional)?;
            Command::TopDenied {
                since: since.unwrap_or(Duration::from_secs(3600)),
                limit: limit.unwrap_or(20),
            }
        }
        "check" => {
            let [ip] = positional.as_slice() else {
                return Err(Failure::usage("check needs exactly one IP address"));
            };
            let ip = ip
                .parse()
                .map_err(|_| Failure::usage(format!("{ip:?} is not an IP address")))?;
            Command::Check { ip }
        }
        "list" => {
            none_positional(&positional)?;
            Command::List
        }
        "allow" => Command::Allow {
            entries: need_entries(&positional)?,
            comment: need_comment(comment)?,
        },
        "revoke" => Command::Revoke {
            entries: need_entries(&positional)?,
            comment,
        },
        "block" => Command::Block {
            entries: need_entries(&positional)?,
            comment: need_comment(comment)?,
            force,
        },
        "unblock" => Command::Unblock {
            entries: need_entries(&positional)?,
            comment,
        },
        other => {
            return Err(Failure::usage(format!(
                "{other:?} is not a respond command"
            )));
        }
    };
    Ok(Args {
        command,
        json,
        dry_run,
        profile,
        region,
        endpoint_url,
        in_force_s,
        targets,
    })
}
