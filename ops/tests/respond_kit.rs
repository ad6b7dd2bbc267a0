//! The dashboard's respond row: the deny graph with its anomaly band, the top denied sources
//! and the recent denies side by side (one glance from the page to the address), and the WAF
//! blocked-requests widget on the web ACL the template creates.

mod common;

use serde_json::Value;

fn widget<'a>(body: &'a Value, title_start: &str) -> &'a Value {
    body["widgets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| {
            w["properties"]["title"]
                .as_str()
                .is_some_and(|t| t.starts_with(title_start))
        })
        .unwrap_or_else(|| panic!("no widget titled {title_start:?}"))
}

#[test]
fn deny_band_top_denied_and_recent_denies_share_one_row() {
    let (_, _, rendered) = common::rendered();
    let body = &rendered.dashboards[0].body;
    let band = widget(body, "Denied per minute and the deny-spike band");
    let top = widget(body, "Top denied source IPs");
    let recent = widget(body, "Recent denies");
    let row: Vec<(i64, i64, i64)> = [band, top, recent]
        .iter()
        .map(|w| {
            (
                w["y"].as_i64().unwrap(),
                w["x"].as_i64().unwrap(),
                w["width"].as_i64().unwrap(),
            )
        })
        .collect();
    assert!(row.iter().all(|r| r.0 == row[0].0), "{row:?}");
    assert_eq!(
        row[0].1 + row[0].2,
        row[1].1,
        "top denied right of the band"
    );
    assert_eq!(row[1].1 + row[1].2, row[2].1, "recent denies right of it");
    let metrics = band["properties"]["metrics"].as_array().unwrap();
    let text = serde_json::to_string(metrics).unwrap();
    assert!(text.contains("ANOMALY_DETECTION_BAND(denied"), "{text}");
    assert!(text.contains("\"Denied\",\"Service\",\"svc\""), "{text}");
}

#[test]
fn waf_widget_names_the_templates_web_acl_and_rules() {
    let (_, _, rendered) = common::rendered();
    let body = &rendered.dashboards[0].body;
    let waf = widget(body, "WAF: requests blocked");
    let rows = waf["properties"]["metrics"].as_array().unwrap();
    let rules: Vec<&str> = rows.iter().map(|r| r[7].as_str().unwrap()).collect();
    assert_eq!(rules, ["blocked-ipv4", "blocked-ipv6", "rate-limit"]);
    for r in rows {
        assert_eq!(r[0], "AWS/WAFV2");
        assert_eq!(r[3], "edge-fn-web-acl", "default: <function>-web-acl");
        assert_eq!(r[5], "eu-west-1");
    }
}
