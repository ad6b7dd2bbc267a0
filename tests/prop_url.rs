//! Property tests for `Target::url_for`: whatever path and query a request carries, the URL
//! sent to the backend keeps the target's scheme, host and port, stays under its path prefix
//! (also for a backend that percent-decodes and resolves dot segments after us), and a path
//! with a dot segment, raw or percent-encoded, is refused.

use proptest::prelude::*;
use proptest::test_runner::Config as ProptestConfig;
use vpc_proxy::target::{Query, Target, UrlError};
use vpc_proxy_testkit::url_oracle::{TARGETS, backend_view, expected_raw_query, violation};

/// Pieces that have fooled URL builders: authority and scheme markers, both separators and
/// their encodings, encoded dots, fragment and query markers, odd unicode and controls
/// (TAB, LF and CR among them: the URL parser deletes those).
const PIECES: &[&str] = &[
    "/",
    "//",
    "\\",
    "\\\\",
    "@",
    ":",
    "evil.com",
    "http://",
    "https:",
    "#",
    "?",
    "%",
    "%25",
    "%2e",
    "%2E",
    "%2f",
    "%2F",
    "%5c",
    "%5C",
    "%40",
    "%23",
    "%3f",
    "%00",
    ".",
    "..",
    "...",
    ".a",
    "a.",
    "a",
    "Z9",
    "-_~",
    ";",
    "=",
    "&",
    "+",
    " ",
    "\u{0}",
    "\t",
    "\n",
    "\r",
    "\u{7f}",
    "é",
    "日本",
    "\u{202e}",
    "\u{ff0e}",
    "\u{2044}",
    "\u{1f600}",
    "'",
    "\"",
    "<",
    ">",
    "..;",
    ".;",
    ";a=b",
    "%u002e",
    "%U002E",
    "%u002f",
    "%c0%ae",
    "\u{2025}",
    "\u{ff0f}",
    "[",
    "]",
    "|",
    "^",
    "`",
    "{",
];

/// What a segment separator may look like once a backend decodes the path.
const SEPARATORS: &[&str] = &[
    "/", "\\", "%2f", "%2F", "%5c", "%5C", "%252f", "%u002f", "\u{ff0f}",
];

/// Spellings of `.` and `..` as a path segment, raw or percent-encoded once or twice.
const DOT_SEGMENTS: &[&str] = &[
    ".",
    "..",
    "%2e",
    "%2E",
    "%2e%2e",
    "%2E%2e",
    ".%2e",
    "%2e.",
    "%252e",
    "%252e%252e",
    "%25252e%25252e",
    "..;",
    ".;",
    "..;jsessionid=1",
    "%2e%2e;x",
    "..%3b",
    "%u002e%u002e",
    "%U002E.",
    ".%u002e",
    "%25u002e%25u002e",
    "%c0%ae%c0%ae",
    "%e0%80%ae.",
    "\u{ff0e}\u{ff0e}",
    "\u{2025}",
    ".\u{fe52}",
    "%EF%BC%8E%EF%BC%8E",
];

fn piece() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => proptest::sample::select(PIECES).prop_map(str::to_owned),
        1 => "\\PC{0,6}",
        1 => any::<String>().prop_map(|s| s.chars().take(6).collect()),
    ]
}

fn tricky_path() -> impl Strategy<Value = String> {
    proptest::collection::vec(piece(), 0..12).prop_map(|v| v.concat())
}

fn target() -> impl Strategy<Value = Target> {
    proptest::sample::select(TARGETS).prop_map(|t| Target::parse(t).expect("fixture target"))
}

