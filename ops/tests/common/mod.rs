//! Shared by the integration tests: the shipped kit and one deployment's values.

#![allow(dead_code)]

use std::path::Path;

use serde_json::Value;
use vpc_proxy_ops::kit::Kit;
use vpc_proxy_ops::render::{self, Missing, Rendered, Values};

pub fn kit() -> Kit {
    Kit::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("..")).expect("the shipped kit loads")
}

/// A complete deployment, as an operator would pass it.
pub fn values(kit: &Kit) -> Values {
    let mut v = Values::default();
    for (k, val) in [
        ("Region", "eu-west-1"),
        ("AccountId", "111122223333"),
        ("FunctionName", "edge-fn"),
        ("Service", "svc"),
        ("ApiName", "edge-api"),
        ("Stage", "prod"),
        ("AlarmTopicArn", "arn:aws:sns:eu-west-1:111122223333:pager"),
        ("RunbookUrl", "https://runbooks.example/vpc-proxy.md"),
    ] {
        v.set(k, val).expect("known parameter");
    }
    v.resolve(&render::needed(kit), Missing::Error)
        .expect("all values given");
    v
}

pub fn rendered() -> (Kit, Values, Rendered) {
    let kit = kit();
    let values = values(&kit);
    let rendered = render::kit(&kit, &values).expect("renders");
    (kit, values, rendered)
}

/// The rendered input of the alarm named `name`.
pub fn alarm<'a>(rendered: &'a Rendered, name: &str) -> &'a Value {
    &rendered
        .alarms
        .iter()
        .find(|a| a.input["AlarmName"] == name)
        .unwrap_or_else(|| panic!("no alarm {name}"))
        .input
}

/// The rendered input of the alarm named `name`, to change it.
pub fn alarm_mut<'a>(rendered: &'a mut Rendered, name: &str) -> &'a mut Value {
    &mut rendered
        .alarms
        .iter_mut()
        .find(|a| a.input["AlarmName"] == name)
        .unwrap_or_else(|| panic!("no alarm {name}"))
        .input
}
