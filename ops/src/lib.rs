//! `vpc-proxy-ops`: the operations kit of vpc-proxy as a library, so the binary and the tests
//! share one implementation.
//!
//! The kit is the files under `dashboards/` and `alarms/` (CloudWatch dashboard bodies,
//! PutMetricAlarm inputs, PutInsightRule inputs) with `${Name}` placeholders. This crate loads
//! them ([`kit`]), fills the placeholders ([`render`]), checks them against the proxy's own
//! metric catalog ([`validate`]), sends them to CloudWatch ([`apply`]) or turns them into a
//! CloudFormation template ([`cloudformation`]); [`respond`] acts on a deny spike (top denied
//! sources, the live allow-list parameter, the WAF block list); [`aws`] is the SDK config and
//! the one-sentence AWS error they share; [`cli`] is the command line on top. It is the only
//! crate of the workspace that links the AWS SDK: the function never depends on it.

pub mod alarm_input;
pub mod apply;
pub mod aws;
pub mod cli;
pub mod cloudformation;
pub mod kit;
pub mod render;
pub mod respond;
pub mod validate;

use std::fmt;

/// A failure of the kit's functions, as a message for the operator (a usage failure, exit 2,
/// once it reaches the command line: see [`Failure`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(pub String);

impl Error {
    pub fn new(message: impl Into<String>) -> Error {
        Error(message.into())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

/// Exit codes: the respond commands document them; the kit commands use 0, 1 (`validate`
/// found problems) and 2.
pub mod exit {
    /// Done (or, for `check`, the address is admitted).
    pub const OK: u8 = 0;
    /// Refused, nothing written (bad entry, admitted address without `--force`, not an
    /// entry); for `check`, the address is denied.
    pub const REFUSED: u8 = 1;
    /// The command line is wrong or a target is not configured.
    pub const USAGE: u8 = 2;
    /// Written, but someone else changed the same list at the same time: look at it.
    pub const CONCURRENT: u8 = 3;
    /// An AWS call failed.
    pub const AWS: u8 = 4;
}

/// A failure of a command: one sentence and its exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl Failure {
    pub fn refused(message: impl Into<String>) -> Failure {
        Failure {
            code: exit::REFUSED,
            message: message.into(),
        }
    }
    pub fn usage(message: impl Into<String>) -> Failure {
        Failure {
            code: exit::USAGE,
            message: message.into(),
        }
    }
    pub fn io(e: std::io::Error) -> Failure {
        Failure {
            code: exit::USAGE,
            message: format!("cannot write output: {e}"),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// A kit command's failure (a kit that does not load or render, a value missing) is a usage
/// failure, as it always was.
impl From<Error> for Failure {
    fn from(e: Error) -> Failure {
        Failure::usage(e.0)
    }
}
