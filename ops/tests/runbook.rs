//! The runbook against the function and the tool it documents: the sections that branch on a
//! closed set of values (the summary line's `error`) name every value the function can log,
//! and every `vpc-proxy-ops` command line of the README, the contract and the runbook parses.

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

/// Every `vpc-proxy-ops` command line of the README, the contract and the runbook, as words:
/// the lines of code blocks (continuations joined, comments dropped) and the inline code
/// spans. `<ip>` stands for an address; `[optional parts]` are kept, without their brackets.
fn documented_command_lines() -> Vec<(String, Vec<String>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut lines = Vec::new();
    for doc in ["README.md", "docs/CONTRACT.md", "docs/RUNBOOK.md"] {
        let text = std::fs::read_to_string(root.join(doc)).expect(doc);
        let mut in_block = false;
        let mut pending = String::new();
        for line in text.lines() {
            if line.trim_start().starts_with("```") {
                in_block = !in_block;
                continue;
            }
            if !in_block {
                continue;
            }
            pending.push_str(line.trim());
            if let Some(open) = pending.strip_suffix('\\') {
                pending = format!("{open} ");
                continue;
            }
            let line = std::mem::take(&mut pending);
            let line = line
                .strip_prefix("cargo run -q -p vpc-proxy-ops -- ")
                .map(|rest| format!("vpc-proxy-ops {rest}"))
                .unwrap_or(line);
            if line.starts_with("vpc-proxy-ops ") {
                lines.push((format!("{doc}: {line}"), line));
            }
        }
        let mut rest = text.as_str();
        while let Some(start) = rest.find("`vpc-proxy-ops ") {
            let span = &rest[start + 1..];
            let end = span.find('`').expect("a closed code span");
            lines.push((
                format!("{doc}: `{}`", &span[..end]),
                span[..end].replace('\n', " "),
            ));
            rest = &span[end..];
        }
    }
    lines
        .into_iter()
        .map(|(at, line)| {
            let line = line
                .replace("<ip>", "203.0.113.7")
                .replace("same parameters", "")
                .replace(['[', ']'], "");
            (at, words(&line))
        })
        .collect()
}

/// Shell words: quotes group, `#` starts a comment.
fn words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut quote = None;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.get_or_insert_default().push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                word.get_or_insert_default();
            }
            (None, c) if c.is_whitespace() => words.extend(word.take()),
            (None, '#') if word.is_none() => break,
            (None, c) => word.get_or_insert_default().push(c),
        }
    }
    words.extend(word);
    words
}

#[test]
fn every_documented_command_line_parses() {
    let lines = documented_command_lines();
    assert!(lines.len() >= 20, "found only {}", lines.len());
    for (at, words) in lines {
        let argv = words.into_iter().skip(1).collect::<Vec<_>>();
        let bare = argv.len() == 1;
        match vpc_proxy_ops::cli::parse(argv) {
            Ok(_) => {}
            // Prose names a command alone (`vpc-proxy-ops block`): the command must exist.
            Err(e) if bare && !e.message.starts_with("unknown command") => {}
            Err(e) => panic!("{at}: {e}"),
        }
    }
}
