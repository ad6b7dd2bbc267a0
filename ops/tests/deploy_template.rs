//! The one-stack deployment stays in step with the kit: `deploy/monitoring.json` (the nested
//! stack of `deploy/template.yaml`) is exactly what `vpc-proxy-ops cloudformation` renders
//! from `dashboards/` and `alarms/` now, and the parent stack passes that template exactly the
//! parameters it declares.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;
use vpc_proxy_ops::cli;

/// How to bring the committed file back in step; every failure message says it.
const REGENERATE: &str =
    "cargo run -q -p vpc-proxy-ops -- cloudformation --output deploy/monitoring.json";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn fresh_render() -> String {
    let args = cli::parse([
        "cloudformation".to_owned(),
        "--kit".to_owned(),
        root().display().to_string(),
    ])
    .unwrap_or_else(|e| panic!("{e}"));
    let mut out = Vec::new();
    let mut err = Vec::new();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let code = runtime
        .block_on(cli::run(&args, &|_: &str| None, &mut out, &mut err))
        .unwrap_or_else(|e| panic!("vpc-proxy-ops cloudformation failed: {e}"));
    assert_eq!(code, 0, "{}", String::from_utf8_lossy(&err));
    String::from_utf8(out).unwrap_or_else(|e| panic!("{e}"))
}

fn committed() -> String {
    let path = root().join("deploy/monitoring.json");
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read {}: {e}; create it with `{REGENERATE}`",
            path.display()
        )
    })
}

/// The first path (`/Resources/AlarmDenySpike/Properties`) where two JSON values differ.
fn first_difference(a: &Value, b: &Value, at: &str) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            keys.into_iter().find_map(|k| match (x.get(k), y.get(k)) {
                (Some(v), Some(w)) => first_difference(v, w, &format!("{at}/{k}")),
                _ => Some(format!("{at}/{k}")),
            })
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (v, w))| first_difference(v, w, &format!("{at}/{i}"))),
        _ if a == b => None,
        // A dashboard body is JSON inside a string: compare it as JSON too.
        (Value::String(x), Value::String(y)) => {
            match (
                serde_json::from_str::<Value>(x),
                serde_json::from_str::<Value>(y),
            ) {
                (Ok(v), Ok(w)) if v.is_object() => first_difference(&v, &w, &format!("{at}#")),
                _ => Some(at.to_owned()),
            }
        }
        _ => Some(if at.is_empty() {
            "/".to_owned()
        } else {
            at.to_owned()
        }),
    }
}

/// Compared as JSON values (dashboard bodies included): the order of keys depends on
/// serde_json features that Cargo unifies differently for the binary and for tests, and means
/// nothing to CloudFormation or CloudWatch.
#[test]
fn committed_monitoring_template_is_a_fresh_render_of_the_kit() {
    let fresh: Value = serde_json::from_str(&fresh_render()).unwrap_or_else(|e| panic!("{e}"));
    let committed: Value = serde_json::from_str(&committed()).unwrap_or_else(|e| {
        panic!("deploy/monitoring.json is not JSON ({e}); regenerate it with `{REGENERATE}`")
    });
    if let Some(path) = first_difference(&fresh, &committed, "") {
        panic!(
            "deploy/monitoring.json differs from what dashboards/ and alarms/ render (first at \
             {path}).\nRegenerate it and commit the result:\n    {REGENERATE}"
        );
    }
}

/// The keys under `Parameters:` of the `MonitoringStack` resource in the SAM template, read as
/// text (the template uses CloudFormation's YAML tags, which a plain YAML parser refuses).
fn parameters_passed_to_monitoring(template: &str) -> BTreeSet<String> {
    let mut lines = template.lines().skip_while(|l| *l != "  MonitoringStack:");
    assert!(
        lines.next().is_some(),
        "no MonitoringStack resource in deploy/template.yaml"
    );
    let mut lines = lines.skip_while(|l| l.trim() != "Parameters:");
    let header = lines.next().unwrap_or_default();
    let indent = header.len() - header.trim_start().len();
    lines
        .take_while(|l| l.len() - l.trim_start().len() > indent)
        .filter_map(|l| l.trim().split_once(':').map(|(k, _)| k.to_owned()))
        .collect()
}

#[test]
fn the_sam_template_passes_the_monitoring_template_exactly_its_parameters() {
    let template = std::fs::read_to_string(root().join("deploy/template.yaml"))
        .unwrap_or_else(|e| panic!("{e}"));
    let passed = parameters_passed_to_monitoring(&template);
    let monitoring: Value =
        serde_json::from_str(&committed()).unwrap_or_else(|e| panic!("{e}; {REGENERATE}"));
    let declared = monitoring["Parameters"]
        .as_object()
        .unwrap_or_else(|| panic!("no Parameters in deploy/monitoring.json"));
    let unknown: Vec<&String> = passed
        .iter()
        .filter(|p| !declared.contains_key(*p))
        .collect();
    assert!(
        unknown.is_empty(),
        "deploy/template.yaml passes {unknown:?}, which deploy/monitoring.json does not declare \
         (CloudFormation would refuse the stack); regenerate with `{REGENERATE}` or fix the template"
    );
    let missing: Vec<&String> = declared
        .iter()
        .filter(|(name, p)| p.get("Default").is_none() && !passed.contains(*name))
        .map(|(name, _)| name)
        .collect();
    assert!(
        missing.is_empty(),
        "deploy/monitoring.json needs {missing:?} without a default, and deploy/template.yaml \
         does not pass it (a new placeholder in the kit?)"
    );
    assert!(passed.contains("WebAclName"), "{passed:?}");
}

/// The keys under a top-level section (`Outputs:`) of the SAM template, read as text.
fn section_keys(template: &str, section: &str) -> BTreeSet<String> {
    template
        .lines()
        .skip_while(|l| *l != section)
        .skip(1)
        .take_while(|l| l.is_empty() || l.starts_with(' ') || l.starts_with('#'))
        .filter(|l| {
            l.starts_with("  ") && !l.starts_with("   ") && !l.trim_start().starts_with('#')
        })
        .filter_map(|l| l.trim().strip_suffix(':').map(str::to_owned))
        .collect()
}

#[test]
fn the_sam_template_has_the_outputs_the_ops_commands_discover() {
    let template = std::fs::read_to_string(root().join("deploy/template.yaml"))
        .unwrap_or_else(|e| panic!("{e}"));
    let outputs = section_keys(&template, "Outputs:");
    for key in [
        "ApiUrl",
        "DashboardUrl",
        "RunbookUrl",
        "AllowListParameterName",
        "BlockIpSetV4Arn",
        "BlockIpSetV6Arn",
        "WebAclArn",
        "ContributorInsightsRuleName",
        "LogGroup",
        "FunctionName",
    ] {
        assert!(
            outputs.contains(key),
            "output {key} missing from {outputs:?}"
        );
    }
}

#[test]
fn the_sam_template_allows_no_log_level_that_drops_summary_lines() {
    let template = std::fs::read_to_string(root().join("deploy/template.yaml"))
        .unwrap_or_else(|e| panic!("{e}"));
    let levels = template
        .lines()
        .skip_while(|l| *l != "  LogLevel:")
        .find_map(|l| l.trim().strip_prefix("AllowedValues:"))
        .unwrap_or_else(|| panic!("LogLevel has no AllowedValues"));
    for dropped in ["WARN", "ERROR", "FATAL"] {
        assert!(
            !levels.contains(dropped),
            "LogLevel allows {dropped}: {levels}"
        );
    }
    assert!(levels.contains("INFO"), "{levels}");
}