fn check_stays_on_target(t: &Target, path: &str, query: Query<'_>) -> Result<(), TestCaseError> {
    match t.url_for(path, query) {
        Ok(url) => {
            if let Some(how) = violation(t, &url) {
                return Err(TestCaseError::fail(format!("{path:?} -> {url}: {how}")));
            }
        }
        // Refusing is always safe; either refusal is an acceptable answer here.
        Err(UrlError::DotSegment | UrlError::LeavesTarget) => {}
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Arbitrary paths with a verbatim (v2) query never leave the target's origin or prefix,
    /// and the query reaches the backend byte for byte, only bytes that cannot stand in a
    /// request target percent-encoded.
    #[test]
    fn raw_query_never_leaves_target(t in target(), path in tricky_path(), query in tricky_path()) {
        check_stays_on_target(&t, &path, Query::Raw(&query))?;
        if let Ok(uri) = t.url_for(&path, Query::Raw(&query)) {
            let expected = expected_raw_query(&query);
            prop_assert_eq!(uri.query().unwrap_or(""), expected.as_str());
        }
    }

    /// The same for v1 query pairs, which also decode back to exactly what was sent.
    #[test]
    fn pairs_never_leave_target_and_round_trip(
        t in target(),
        path in tricky_path(),
        pairs in proptest::collection::vec(
            (tricky_path(), proptest::collection::vec(tricky_path(), 0..3)),
            0..4,
        ),
    ) {
        check_stays_on_target(&t, &path, Query::Pairs(&pairs))?;
        if let Ok(url) = t.url_for(&path, Query::Pairs(&pairs)) {
            let expected: Vec<(String, String)> = pairs
                .iter()
                .flat_map(|(k, vs)| vs.iter().map(move |v| (k.clone(), v.clone())))
                .collect();
            let got: Vec<(String, String)> =
                url::form_urlencoded::parse(url.query().unwrap_or("").as_bytes())
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect();
            prop_assert_eq!(got, expected);
        }
    }

    /// A path with a `.` or `..` segment, in any spelling and between any separators, is
    /// refused as a dot segment.
    #[test]
    fn dot_segments_always_refused(
        t in target(),
        before in proptest::collection::vec("[a-zA-Z0-9_~-]{1,6}", 0..3),
        after in proptest::collection::vec("[a-zA-Z0-9_~-]{1,6}", 0..3),
        dots in proptest::sample::select(DOT_SEGMENTS),
        lead in proptest::sample::select(SEPARATORS),
        trail in proptest::sample::select(SEPARATORS),
        sep in proptest::sample::select(SEPARATORS),
        trailing in any::<bool>(),
        query in tricky_path(),
    ) {
        let mut path = String::new();
        for segment in &before {
            path.push_str(sep);
            path.push_str(segment);
        }
        path.push_str(lead);
        path.push_str(dots);
        if trailing || !after.is_empty() {
            path.push_str(trail);
        }
        path.push_str(&after.join(sep));
        prop_assert_eq!(
            t.url_for(&path, Query::Raw(&query)),
            Err(UrlError::DotSegment),
            "{:?} was not refused",
            path
        );
    }

    /// Plain paths (unreserved characters, no dot-only segment) are accepted and forwarded
    /// verbatim under the prefix: the refusals above are not bought by refusing everything.
    #[test]
    fn plain_paths_forwarded_verbatim(
        t in target(),
        segments in proptest::collection::vec("[a-zA-Z0-9_~-][a-zA-Z0-9._~-]{0,8}", 0..6),
        trailing in any::<bool>(),
    ) {
        let mut path = format!("/{}", segments.join("/"));
        if trailing && !segments.is_empty() {
            path.push('/');
        }
        let url = t.url_for(&path, Query::Raw("")).map_err(|e| {
            TestCaseError::fail(format!("{path:?} refused: {e}"))
        })?;
        prop_assert_eq!(url.path(), format!("{}{}", t.prefix(), path));
        prop_assert_eq!(url.query(), None);
    }
}

/// Spellings of `..` with an ASCII tab, line feed or carriage return inside: the URL parser
/// deletes those characters, so after it the segment reads `..` (or `%2e%2e`).
const SPLIT_DOTS: &[&str] = &[
    ".\t.", ".\n.", ".\r.", "%2e\t%2e", "%2E\r.", ".\n%2e", "\t..", "..\r",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// A dot segment split by characters the URL parser strips must still be refused, or at
    /// least never reach the backend as a dot segment. Found by the `url_build` fuzz target:
    /// `/.\t.%2fsecret` on target `http://10.0.0.1/api` is forwarded as
    /// `/api/..%2fsecret`, which a decoding backend reads as `/secret`.
    #[test]
    fn dot_segments_split_by_stripped_characters_refused(
        t in target(),
        dots in proptest::sample::select(SPLIT_DOTS),
        sep in proptest::sample::select(SEPARATORS),
        tail in "[a-z]{1,6}",
    ) {
        let path = format!("/{dots}{sep}{tail}");
        match t.url_for(&path, Query::Raw("")) {
            Err(_) => {}
            Ok(url) => {
                let seen = backend_view(url.path());
                let within = backend_view(&format!("{}/", t.prefix()));
                prop_assert!(
                    seen.starts_with(within.trim_end_matches('/')) && !url.path().contains(".."),
                    "{:?} -> {} (a backend reads {:?})",
                    path,
                    url,
                    seen
                );
            }
        }
    }
}
