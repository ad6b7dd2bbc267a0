//! The respond commands (`top-denied`, `check`, `list`, `allow`, `revoke`, `block`,
//! `unblock`): from a deny-spike page to a decision and an action.
//!
//! This module owns what every respond command shares: where the allow-list parameter, the
//! WAF IP sets, the Contributor Insights rule and the log group are (flag, then
//! `VPC_PROXY_OPS_<NAME>`, then the stack's outputs), the AWS clients, and the failures with
//! the exit codes scripts rely on. The commands live in [`allowlist`], [`waf`] and
//! [`top_denied`]; the text edits in [`edit`]. It must never print an SDK debug dump: an AWS
//! failure is one sentence with the error code and message.

pub mod allowlist;
pub mod args;
pub mod command;
pub mod edit;
pub mod top_denied;
pub mod waf;

use std::fmt;

use aws_sdk_cloudformation::error::ProvideErrorMetadata;
use aws_sdk_ssm::error::SdkError;
use aws_sdk_ssm::primitives::{DateTime, DateTimeFormat};

pub use crate::{Failure, exit};

impl From<edit::EditError> for Failure {
    fn from(e: edit::EditError) -> Failure {
        Failure::refused(format!("{e}; nothing was written"))
    }
}

/// An SDK error as one sentence ([`crate::aws::sentence`]) with the exit code of an AWS failure.
pub fn aws<E, R>(what: &str, err: SdkError<E, R>) -> Failure
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: fmt::Debug,
{
    Failure {
        code: exit::AWS,
        message: crate::aws::sentence(what, &err),
    }
}

/// The AWS clients the respond commands use, built from one SDK config (credentials, region,
/// `--profile`, `--endpoint-url` found the usual way) or handed in by tests.
#[derive(Clone, Debug)]
pub struct Clients {
    pub ssm: aws_sdk_ssm::Client,
    pub waf: aws_sdk_wafv2::Client,
    pub sts: aws_sdk_sts::Client,
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    pub logs: aws_sdk_cloudwatchlogs::Client,
    pub cloudformation: aws_sdk_cloudformation::Client,
}

impl Clients {
    pub fn new(config: &aws_config::SdkConfig) -> Clients {
        Clients {
            ssm: aws_sdk_ssm::Client::new(config),
            waf: aws_sdk_wafv2::Client::new(config),
            sts: aws_sdk_sts::Client::new(config),
            cloudwatch: aws_sdk_cloudwatch::Client::new(config),
            logs: aws_sdk_cloudwatchlogs::Client::new(config),
            cloudformation: aws_sdk_cloudformation::Client::new(config),
        }
    }
}

/// One thing a respond command acts on, with the flag, the variable and the stack output that
/// name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    pub flag: &'static str,
    pub env: &'static str,
    pub output: &'static str,
    pub help: &'static str,
}

pub const PARAMETER: Target = Target {
    flag: "--parameter",
    env: "VPC_PROXY_OPS_PARAMETER",
    output: "AllowListParameterName",
    help: "the allow-list SSM parameter (name or ARN)",
};
pub const IP_SET: Target = Target {
    flag: "--ip-set-arn",
    env: "VPC_PROXY_OPS_IP_SET_ARN",
    output: "BlockIpSetV4Arn",
    help: "the WAF IP set for IPv4 blocks",
};
pub const IP_SET_V6: Target = Target {
    flag: "--ip-set-v6-arn",
    env: "VPC_PROXY_OPS_IP_SET_V6_ARN",
    output: "BlockIpSetV6Arn",
    help: "the WAF IP set for IPv6 blocks (optional)",
};
pub const RULE: Target = Target {
    flag: "--rule-name",
    env: "VPC_PROXY_OPS_RULE_NAME",
    output: "ContributorInsightsRuleName",
    help: "the Contributor Insights rule over denies (default: <service>-top-denied-source-ips)",
};
pub const LOG_GROUP: Target = Target {
    flag: "--log-group",
    env: "VPC_PROXY_OPS_LOG_GROUP",
    output: "LogGroup",
    help: "the function's log group (default: /aws/lambda/<function>)",
};
pub const FUNCTION: Target = Target {
    flag: "--function-name",
    env: "VPC_PROXY_OPS_FUNCTION_NAME",
    output: "FunctionName",
    help: "the function (for the log group's default name)",
};
pub const SERVICE: Target = Target {
    flag: "--service",
    env: "VPC_PROXY_OPS_SERVICE",
    output: "Service",
    help: "the Service dimension (for the rule's default name)",
};
pub const WEB_ACL: Target = Target {
    flag: "--web-acl-arn",
    env: "VPC_PROXY_OPS_WEB_ACL_ARN",
    output: "WebAclArn",
    help: "the WAF web ACL that enforces the IP sets (only to warn when there is none)",
};
pub const STACK: Target = Target {
    flag: "--stack",
    env: "VPC_PROXY_OPS_STACK",
    output: "",
    help: "a deployed stack of deploy/template.yaml: the targets above come from its outputs",
};

