//! What "the URL stays on the target" means, shared by the property tests (tests/prop_url.rs)
//! and the `url_build` fuzz target, which includes this file by path: the fuzz crate cannot
//! reach the rest of tests/common.

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

/// The path as a lenient backend sees it: percent escapes decoded up to four times, `\` as
/// well as `/` a separator, `.` and `..` resolved.
pub fn backend_view(path: &str) -> String {
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

/// The first way `url` leaves `target`, if any: another scheme, host or port, credentials, a
/// fragment, a path outside the prefix (as sent, or as a lenient backend reads it), or text
/// that parses back to a different URL.
pub fn violation(target: &Target, url: &reqwest::Url) -> Option<String> {
    if url.scheme() != target.scheme() {
        return Some(format!("scheme {}", url.scheme()));
    }
    if url.host_str() != Some(target.host()) {
        return Some(format!("host {:?}", url.host_str()));
    }
    if url.port_or_known_default() != target.port() {
        return Some(format!("port {:?}", url.port_or_known_default()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Some("credentials".to_owned());
    }
    if url.fragment().is_some() {
        return Some("a fragment".to_owned());
    }
    if !url.path().starts_with(&format!("{}/", target.prefix())) {
        return Some("a path outside the prefix".to_owned());
    }
    // What goes on the wire must parse back to the same URL: no second interpretation.
    if reqwest::Url::parse(url.as_str()).ok().as_ref() != Some(url) {
        return Some("a different URL when parsed again".to_owned());
    }
    let prefix_view = backend_view(target.prefix());
    let seen = backend_view(url.path());
    if !seen.starts_with(&prefix_view) {
        return Some(format!("a backend reads {seen:?}, outside {prefix_view:?}"));
    }
    None
}
