//! URL building on arbitrary paths and queries: never a panic, and every URL it returns keeps
//! the target's scheme, host and port, has no credentials or fragment, stays under the path
//! prefix (also as a backend that percent-decodes and resolves dot segments would read it),
//! and reads back the same when parsed again.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use vpc_proxy::target::{Query, Target};

#[path = "../../tests/common/url_oracle.rs"]
mod url_oracle;
use url_oracle::{TARGETS, violation};

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
});