pub const TARGETS: &[Target] = &[
    PARAMETER, IP_SET, IP_SET_V6, RULE, LOG_GROUP, FUNCTION, SERVICE, WEB_ACL, STACK,
];

/// Where the targets come from: flags (`(flag, value)`), then the environment, then the
/// stack's outputs, read once and only when a flag or variable leaves a target open.
pub struct Resolver<'a> {
    flags: Vec<(&'static str, String)>,
    env: &'a dyn Fn(&str) -> Option<String>,
    cloudformation: Option<aws_sdk_cloudformation::Client>,
    outputs: Option<Vec<(String, String)>>,
}

impl<'a> Resolver<'a> {
    pub fn new(
        flags: Vec<(&'static str, String)>,
        env: &'a dyn Fn(&str) -> Option<String>,
        cloudformation: Option<aws_sdk_cloudformation::Client>,
    ) -> Resolver<'a> {
        Resolver {
            flags,
            env,
            cloudformation,
            outputs: None,
        }
    }

    fn given(&self, t: Target) -> Option<String> {
        self.flags
            .iter()
            .rev()
            .find(|(f, _)| *f == t.flag)
            .map(|(_, v)| v.clone())
            .or_else(|| (self.env)(t.env))
            .filter(|v| !v.trim().is_empty())
    }

    /// Is a stack named (so a missing output means the stack does not have it)?
    pub fn has_stack(&self) -> bool {
        self.given(STACK).is_some()
    }

    /// The target's value, or `None` when nothing names it.
    pub async fn get(&mut self, t: Target) -> Result<Option<String>, Failure> {
        if let Some(v) = self.given(t) {
            return Ok(Some(v));
        }
        let Some(stack) = self.given(STACK) else {
            return Ok(None);
        };
        if self.outputs.is_none() {
            let Some(cfn) = &self.cloudformation else {
                return Ok(None);
            };
            let out = cfn
                .describe_stacks()
                .stack_name(&stack)
                .send()
                .await
                .map_err(|e| aws(&format!("reading the outputs of stack {stack}"), e))?;
            let outputs = out
                .stacks()
                .first()
                .map(|s| {
                    s.outputs()
                        .iter()
                        .filter_map(|o| {
                            Some((o.output_key()?.to_owned(), o.output_value()?.to_owned()))
                        })
                        .collect()
                })
                .unwrap_or_default();
            self.outputs = Some(outputs);
        }
        Ok(self.outputs.as_ref().and_then(|o| {
            o.iter()
                .find(|(k, v)| k == t.output && !v.is_empty())
                .map(|(_, v)| v.clone())
        }))
    }

    /// The target's value, or a usage failure naming every way to give it.
    pub async fn require(&mut self, t: Target) -> Result<String, Failure> {
        self.get(t).await?.ok_or_else(|| {
            Failure::usage(format!(
                "{} is not named: give {} VALUE, set {}, or name the stack with --stack (output {})",
                t.help, t.flag, t.env, t.output
            ))
        })
    }

    /// The rule name: given, else derived from the service name as the kit names it.
    pub async fn rule_name(&mut self) -> Result<Option<String>, Failure> {
        if let Some(r) = self.get(RULE).await? {
            return Ok(Some(r));
        }
        Ok(self
            .get(SERVICE)
            .await?
            .or_else(|| (self.env)("PROXY_SERVICE_NAME"))
            .map(|s| format!("{s}-top-denied-source-ips")))
    }

    /// The log group: given, else `/aws/lambda/<function>`.
    pub async fn log_group(&mut self) -> Result<Option<String>, Failure> {
        if let Some(g) = self.get(LOG_GROUP).await? {
            return Ok(Some(g));
        }
        Ok(self
            .get(FUNCTION)
            .await?
            .map(|f| format!("/aws/lambda/{f}")))
    }
}

/// Who is calling (STS `GetCallerIdentity`), for the note recorded with a change.
pub async fn caller(sts: &aws_sdk_sts::Client) -> Result<String, Failure> {
    let out = sts
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| aws("finding who you are (STS GetCallerIdentity)", e))?;
    Ok(out.arn().unwrap_or("unknown caller").to_owned())
}

/// Today's date (UTC) as `YYYY-MM-DD`, for notes.
pub fn today(now: std::time::SystemTime) -> String {
    let secs = now
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    DateTime::from_secs(secs as i64)
        .fmt(DateTimeFormat::DateTime)
        .map(|s| s.chars().take(10).collect())
        .unwrap_or_else(|_| "unknown date".to_owned())
}

/// The note recorded with a change: `date caller: comment`.
pub fn note(date: &str, who: &str, comment: &str) -> String {
    format!("{date} {who}: {comment}")
}

/// A moment (UTC) as `YYYY-MM-DDTHH:MM:SSZ`, for "in force by".
pub fn today_time(at: std::time::SystemTime) -> String {
    let secs = at
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    DateTime::from_secs(secs as i64)
        .fmt(DateTimeFormat::DateTime)
        .unwrap_or_else(|_| "unknown time".to_owned())
}
