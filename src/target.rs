//! The backend origin and the only way to build a URI on it.
//!
//! `Target` is `PROXY_TARGET_URL` validated once: scheme, host, port and path prefix. Every
//! backend URI comes from `Target::url_for`, which sets the path on a copy of the parsed base
//! and never concatenates strings into the authority, so no request can change the scheme,
//! host, port or leave the prefix. It refuses dot segments (raw, percent-encoded, `%u`-encoded,
//! or disguised with `;` path parameters) instead of resolving them, because a backend that
//! decodes after us would walk out of the prefix. The v2 query goes out as the client sent
//! it: only bytes that cannot stand in a request target are percent-encoded.

use std::borrow::Cow;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode, utf8_percent_encode};
use url::Url;

/// Why a request path or query cannot be forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("path has a dot segment")]
    DotSegment,
    #[error("URL would leave the target")]
    LeavesTarget,
}

/// Query string of the incoming request, as each event version carries it.
#[derive(Debug, Clone, Copy)]
pub enum Query<'a> {
    /// v2 `rawQueryString`: forwarded byte for byte (see `raw_query`).
    Raw(&'a str),
    /// v1 `multiValueQueryStringParameters`: decoded pairs in event order, re-encoded here.
    Pairs(&'a [(String, Vec<String>)]),
}

/// A validated backend base URL.
#[derive(Debug, Clone)]
pub struct Target {
    base: Url,
    /// Path prefix without a trailing slash ("" for none).
    prefix: String,
}

/// Everything but RFC 3986 unreserved characters, as `encodeURIComponent` does.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

impl Target {
    /// Validates `PROXY_TARGET_URL`. The error text says what is wrong, not the value: the
    /// caller prints the value next to it.
    pub fn parse(text: &str) -> Result<Target, &'static str> {
        let url = Url::parse(text.trim()).map_err(|_| "not an absolute URL")?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err("scheme must be http or https");
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err("URL has no host");
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("URL carries credentials; put them in PROXY_UPSTREAM_HEADERS");
        }
        if url.query().is_some() {
            return Err("URL has a query string; the request's query is forwarded instead");
        }
        if url.fragment().is_some() {
            return Err("URL has a fragment");
        }
        let prefix = url.path().trim_end_matches('/').to_owned();
        let mut base = url;
        base.set_path("/");
        Ok(Target { base, prefix })
    }

    pub fn scheme(&self) -> &str {
        self.base.scheme()
    }

    pub fn host(&self) -> &str {
        self.base.host_str().unwrap_or("")
    }

    pub fn port(&self) -> Option<u16> {
        self.base.port_or_known_default()
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The backend URI for a request path (stage already removed) and query.
    pub fn url_for(&self, path: &str, query: Query<'_>) -> Result<http::Uri, UrlError> {
        // Also judge the path as a parser that drops TAB/CR/LF would see it.
        let stripped = path.replace(['\t', '\n', '\r'], "");
        if has_dot_segment(path) || has_dot_segment(&stripped) {
            return Err(UrlError::DotSegment);
        }
        let mut full = String::with_capacity(self.prefix.len() + path.len() + 1);
        full.push_str(&self.prefix);
        if !path.starts_with('/') {
            full.push('/');
        }
        // The URL parser treats '\\' as '/' in http(s) paths and silently deletes TAB, CR and
        // LF, which could join "." and "." into ".." after our check: keep them literal bytes.
        for c in path.chars() {
            match c {
                '\\' => full.push_str("%5C"),
                '\t' => full.push_str("%09"),
                '\n' => full.push_str("%0A"),
                '\r' => full.push_str("%0D"),
                other => full.push(other),
            }
        }
        let mut url = self.base.clone();
        url.set_path(&full);
        // Defence in depth: whatever the parser did, the origin and prefix must hold.
        let same_origin = url.scheme() == self.base.scheme()
            && url.host() == self.base.host()
            && url.port_or_known_default() == self.base.port_or_known_default()
            && url.username().is_empty()
            && url.password().is_none()
            && url.query().is_none()
            && url.fragment().is_none();
        let in_prefix = url.path().starts_with(&self.prefix)
            && matches!(url.path().as_bytes().get(self.prefix.len()), Some(b'/'));
        if !(same_origin && in_prefix) {
            return Err(UrlError::LeavesTarget);
        }
        // The query never goes through the URL parser: it re-encodes characters (`'` in
        // http(s) queries) that signatures and cache keys are computed over.
        let query = match query {
            Query::Raw(raw) => raw_query(raw),
            Query::Pairs(pairs) => Cow::Owned(pairs_query(pairs)),
        };
        let mut text = String::with_capacity(url.as_str().len() + query.len() + 1);
        text.push_str(url.as_str());
        if !query.is_empty() {
            text.push('?');
            text.push_str(&query);
        }
        let uri = http::Uri::try_from(text).map_err(|_| UrlError::LeavesTarget)?;
        // The URI must read back as the URL we checked: same authority, same path.
        if uri.path() == url.path()
            && uri.authority().map(http::uri::Authority::as_str) == Some(authority(&url).as_ref())
        {
            Ok(uri)
        } else {
            Err(UrlError::LeavesTarget)
        }
    }
}

