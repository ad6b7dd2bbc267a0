//! The kit's parameters: every `${Name}` a file may use, its flag (`--function-name`) and
//! variables (`VPC_PROXY_OPS_FUNCTION_NAME`, then its own), its default and example, and
//! the values of one deployment (flags over environment over defaults).
//!
//! Adding a placeholder to a kit file means adding it to [`PARAMS`]. It must never guess a
//! value for a deployment: a missing value is an error unless the caller asked for examples
//! (`validate` without a deployment). It never reads a kit file nor touches AWS.

use std::collections::{BTreeMap, BTreeSet};

use super::{placeholders, substitute_with};
use crate::Error;

/// One parameter the kit's files may reference as `${Name}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Param {
    pub name: &'static str,
    pub help: &'static str,
    /// Used when no value is given; may itself reference other parameters.
    pub default: Option<&'static str>,
    /// A plausible value, used only by `validate --example` style checks.
    pub example: &'static str,
    /// Environment variables read (after `VPC_PROXY_OPS_<NAME>`), first set wins.
    pub env: &'static [&'static str],
}

/// Every parameter. Adding a placeholder to a kit file means adding it here.
pub const PARAMS: &[Param] = &[
    Param {
        name: "Region",
        help: "AWS region of the function and its metrics",
        default: None,
        example: "eu-west-1",
        env: &["AWS_REGION", "AWS_DEFAULT_REGION"],
    },
    Param {
        name: "AccountId",
        help: "AWS account id (alarm ARNs in the alarm-status widget)",
        default: None,
        example: "123456789012",
        env: &["AWS_ACCOUNT_ID"],
    },
    Param {
        name: "Partition",
        help: "AWS partition of ARNs",
        default: Some("aws"),
        example: "aws",
        env: &[],
    },
    Param {
        name: "Namespace",
        help: "CloudWatch namespace of the proxy's metrics (PROXY_METRICS_NAMESPACE)",
        // The proxy's own default, so the two cannot drift apart.
        default: Some(vpc_proxy::config::DEFAULT_NAMESPACE),
        example: vpc_proxy::config::DEFAULT_NAMESPACE,
        env: &["PROXY_METRICS_NAMESPACE"],
    },
    Param {
        name: "FunctionName",
        help: "Lambda function name",
        default: None,
        example: "vpc-proxy",
        env: &[],
    },
    Param {
        name: "Service",
        help: "value of the Service dimension (PROXY_SERVICE_NAME; the proxy defaults it to the function name)",
        default: Some("${FunctionName}"),
        example: "vpc-proxy",
        env: &["PROXY_SERVICE_NAME"],
    },
    Param {
        name: "ApiName",
        help: "API Gateway REST API name (ApiName dimension)",
        default: None,
        example: "vpc-proxy",
        env: &[],
    },
    Param {
        name: "Stage",
        help: "API Gateway stage name",
        default: None,
        example: "prod",
        env: &[],
    },
    Param {
        name: "LogGroup",
        help: "the function's log group",
        default: Some("/aws/lambda/${FunctionName}"),
        example: "/aws/lambda/vpc-proxy",
        env: &[],
    },
    Param {
        name: "AlarmTopicArn",
        help: "SNS topic ARN the alarms notify",
        default: None,
        example: "arn:aws:sns:eu-west-1:123456789012:vpc-proxy-alarms",
        env: &[],
    },
    Param {
        name: "RunbookUrl",
        help: "URL of docs/RUNBOOK.md as operators open it",
        default: None,
        example: "https://example.com/vpc-proxy/docs/RUNBOOK.md",
        env: &[],
    },
    Param {
        name: "DashboardName",
        help: "name of the dashboard",
        default: Some("${Service}"),
        example: "vpc-proxy",
        env: &[],
    },
    Param {
        name: "WebAclName",
        help: "the WAF web ACL's metric name (WebACL dimension; the template names it <function>-web-acl)",
        default: Some("${FunctionName}-web-acl"),
        example: "vpc-proxy-web-acl",
        env: &[],
    },
    Param {
        name: "DenySpikeFloor",
        help: "denies per minute below which the deny-spike alarm never fires",
        default: Some("20"),
        example: "20",
        env: &[],
    },
];

/// The parameter named `name`.
pub fn param(name: &str) -> Option<&'static Param> {
    PARAMS.iter().find(|p| p.name == name)
}

/// The parameter named `name`, or an error listing the known ones: an unknown name could not
/// be mapped to anything by the template generator.
pub fn known_param(name: &str) -> Result<&'static Param, Error> {
    param(name).ok_or_else(|| {
        let known: Vec<&str> = PARAMS.iter().map(|p| p.name).collect();
        Error(format!(
            "unknown parameter {name:?}; known: {}",
            known.join(", ")
        ))
    })
}

/// `FunctionName` -> `function-name` (the flag) and `FUNCTION_NAME` (env suffix).
pub fn kebab(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('-');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// The tool's own environment variable for a parameter (`VPC_PROXY_OPS_FUNCTION_NAME`).
pub fn env_var(name: &str) -> String {
    format!(
        "VPC_PROXY_OPS_{}",
        kebab(name).replace('-', "_").to_ascii_uppercase()
    )
}

/// What to do with a parameter that has neither a value nor a default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// Fail, naming the flag and variable that would set it (render, apply).
    Error,
    /// Use the parameter's example value (validate without a deployment).
    Example,
}

