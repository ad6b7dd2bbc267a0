//! The backend origin and the only way to build a URL on it.
//!
//! `Target` is `PROXY_TARGET_URL` validated once: scheme, host, port and path prefix. Every
//! backend URL comes from `Target::url_for`, which sets path and query on a copy of the parsed
//! base and never concatenates strings, so no request can change the scheme, host, port or
//! leave the prefix. It refuses dot segments (raw or percent-encoded) instead of resolving
//! them, because a backend that decodes `%2e%2e` after us would walk out of the prefix.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use reqwest::Url;

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
    /// v2 `rawQueryString`: forwarded verbatim.
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

    /// The backend URL for a request path (stage already removed) and query.
    pub fn url_for(&self, path: &str, query: Query<'_>) -> Result<Url, UrlError> {
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
        match query {
            Query::Raw("") => {}
            Query::Raw(raw) => url.set_query(Some(raw)),
            Query::Pairs([]) => {}
            Query::Pairs(pairs) => {
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
                if !q.is_empty() {
                    url.set_query(Some(&q));
                }
            }
        }
        // Defence in depth: whatever the parser did, the origin and prefix must hold.
        let same_origin = url.scheme() == self.base.scheme()
            && url.host() == self.base.host()
            && url.port_or_known_default() == self.base.port_or_known_default()
            && url.username().is_empty()
            && url.password().is_none()
            && url.fragment().is_none();
        let in_prefix = url.path().starts_with(&self.prefix)
            && matches!(url.path().as_bytes().get(self.prefix.len()), Some(b'/'));
        if same_origin && in_prefix {
            Ok(url)
        } else {
            Err(UrlError::LeavesTarget)
        }
    }
}

/// True when any segment is `.` or `..`, raw or percent-encoded (decoded up to three times,
/// for backends that decode more than once), with `/` and `\` both taken as separators.
fn has_dot_segment(path: &str) -> bool {
    let mut current = std::borrow::Cow::Borrowed(path);
    for _ in 0..4 {
        if current
            .split(['/', '\\'])
            .any(|segment| segment == "." || segment == "..")
        {
            return true;
        }
        if !current.contains('%') {
            return false;
        }
        let decoded = percent_decode_str(&current)
            .decode_utf8_lossy()
            .into_owned();
        if decoded == current.as_ref() {
            return false;
        }
        current = std::borrow::Cow::Owned(decoded);
    }
    false
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
            assert_eq!(u.host_str(), Some("10.0.0.1"), "{path} -> {u}");
            assert_eq!(u.port(), Some(8080), "{path} -> {u}");
            assert!(u.path().starts_with("/api/"), "{path} -> {u}");
            assert_eq!(u.fragment(), None, "{path} -> {u}");
            assert_eq!(u.query(), None, "{path} -> {u}");
        }
    }

    #[test]
    fn query_cannot_add_a_fragment() {
        let t = target("http://10.0.0.1/");
        let u = t.url_for("/x", Query::Raw("a=1#@evil")).unwrap();
        assert_eq!(u.fragment(), None);
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
        for path in ["/a..b", "/...", "/.well-known/x", "/a.b/c..", "/%2e%2e%2e"] {
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
    fn v1_pairs_are_reencoded_in_order_with_repeats() {
        let t = target("http://10.0.0.1");
        let pairs = vec![
            ("q".to_owned(), vec!["a b".to_owned(), "c&d=e".to_owned()]),
            ("empty".to_owned(), vec![String::new()]),
            ("ü".to_owned(), vec!["+/?#".to_owned()]),
        ];
        let u = t.url_for("/s", Query::Pairs(&pairs)).unwrap();
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
