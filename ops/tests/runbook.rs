//! The runbook against the function it documents: the sections that branch on a closed set
//! of values (the summary line's `error`) name every value the function can log.

use std::path::Path;

use vpc_proxy::outcome::UpstreamError;

fn runbook() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/RUNBOOK.md"))
        .expect("docs/RUNBOOK.md")
}

/// The text of the runbook section whose anchor is `id`, up to the next section.
fn section<'a>(runbook: &'a str, id: &str) -> &'a str {
    let start = runbook
        .find(&format!("<a id=\"{id}\"></a>"))
        .unwrap_or_else(|| panic!("no section {id}"));
    let rest = &runbook[start + 1..];
    let end = rest.find("<a id=").map_or(rest.len(), |e| e + 1);
    &runbook[start..start + end]
}

#[test]
fn upstream_failures_branches_on_every_error_the_function_logs() {
    let runbook = runbook();
    let text = section(&runbook, "upstream-failures");
    for e in UpstreamError::ALL {
        assert!(
            text.contains(&format!("`{}`", e.phrase())),
            "the upstream-failures section has no branch for error `{}`",
            e.phrase()
        );
    }
    assert!(
        text.contains("by reason, error"),
        "one query groups the failures by reason and error"
    );
}