/// Parameter values for one deployment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Values {
    values: BTreeMap<String, String>,
    /// Names filled from examples, to tell the operator.
    examples: BTreeSet<String>,
}

impl Values {
    /// Sets a known parameter (later calls win); unknown names are refused ([`known_param`]).
    pub fn set(&mut self, name: &str, value: impl Into<String>) -> Result<(), Error> {
        let p = known_param(name)?;
        self.values.insert(p.name.to_owned(), value.into());
        Ok(())
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// Names that were filled from examples.
    pub fn examples(&self) -> impl Iterator<Item = &str> {
        self.examples.iter().map(String::as_str)
    }

    /// Values from the environment: `VPC_PROXY_OPS_<NAME>`, then the parameter's own list.
    pub fn from_env(lookup: impl Fn(&str) -> Option<String>) -> Values {
        let mut values = Values::default();
        for p in PARAMS {
            let names =
                std::iter::once(env_var(p.name)).chain(p.env.iter().map(|s| (*s).to_owned()));
            for var in names {
                if let Some(v) = lookup(&var).filter(|v| !v.trim().is_empty()) {
                    values.values.insert(p.name.to_owned(), v);
                    break;
                }
            }
        }
        values
    }

    /// Fills defaults (in dependency order) and then, per `missing`, examples or an error
    /// for every parameter in `needed` that is still unset.
    pub fn resolve(&mut self, needed: &BTreeSet<String>, missing: Missing) -> Result<(), Error> {
        self.apply_defaults();
        if missing == Missing::Example {
            for p in PARAMS {
                if p.default.is_none() && !self.values.contains_key(p.name) {
                    self.values.insert(p.name.to_owned(), p.example.to_owned());
                    self.examples.insert(p.name.to_owned());
                }
            }
            self.apply_defaults();
        }
        let unset: Vec<String> = needed
            .iter()
            .filter(|n| !self.values.contains_key(n.as_str()))
            .map(|n| match param(n) {
                Some(p) => format!(
                    "  ${{{}}}: {} (--{} or {})",
                    p.name,
                    p.help,
                    kebab(p.name),
                    env_var(p.name)
                ),
                None => format!("  ${{{n}}}: not a known parameter (see `vpc-proxy-ops help`)"),
            })
            .collect();
        if unset.is_empty() {
            Ok(())
        } else {
            Err(Error(format!("no value for:\n{}", unset.join("\n"))))
        }
    }

    fn apply_defaults(&mut self) {
        // Defaults reference each other at most a few levels deep; loop until stable.
        loop {
            let mut changed = false;
            for p in PARAMS {
                let Some(default) = p.default else { continue };
                if self.values.contains_key(p.name) {
                    continue;
                }
                if placeholders(default)
                    .iter()
                    .all(|n| self.values.contains_key(n))
                {
                    let value = substitute_with(default, self, |v| v.to_owned());
                    self.values.insert(p.name.to_owned(), value);
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_other_parameters() {
        let mut v = Values::default();
        v.set("FunctionName", "fn").unwrap();
        v.resolve(&BTreeSet::new(), Missing::Error).unwrap();
        assert_eq!(v.get("Service"), Some("fn"));
        assert_eq!(v.get("LogGroup"), Some("/aws/lambda/fn"));
        assert_eq!(v.get("DashboardName"), Some("fn"));
        assert_eq!(v.get("Namespace"), Some("VpcProxy"));
    }

    #[test]
    fn explicit_values_beat_defaults() {
        let mut v = Values::default();
        v.set("FunctionName", "fn").unwrap();
        v.set("Service", "svc").unwrap();
        v.resolve(&BTreeSet::new(), Missing::Error).unwrap();
        assert_eq!(v.get("DashboardName"), Some("svc"));
    }

    #[test]
    fn missing_values_name_flag_and_variable() {
        let mut v = Values::default();
        let needed: BTreeSet<String> = ["Stage".to_owned()].into();
        let err = v.resolve(&needed, Missing::Error).unwrap_err();
        assert!(
            err.0.contains("--stage") && err.0.contains("VPC_PROXY_OPS_STAGE"),
            "{err}"
        );
    }

    #[test]
    fn unknown_parameters_are_refused() {
        assert!(Values::default().set("Nope", "x").is_err());
    }

    #[test]
    fn environment_order() {
        let v = Values::from_env(|k| match k {
            "VPC_PROXY_OPS_REGION" => Some("eu-central-1".into()),
            "AWS_REGION" => Some("us-east-1".into()),
            "PROXY_SERVICE_NAME" => Some("svc".into()),
            _ => None,
        });
        assert_eq!(v.get("Region"), Some("eu-central-1"));
        assert_eq!(v.get("Service"), Some("svc"));
        assert_eq!(kebab("AlarmTopicArn"), "alarm-topic-arn");
        assert_eq!(env_var("AlarmTopicArn"), "VPC_PROXY_OPS_ALARM_TOPIC_ARN");
    }
}
