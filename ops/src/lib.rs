//! `vpc-proxy-ops`: the operations kit of vpc-proxy as a library, so the binary and the tests
//! share one implementation.
//!
//! The kit is the files under `dashboards/` and `alarms/` (CloudWatch dashboard bodies,
//! PutMetricAlarm inputs, PutInsightRule inputs) with `${Name}` placeholders. This crate loads
//! them ([`kit`]), fills the placeholders ([`render`]), checks them against the proxy's own
//! metric catalog ([`validate`]), sends them to CloudWatch ([`apply`]) or turns them into a
//! CloudFormation template ([`cloudformation`]); [`respond`] acts on a deny spike (top denied
//! sources, the live allow-list parameter, the WAF block list); [`cli`] is the command line on
//! top. It is the only crate of the workspace that links the AWS SDK: the function never
//! depends on it.

pub mod alarm_input;
pub mod apply;
pub mod cli;
pub mod cloudformation;
pub mod kit;
pub mod render;
pub mod respond;
pub mod validate;

use std::fmt;

/// Every failure of the tool, as a message for the operator.
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
