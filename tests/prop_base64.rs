//! Binary bodies cross base64 twice per invocation, through the SIMD `base64-simd` crate. These
//! properties hold it to the `base64` crate's STANDARD engine, the reference the proxy used
//! before: an event body is accepted or refused (400, `bad_base64`) exactly when the reference
//! accepts or refuses it, and decodes to the same bytes; a backend body is encoded to the same
//! text. Lengths run past the SIMD block sizes so the vector paths and their tails both run.

use base64::Engine as _;
use http::HeaderMap;
use proptest::prelude::*;
use proptest::test_runner::Config as ProptestConfig;
use vpc_proxy::event::{self, BadBase64, Version};
use vpc_proxy::response;

fn reference_decode(text: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD.decode(text).ok()
}

/// What the proxy makes of `text` as a v1 event's base64 body: the bytes, or None for the
/// refusal.
fn proxy_decode(text: &str) -> Option<Vec<u8>> {
    let raw = serde_json::json!({
        "httpMethod": "POST",
        "path": "/",
        "body": text,
        "isBase64Encoded": true,
        "requestContext": {"identity": {"sourceIp": "192.0.2.1"}},
    })
    .to_string();
    match event::decode(&raw).expect("an HTTP event").request {
        Ok(request) => Some(request.body.to_vec()),
        Err(BadBase64) => None,
    }
}

#[test]
fn every_short_string_is_judged_like_the_reference() {
    // Canonical and non-canonical final symbols, padding, the URL-safe alphabet, whitespace.
    let alphabet: Vec<char> = "AQRgw+/=-_ \n".chars().collect();
    let mut strings = vec![String::new()];
    let mut checked = 0;
    for _ in 0..4 {
        let mut longer = Vec::new();
        for s in &strings {
            for c in &alphabet {
                let mut t = s.clone();
                t.push(*c);
                assert_eq!(proxy_decode(&t), reference_decode(&t), "{t:?}");
                checked += 1;
                longer.push(t);
            }
        }
        strings = longer;
    }
    assert_eq!(checked, 12 + 144 + 1728 + 20736);
}

fn mutation() -> impl Strategy<Value = char> {
    prop::sample::select(vec!['=', '-', '_', ' ', '\n', '*', '\u{e9}', 'A', '/', '+'])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn valid_encodings_decode_to_their_bytes(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let text = base64::engine::general_purpose::STANDARD.encode(&bytes);
        prop_assert_eq!(proxy_decode(&text), Some(bytes));
    }

    #[test]
    fn damaged_encodings_are_judged_like_the_reference(
        bytes in prop::collection::vec(any::<u8>(), 1..600),
        at in any::<prop::sample::Index>(),
        replacement in mutation(),
        cut in any::<bool>(),
    ) {
        let mut chars: Vec<char> = base64::engine::general_purpose::STANDARD
            .encode(&bytes)
            .chars()
            .collect();
        let i = at.index(chars.len());
        if cut {
            chars.truncate(i);
        } else if let Some(c) = chars.get_mut(i) {
            *c = replacement;
        }
        let text: String = chars.into_iter().collect();
        prop_assert_eq!(proxy_decode(&text), reference_decode(&text), "{:?}", text);
    }

    #[test]
    fn backend_bytes_are_encoded_like_the_reference(
        bytes in prop::collection::vec(any::<u8>(), 0..600),
        v2 in any::<bool>(),
    ) {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", "application/octet-stream".parse().expect("value"));
        let version = if v2 { Version::V2 } else { Version::V1 };
        let encoded = response::from_backend(version, 200, &headers, &bytes).expect("fits");
        let payload: serde_json::Value =
            serde_json::from_str(encoded.payload.as_str()).expect("JSON");
        prop_assert_eq!(&payload["isBase64Encoded"], &serde_json::json!(true));
        let expected = base64::engine::general_purpose::STANDARD.encode(&bytes);
        prop_assert_eq!(payload["body"].as_str(), Some(expected.as_str()));
    }
}