/// `host[:port]` of a URL as it serializes (the port only when not the scheme's default).
fn authority(url: &Url) -> Cow<'_, str> {
    match (url.host_str(), url.port()) {
        (Some(host), Some(port)) => Cow::Owned(format!("{host}:{port}")),
        (Some(host), None) => Cow::Borrowed(host),
        (None, _) => Cow::Borrowed(""),
    }
}

/// Whether a byte may stand in the query of an HTTP request target as it is: printable
/// ASCII except `"`, `#`, `<` and `>` (`%` included: escapes are the client's to make).
fn query_byte_allowed(b: u8) -> bool {
    matches!(b, 0x21 | 0x24..=0x3B | 0x3D | 0x3F..=0x7E)
}

/// The v2 `rawQueryString` as it goes to the backend: unchanged when every byte may stand in
/// a request target (the usual case: API Gateway hands over what the client sent), else each
/// byte that may not (space, controls, DEL, `"`, `#`, `<`, `>`, non-ASCII) percent-encoded
/// as `%XX` of its UTF-8 bytes, and nothing else touched.
fn raw_query(raw: &str) -> Cow<'_, str> {
    if raw.bytes().all(query_byte_allowed) {
        return Cow::Borrowed(raw);
    }
    use std::fmt::Write as _;
    let mut out = String::with_capacity(raw.len() + 16);
    for b in raw.bytes() {
        if query_byte_allowed(b) {
            out.push(char::from(b));
        } else {
            // Writing to a String cannot fail.
            let _ = write!(out, "%{b:02X}");
        }
    }
    Cow::Owned(out)
}

/// v1 pairs re-encoded in event order, repeats kept.
fn pairs_query(pairs: &[(String, Vec<String>)]) -> String {
    let mut q = String::new();
    for (key, values) in pairs {
        for value in values {
            if !q.is_empty() {
                q.push('&');
            }
            q.extend(utf8_percent_encode(key, COMPONENT));
            q.push('=');
            q.extend(utf8_percent_encode(value, COMPONENT));
        }
    }
    q
}

/// True when any segment is `.` or `..` as some backend reads it: raw, percent-encoded
/// (decoded up to three times, for backends that decode more than once), `%u`-encoded (IIS),
/// as overlong UTF-8, or followed by `;` path parameters (`..;/`: Tomcat, Jetty and Spring
/// drop the parameters, then resolve the `..`), with `/` and `\` both taken as separators.
fn has_dot_segment(path: &str) -> bool {
    let mut current: Cow<'_, [u8]> = Cow::Borrowed(path.as_bytes());
    for _ in 0..4 {
        if fold_lookalikes(&current)
            .split(|&b| b == b'/' || b == b'\\')
            .any(is_dot_segment)
        {
            return true;
        }
        if !current.contains(&b'%') {
            return false;
        }
        let decoded = decode_once(&current);
        if decoded == current.as_ref() {
            return false;
        }
        current = Cow::Owned(decoded);
    }
    false
}

/// Characters that Unicode compatibility normalization (NFKC, which some frameworks apply to
/// paths) turns into `.`, `..`, `/` or `\\`, replaced by what they become.
fn fold_lookalikes(bytes: &[u8]) -> Cow<'_, [u8]> {
    const LOOKALIKES: &[(&str, &[u8])] = &[
        ("\u{ff0e}", b"."),  // fullwidth full stop
        ("\u{fe52}", b"."),  // small full stop
        ("\u{2024}", b"."),  // one dot leader
        ("\u{2025}", b".."), // two dot leader
        ("\u{ff0f}", b"/"),  // fullwidth solidus
        ("\u{ff3c}", b"\\"), // fullwidth reverse solidus
    ];
    // Every lookalike is a three-byte UTF-8 sequence led by 0xE2 or 0xEF.
    if !bytes.iter().any(|&b| b == 0xE2 || b == 0xEF) {
        return Cow::Borrowed(bytes);
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut rest = bytes;
    'outer: while let Some((&first, tail)) = rest.split_first() {
        for (from, to) in LOOKALIKES {
            if let Some(after) = rest.strip_prefix(from.as_bytes()) {
                out.extend_from_slice(to);
                rest = after;
                continue 'outer;
            }
        }
        out.push(first);
        rest = tail;
    }
    Cow::Owned(out)
}

