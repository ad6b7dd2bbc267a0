//! URL building on arbitrary paths and queries: never a panic, and every URI it returns keeps
//! the target's scheme, host and port, has no credentials, stays under the path prefix (also
//! as a backend that decodes `%` and `%u` escapes, drops `;` parameters, folds NFKC dot
//! lookalikes and resolves dot segments would read it), reads back the same when parsed again,
//! and carries a v2 query byte for byte (only bytes that cannot stand in a request target
//! percent-encoded).
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use vpc_proxy::target::{Query, Target};

use vpc_proxy_testkit::url_oracle::{TARGETS, expected_raw_query, violation};

#[derive(Debug, Arbitrary)]
struct Input {
    target: u8,
    path: String,
    raw_query: Option<String>,
    pairs: Vec<(String, Vec<String>)>,
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
    if let Some(how) = violation(&target, &url) {
        panic!("{input:?} -> {url}: {how}");
    }
    if let Some(raw) = &input.raw_query {
        let expected = expected_raw_query(raw);
        assert_eq!(url.query().unwrap_or(""), expected, "{input:?}: query not as sent");
    }
});
