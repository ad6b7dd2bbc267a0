//! Redaction of secrets from anything that might be logged.
//!
//! It owns the list of secret header names (client credentials plus every
//! `PROXY_UPSTREAM_HEADERS` name) and the secret values themselves, and rewrites an event
//! before a DEBUG dump. Secrets go by place (credential headers and cookies, the API key and
//! access key API Gateway copies into `requestContext.identity`, everything an authorizer
//! returns, every query-string value) and by value: a credential seen in one place is
//! redacted wherever else in the event it appears. It must never return text that still
//! contains a secret value.

use serde_json::{Map, Value};

pub const REDACTED: &str = "[REDACTED]";

/// Client header names whose values are credentials.
const CLIENT_SECRET_HEADERS: &[&str] = &[
    "authorization",
    "cookie",
    "proxy-authorization",
    "x-api-key",
    // The session token of a SigV4-signed request (IAM authorization): a credential.
    "x-amz-security-token",
];

/// `requestContext.identity` members that hold credentials.
const IDENTITY_SECRETS: &[&str] = &["apiKey", "accessKey"];

/// Secrets shorter than this are matched as whole strings only: as substrings they would
/// blank out every string that happens to contain, say, `1`.
const MIN_SUBSTRING_SECRET: usize = 6;

#[derive(Debug, Clone, Default)]
pub struct Redactor {
    names: Vec<String>,
    values: Vec<String>,
}

impl Redactor {
    /// The client credential headers plus `upstream_names` (the upstream headers the proxy
    /// adds), and `secret_values` (their values) to be found anywhere. It takes names and
    /// values, not the headers type, so telemetry knows nothing of how headers are parsed.
    pub fn new<'a>(
        upstream_names: impl IntoIterator<Item = &'a str>,
        secret_values: impl IntoIterator<Item = &'a [u8]>,
    ) -> Redactor {
        let mut names: Vec<String> = CLIENT_SECRET_HEADERS
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        names.extend(upstream_names.into_iter().map(str::to_owned));
        let values = secret_values
            .into_iter()
            .filter(|v| !v.is_empty())
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .collect();
        Redactor { names, values }
    }

    /// This redactor and `other` together: live configuration keeps every secret value that
    /// was ever in force, so a value rotated out is still never printed.
    pub fn with(&self, other: &Redactor) -> Redactor {
        let mut out = self.clone();
        for name in &other.names {
            if !out.is_secret_name(name) {
                out.names.push(name.clone());
            }
        }
        for value in &other.values {
            if !out.values.contains(value) {
                out.values.push(value.clone());
            }
        }
        out
    }

    fn is_secret_name(&self, name: &str) -> bool {
        self.names.iter().any(|n| n.eq_ignore_ascii_case(name))
    }

    /// The event as JSON text with every secret replaced (see the module doc). Unparseable
    /// input is withheld whole.
    pub fn event(&self, raw: &str) -> String {
        let Ok(mut value) = serde_json::from_str::<Value>(raw) else {
            return format!("\"{REDACTED}: unparseable event\"");
        };
        let mut secrets = Secrets(self.values.clone());
        if let Value::Object(map) = &mut value {
            self.redact_places(map, &mut secrets);
        }
        secrets.scrub(&mut value);
        value.to_string()
    }

    /// Redacts the secrets' known places, collecting each value for the by-value pass.
    fn redact_places(&self, map: &mut Map<String, Value>, secrets: &mut Secrets) {
        for field in ["headers", "multiValueHeaders"] {
            if let Some(Value::Object(headers)) = map.get_mut(field) {
                for (name, v) in headers.iter_mut() {
                    if self.is_secret_name(name) {
                        let cookie = name.eq_ignore_ascii_case("cookie");
                        for_each_string(v, &mut |s| secrets.add_header_value(s, cookie));
                        *v = redact_shape(v);
                    }
                }
            }
        }
        if let Some(cookies) = map.get_mut("cookies") {
            for_each_string(cookies, &mut |s| secrets.add_header_value(s, true));
            *cookies = redact_shape(cookies);
        }
        for field in ["queryStringParameters", "multiValueQueryStringParameters"] {
            if let Some(Value::Object(params)) = map.get_mut(field) {
                for v in params.values_mut() {
                    *v = redact_shape(v);
                }
            }
        }
        if let Some(Value::String(query)) = map.get_mut("rawQueryString") {
            *query = redact_query(query);
        }
        if let Some(Value::Object(context)) = map.get_mut("requestContext") {
            if let Some(Value::Object(identity)) = context.get_mut("identity") {
                for name in IDENTITY_SECRETS {
                    if let Some(v) = identity.get_mut(*name) {
                        for_each_string(v, &mut |s| secrets.add(s));
                        *v = redact_leaves(v);
                    }
                }
            }
            // Whatever an authorizer hands over (claims, IAM keys, a Lambda authorizer's
            // context) may be a token or derived from one; keys stay, values go.
            if let Some(authorizer) = context.get_mut("authorizer") {
                for_each_string(authorizer, &mut |s| secrets.add(s));
                *authorizer = redact_leaves(authorizer);
            }
        }
    }
}

/// Secret values, to be redacted wherever they appear.
struct Secrets(Vec<String>);

impl Secrets {
    fn add(&mut self, value: &str) {
        let value = value.trim();
        if !value.is_empty() && value != REDACTED && !self.0.iter().any(|v| v == value) {
            self.0.push(value.to_owned());
        }
    }

    /// A credential header's value, and the parts of it that are secrets on their own: the
    /// credentials after an `Authorization` scheme, each cookie and each cookie's value.
    fn add_header_value(&mut self, value: &str, cookie: bool) {
        self.add(value);
        if cookie {
            for pair in value.split(';') {
                self.add(pair);
                if let Some((_, v)) = pair.split_once('=') {
                    self.add(v);
                }
            }
        } else if let Some((_, credentials)) = value.trim().split_once(' ') {
            self.add(credentials);
        }
    }

