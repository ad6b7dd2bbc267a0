//! The respond commands' options, typed: which command, its entries, comment and switches,
//! the targets and the AWS flags, each command holding only what it accepts.
//!
//! It owns what a respond command can be asked and the help text that says so. It must never
//! read argv, call AWS or read the environment: the command line is read once, by
//! [`cli::args`](crate::cli::args), and [`command`](super::command) runs what this holds.

use std::net::IpAddr;
use std::time::Duration;

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
  Every command that writes (allow, revoke, block, unblock): --dry-run prints the change as
  a diff and writes nothing.
  Targets: --stack NAME (outputs of deploy/template.yaml), or --parameter, --ip-set-arn,
  --ip-set-v6-arn, --rule-name, --log-group, --function-name, --service, --web-acl-arn; each as
  VPC_PROXY_OPS_<NAME>. allow, revoke: --in-force-s N (default 60) is how long a change takes
  to be in force.
  AWS: --profile, --region, --endpoint-url, or the usual AWS variables and files.
  Exit: 0 done / admitted, 1 refused or denied (nothing written), 2 usage, 3 concurrent
  change (look again), 4 AWS call failed.
";

/// One respond command with its own options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    TopDenied {
        since: Duration,
        limit: i32,
        json: bool,
    },
    Check {
        ip: IpAddr,
        json: bool,
    },
    List {
        json: bool,
    },
    Allow {
        entries: Vec<String>,
        comment: String,
        dry_run: bool,
        /// `--in-force-s`; else `VPC_PROXY_OPS_IN_FORCE_S`, else 60.
        in_force_s: Option<u64>,
    },
    Revoke {
        entries: Vec<String>,
        comment: Option<String>,
        dry_run: bool,
        in_force_s: Option<u64>,
    },
    Block {
        entries: Vec<String>,
        comment: String,
        force: bool,
        dry_run: bool,
    },
    Unblock {
        entries: Vec<String>,
        comment: Option<String>,
        dry_run: bool,
    },
}

/// A respond command line: the command, and what every respond command accepts (the targets
/// and the AWS flags).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Args {
    pub command: Command,
    pub profile: Option<String>,
    pub region: Option<String>,
    pub endpoint_url: Option<String>,
    /// Target flags (`--parameter` …) as given.
    pub targets: Vec<(&'static str, String)>,
}
