//! URL building on arbitrary paths and queries: never a panic, and every URL it returns keeps
//! the target's scheme, host and port, has no credentials or fragment, stays under the path
//! prefix (also as a backend that percent-decodes and resolves dot segments would read it),
//! and reads back the same when parsed again.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use vpc_proxy::target::{Query, Target};

const TARGETS: &[&str] = &[
    "http://10.0.0.1",
    "http://10.0.0.1:8080/api",
    "https://10.0.3.7:8443/api/v1/",
    "http://[fd00::7]:9000/p%20q",
    "https://svc.example/a/b",
];

#[derive(Debug, Arbitrary)]
struct Input {
    target: u8,
    path: String,
    raw_query: Option<String>,
    pairs: Vec<(String, Vec<String>)>,
}

/// The path as a lenient backend sees it: decoded up to four times, `\` as `/`, dot
/// segments resolved.
fn backend_view(path: &str) -> String {
    let mut current = path.to_owned();
    for _ in 0..4 {
        let decoded = percent_encoding::percent_decode_str(&current)
            .decode_utf8_lossy()
            .into_owned();
        if decoded == current {
            break;
        }
        current = decoded;
    }
    let mut stack: Vec<&str> = Vec::new();
    for segment in current.split(['/', '\\']) {
        match segment {
            "." => {}
            ".." => {
                stack.pop();
            }
            s => stack.push(s),
        }
    }
    stack.join("/")
}

fuzz_target!(|input: Input| {
    let text = TARGETS[usize::from(input.target) % TARGETS.len()];
    let target = Target::parse(text).expect("fixture target");
    let query = match &input.raw_query {
        Some(raw) => Query::Raw(raw),
        None => Query::Pairs(&input.pairs),
    };
    let Ok(url) = target.url_for(&input.path, query) else {
        return;
    };
    assert_eq!(url.scheme(), target.scheme(), "{input:?} -> {url}");
    assert_eq!(url.host_str(), Some(target.host()), "{input:?} -> {url}");
    assert_eq!(
        url.port_or_known_default(),
        target.port(),
        "{input:?} -> {url}"
    );
    assert!(
        url.username().is_empty() && url.password().is_none(),
        "{input:?} -> {url}"
    );
    assert_eq!(url.fragment(), None, "{input:?} -> {url}");
    assert!(
        url.path().starts_with(&format!("{}/", target.prefix())),
        "{input:?} -> {url}"
    );
    let reparsed = reqwest::Url::parse(url.as_str()).expect("own output parses");
    assert_eq!(reparsed, url, "{input:?}");
    assert!(
        backend_view(url.path()).starts_with(&backend_view(target.prefix())),
        "{input:?} -> {url} resolves outside the prefix"
    );
});