    fn matches(&self, text: &str) -> bool {
        self.0.iter().any(|secret| {
            if secret.len() >= MIN_SUBSTRING_SECRET {
                text.contains(secret.as_str())
            } else {
                text.trim() == secret
            }
        })
    }

    /// Replaces any string containing a secret value, wherever it sits, object keys included.
    fn scrub(&self, value: &mut Value) {
        match value {
            Value::String(s) if self.matches(s) => *s = REDACTED.to_owned(),
            Value::Array(items) => items.iter_mut().for_each(|v| self.scrub(v)),
            Value::Object(map) => {
                if map.keys().any(|k| self.matches(k)) {
                    *map = std::mem::take(map)
                        .into_iter()
                        .map(|(k, v)| match self.matches(&k) {
                            true => (REDACTED.to_owned(), v),
                            false => (k, v),
                        })
                        .collect();
                }
                map.values_mut().for_each(|v| self.scrub(v));
            }
            _ => {}
        }
    }
}

fn for_each_string(value: &Value, f: &mut impl FnMut(&str)) {
    match value {
        Value::String(s) => f(s),
        Value::Array(items) => items.iter().for_each(|v| for_each_string(v, f)),
        Value::Object(map) => map.values().for_each(|v| for_each_string(v, f)),
        _ => {}
    }
}

/// The same structure with every string, number and boolean replaced.
fn redact_leaves(value: &Value) -> Value {
    match value {
        Value::Null => Value::Null,
        Value::Array(items) => Value::Array(items.iter().map(redact_leaves).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), redact_leaves(v)))
                .collect(),
        ),
        _ => Value::from(REDACTED),
    }
}

/// `a=1&b` → `a=[REDACTED]&b`: names stay (they say what the request was), values go.
fn redact_query(query: &str) -> String {
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) => format!("{name}={REDACTED}"),
            None => pair.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn redact_shape(value: &Value) -> Value {
    match value {
        Value::Array(items) => Value::Array(items.iter().map(|_| Value::from(REDACTED)).collect()),
        Value::Null => Value::Null,
        _ => Value::from(REDACTED),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_gone() {
        let r = Redactor::new(["x-backend-token"], [b"tok-123".as_slice()]);
        let out = r.event(
            r#"{"headers":{"Authorization":"Bearer abc","COOKIE":"s=1","x-api-key":"k","Accept":"a"},
                "multiValueHeaders":{"Proxy-Authorization":["Basic zz"],"X-Backend-Token":["client-copy"]},
                "cookies":["s=1"],"body":"echo tok-123 back"}"#,
        );
        for secret in [
            "Bearer abc",
            "s=1",
            "\"k\"",
            "Basic zz",
            "client-copy",
            "tok-123",
        ] {
            assert!(!out.contains(secret), "{secret} in {out}");
        }
        assert!(out.contains("\"Accept\":\"a\""));
    }

    #[test]
    fn credentials_copied_elsewhere_in_the_event_are_gone() {
        let r = Redactor::new([], []);
        let out = r.event(
            r#"{"path":"/x","headers":{"x-api-key":"key-0123456789","Cookie":"sid=cookie-abcdef; theme=dark",
                "Authorization":"Bearer tok-987654321"},
                "queryStringParameters":{"token":"q-secret-1","page":"2"},
                "multiValueQueryStringParameters":{"token":["q-secret-1"],"page":["2"]},
                "requestContext":{"identity":{"apiKey":"key-0123456789","accessKey":"AKIAEXAMPLE",
                    "sourceIp":"198.51.100.7","caller":"x"},
                  "authorizer":{"principalId":"user","claims":{"token":"tok-987654321"},
                    "lambda":{"anything":"authz-ctx-1"}}},
                "body":"echo cookie-abcdef and tok-987654321 and key-0123456789"}"#,
        );
        for secret in [
            "key-0123456789",
            "cookie-abcdef",
            "tok-987654321",
            "q-secret-1",
            "AKIAEXAMPLE",
            "authz-ctx-1",
        ] {
            assert!(!out.contains(secret), "{secret} in {out}");
        }
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["requestContext"]["identity"]["sourceIp"], "198.51.100.7");
        assert_eq!(
            v["queryStringParameters"]["page"], REDACTED,
            "every query value"
        );
        assert_eq!(v["path"], "/x");
    }

    #[test]
    fn a_secret_as_an_object_key_is_gone_too() {
        let out = Redactor::new(["x-backend-token"], [b"tok-123456".as_slice()])
            .event(r#"{"headers":{"tok-123456":"x"},"a":{"b tok-123456":1}}"#);
        assert!(!out.contains("tok-123456"), "{out}");
    }

    #[test]
    fn v2_raw_query_values_and_cookie_values_are_gone() {
        let r = Redactor::new([], []);
        let out = r.event(
            r#"{"version":"2.0","rawQueryString":"a=1&token=q-secret-2&flag&b=","cookies":["sid=cookie-v2-secret"],
                "queryStringParameters":{"a":"1","token":"q-secret-2"},
                "headers":{"referer":"https://x/?c=cookie-v2-secret"},
                "requestContext":{"authorizer":{"jwt":{"claims":{"sub":"u"},"scopes":["s"]}}}}"#,
        );
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            v["rawQueryString"],
            format!("a={REDACTED}&token={REDACTED}&flag&b={REDACTED}")
        );
        assert!(
            !out.contains("q-secret-2") && !out.contains("cookie-v2-secret"),
            "{out}"
        );
    }
}