/// `.` or `..`, once any `;` parameters are dropped.
fn is_dot_segment(segment: &[u8]) -> bool {
    let name = segment.split(|&b| b == b';').next().unwrap_or(segment);
    name == b"." || name == b".."
}

/// One round of decoding as the most lenient backend does it: `%XX`, `%uXXXX`, and the
/// overlong UTF-8 spellings of `.`, `/` and `\` that old decoders accepted.
fn decode_once(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut rest = bytes;
    while let Some((&b, tail)) = rest.split_first() {
        if b == b'%'
            && let [u, a, b2, c, d, after @ ..] = tail
            && u.eq_ignore_ascii_case(&b'u')
            && let Some(code) = hex4([*a, *b2, *c, *d])
        {
            let mut buf = [0u8; 4];
            let c = char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER);
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            rest = after;
            continue;
        }
        out.push(b);
        rest = tail;
    }
    let decoded: Vec<u8> = percent_decode(&out).collect();
    undo_overlong(&decoded)
}

fn hex4(digits: [u8; 4]) -> Option<u32> {
    digits.iter().try_fold(0u32, |acc, &d| {
        char::from(d).to_digit(16).map(|v| acc * 16 + v)
    })
}

/// Overlong UTF-8 for `.`, `/` and `\` (`%c0%ae`, `%e0%80%ae`, ...), read as those characters.
fn undo_overlong(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let two = bytes.get(i + 1).copied();
        let three = bytes.get(i + 2).copied();
        match (b, two, three) {
            (0xC0, Some(0xAE), _) => (out.push(b'.'), i += 2),
            (0xC0, Some(0xAF), _) => (out.push(b'/'), i += 2),
            (0xC1, Some(0x9C), _) => (out.push(b'\\'), i += 2),
            (0xE0, Some(0x80), Some(0xAE)) => (out.push(b'.'), i += 3),
            (0xE0, Some(0x80), Some(0xAF)) => (out.push(b'/'), i += 3),
            _ => (out.push(b), i += 1),
        };
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(s: &str) -> Target {
        Target::parse(s).unwrap()
    }

    fn url(t: &Target, path: &str, raw: &str) -> Result<String, UrlError> {
        t.url_for(path, Query::Raw(raw)).map(|u| u.to_string())
    }

    #[test]
    fn prefix_path_and_query() {
        let t = target("https://10.0.3.7:8443/api/");
        assert_eq!(t.prefix(), "/api");
        assert_eq!(
            url(&t, "/users/1", "a=1&a=2&b=%20").unwrap(),
            "https://10.0.3.7:8443/api/users/1?a=1&a=2&b=%20"
        );
        assert_eq!(url(&t, "/", "").unwrap(), "https://10.0.3.7:8443/api/");
        assert_eq!(url(&t, "", "").unwrap(), "https://10.0.3.7:8443/api/");
        let bare = target("http://backend.internal");
        assert_eq!(url(&bare, "/x", "").unwrap(), "http://backend.internal/x");
    }

    #[test]
    fn request_cannot_change_the_origin() {
        let t = target("http://10.0.0.1:8080/api");
        for path in [
            "@evil.com/",
            "/@evil.com/",
            "//evil.com/x",
            "/\\evil.com",
            "\\\\evil.com\\x",
            "http://evil.com/",
            "/x#frag@evil.com",
            "/x?y=@evil.com",
            ":@evil.com:80/",
            "/%2F%2Fevil.com",
        ] {
            let u = t.url_for(path, Query::Raw("")).unwrap();
            assert_eq!(u.host(), Some("10.0.0.1"), "{path} -> {u}");
            assert_eq!(u.port_u16(), Some(8080), "{path} -> {u}");
            assert!(u.path().starts_with("/api/"), "{path} -> {u}");
            assert_eq!(u.query(), None, "{path} -> {u}");
        }
    }

    #[test]
    fn query_cannot_add_a_fragment() {
        let t = target("http://10.0.0.1/");
        let u = t.url_for("/x", Query::Raw("a=1#@evil")).unwrap();
        assert_eq!(u.to_string(), "http://10.0.0.1/x?a=1%23@evil");
        assert_eq!(u.query(), Some("a=1%23@evil"));
    }

    #[test]
    fn dot_segments_refused() {
        let t = target("http://10.0.0.1/api");
        for path in [
            "/..",
            "/../secret",
            "/a/../../b",
            "/a/./b",
            "/%2e%2e/x",
            "/%2E%2e/x",
            "/.%2e/x",
            "/%252e%252e/x",
            "/a\\..\\b",
            "/a%5c..%5cb",
            "/a%2f..%2fb",
            "..",
            // Path parameters after a dot segment: Tomcat, Jetty and Spring drop them first.
            "/..;/admin",
            "/.;/x",
            "/a/..;jsessionid=1/b",
            "/..;a=b;c",
            "/%2e%2e;/x",
            "/..%3b/x",
            // IIS `%u` escapes and overlong UTF-8.
            "/%u002e%u002e/x",
            "/%U002E./x",
            "/.%u002e",
            "/..%u002fx",
            "/%c0%ae%c0%ae/x",
            "/%e0%80%ae./x",
            "/..%c0%afx",
            "/%25u002e%25u002e/x",
            // Characters NFKC turns into dots and separators.
            "/\u{ff0e}\u{ff0e}/x",
            "/\u{2025}/x",
            "/.\u{fe52}/x",
            "/%EF%BC%8E%EF%BC%8E/x",
            "/a\u{ff0f}..\u{ff0f}b",
        ] {
            assert_eq!(url(&t, path, ""), Err(UrlError::DotSegment), "{path}");
        }
        // Characters a URL parser would delete cannot join two dots after the check.
        for path in ["/.\t.%2fsecret", "/x/.\n./y", "/\t../a", "/..\r"] {
            assert_eq!(url(&t, path, ""), Err(UrlError::DotSegment), "{path:?}");
        }
        assert_eq!(
            t.url_for("/a\tb", Query::Raw("")).unwrap().path(),
            "/api/a%09b"
        );
        for path in [
            "/a..b",
            "/...",
            "/.well-known/x",
            "/a.b/c..",
            "/%2e%2e%2e",
            "/a;..",
            "/;/x",
            "/...;/x",
            "/%u002ex",
            "/%u00",
            "/\u{ff0e}x",
            "/caf\u{e9}/\u{65e5}\u{672c}",
        ] {
            assert!(url(&t, path, "").is_ok(), "{path}");
        }
    }

    #[test]
    fn path_bytes_are_encoded_not_interpreted() {
        let t = target("http://10.0.0.1");
        assert_eq!(
            url(&t, "/a b/%41?/\"<>", "").unwrap(),
            "http://10.0.0.1/a%20b/%41%3F/%22%3C%3E"
        );
        assert_eq!(url(&t, "/a\\b", "").unwrap(), "http://10.0.0.1/a%5Cb");
        assert_eq!(
            url(&t, "/caf\u{e9}", "").unwrap(),
            "http://10.0.0.1/caf%C3%A9"
        );
    }

    #[test]
    fn raw_query_goes_byte_for_byte() {
        let t = target("https://10.0.3.7:8443/api");
        for raw in [
            "name=O'Brien&sig=3f9a",
            "a=!$&'()*+,;=:@/?~-._",
            "p[]=1&q={x}|y^z`w\\v",
            "pct=%41%zz%&x=100%",
            "a=b=c&&=&",
        ] {
            let u = t.url_for("/x", Query::Raw(raw)).unwrap();
            assert_eq!(u.query(), Some(raw), "{raw}");
            assert!(u.to_string().ends_with(&format!("/api/x?{raw}")), "{u}");
        }
        // Bytes that cannot stand in a request target are percent-encoded, nothing else.
        for (raw, sent) in [
            ("q=a b", "q=a%20b"),
            ("q=\"<x>\"", "q=%22%3Cx%3E%22"),
            ("q=caf\u{e9}'", "q=caf%C3%A9'"),
            ("q=\u{7f}\u{1}\t", "q=%7F%01%09"),
            ("q=1#frag", "q=1%23frag"),
        ] {
            let u = t.url_for("/x", Query::Raw(raw)).unwrap();
            assert_eq!(u.query(), Some(sent), "{raw:?}");
        }
    }

    #[test]
    fn v1_pairs_are_reencoded_in_order_with_repeats() {
        let t = target("http://10.0.0.1");
        let pairs = vec![
            ("q".to_owned(), vec!["a b".to_owned(), "c&d=e".to_owned()]),
            ("empty".to_owned(), vec![String::new()]),
            ("ü".to_owned(), vec!["+/?#".to_owned()]),
        ];
        let u = t.url_for("/s", Query::Pairs(&pairs)).unwrap();
        assert_eq!(u.path(), "/s");
        assert_eq!(
            u.query(),
            Some("q=a%20b&q=c%26d%3De&empty=&%C3%BC=%2B%2F%3F%23")
        );
    }

    #[test]
    fn bad_targets() {
        for bad in [
            "",
            "10.0.0.1:8080",
            "ftp://10.0.0.1",
            "http://user:pw@10.0.0.1",
            "http://10.0.0.1/?a=1",
            "http://10.0.0.1/#x",
            "file:///etc/passwd",
        ] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
    }
}
