//! What "the URL stays on the target" means, shared by the property tests (tests/prop_url.rs)
//! and the `url_build` fuzz target: the fixture targets, the path as a lenient backend reads
//! it, the query as it must reach the backend, and the first rule a built URL breaks.
//!
//! It is an oracle, written apart from `target.rs` on purpose: it must never call the code it
//! judges beyond parsing the fixture targets.

use vpc_proxy::target::Target;

/// Targets with and without ports, prefixes, IPv6 hosts and names.
pub const TARGETS: &[&str] = &[
    "http://10.0.0.1",
    "http://10.0.0.1:8080/api",
    "https://10.0.3.7:8443/api/v1/",
    "https://backend.internal/",
    "http://[fd00::7]:9000/p%20q",
    "https://svc.example:443/a/b/c",
];

/// The path as a lenient backend sees it: percent escapes (and IIS `%uXXXX` ones) decoded up
/// to four times, NFKC dot and slash lookalikes folded, `\` as well as `/` a separator, `;`
/// path parameters dropped from each segment (Tomcat, Jetty, Spring), `.` and `..` resolved.
pub fn backend_view(path: &str) -> String {
    let mut current = path.to_owned();
    for _ in 0..4 {
        let decoded = percent_encoding::percent_decode_str(&decode_percent_u(&current))
            .decode_utf8_lossy()
            .into_owned();
        if decoded == current {
            break;
        }
        current = decoded;
    }
    // NFKC, as some frameworks apply it to paths, for the characters it turns into dots and
    // separators.
    let current = current
        .replace(['\u{ff0e}', '\u{fe52}', '\u{2024}'], ".")
        .replace('\u{2025}', "..")
        .replace('\u{ff0f}', "/")
        .replace('\u{ff3c}', "\\");
    let mut stack: Vec<&str> = Vec::new();
    for segment in current.split(['/', '\\']) {
        let name = segment.split(';').next().unwrap_or(segment);
        match name {
            "." => {}
            ".." => {
                stack.pop();
            }
            _ => stack.push(segment),
        }
    }
    stack.join("/")
}

/// `%uXXXX` → the character, as IIS reads it.
fn decode_percent_u(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('%') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        let code = tail
            .get(1..6)
            .filter(|s| s.starts_with(['u', 'U']))
            .and_then(|s| u32::from_str_radix(&s[1..], 16).ok())
            .and_then(char::from_u32);
        match code {
            Some(c) => {
                out.push(c);
                rest = &tail[6..];
            }
            None => {
                out.push('%');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The v2 query the backend must receive for `raw`: each character that may stand in a
/// request target's query as it is (printable ASCII but `"`, `#`, `<`, `>`), everything else
/// as `%XX` per UTF-8 byte.
pub fn expected_raw_query(raw: &str) -> String {
    let mut out = String::new();
    for c in raw.chars() {
        if c.is_ascii_graphic() && !matches!(c, '"' | '#' | '<' | '>') {
            out.push(c);
        } else {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        }
    }
    out
}

/// The first way `uri` leaves `target`, if any: another scheme, host or port, a path outside
/// the prefix (as sent, or as a lenient backend reads it), or text that parses back to
/// something else (by `http` as sent, or by a WHATWG URL parser such as a backend's).
pub fn violation(target: &Target, uri: &http::Uri) -> Option<String> {
    if uri.scheme_str() != Some(target.scheme()) {
        return Some(format!("scheme {:?}", uri.scheme_str()));
    }
    if uri.host() != Some(target.host()) {
        return Some(format!("host {:?}", uri.host()));
    }
    let default = if target.scheme() == "https" { 443 } else { 80 };
    if Some(uri.port_u16().unwrap_or(default)) != target.port() {
        return Some(format!("port {:?}", uri.port_u16()));
    }
    if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
        return Some("credentials".to_owned());
    }
    if !uri.path().starts_with(&format!("{}/", target.prefix())) {
        return Some("a path outside the prefix".to_owned());
    }
    // What goes on the wire must parse back to the same URI: no second interpretation.
    let text = uri.to_string();
    if http::Uri::try_from(text.as_str()).ok().as_ref() != Some(uri) {
        return Some("a different URI when parsed again".to_owned());
    }
    match url::Url::parse(&text) {
        Ok(url)
            if url.host_str() == Some(target.host())
                && url.port_or_known_default() == target.port()
                && url.path() == uri.path()
                && url.fragment().is_none() => {}
        _ => return Some("a different URL to a WHATWG parser".to_owned()),
    }
    let prefix_view = backend_view(target.prefix());
    let seen = backend_view(uri.path());
    if !seen.starts_with(&prefix_view) {
        return Some(format!("a backend reads {seen:?}, outside {prefix_view:?}"));
    }
    None
}
