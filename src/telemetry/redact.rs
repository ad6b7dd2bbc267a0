//! Redaction of secrets from anything that might be logged.
//!
//! It owns the list of secret header names (client credentials plus every
//! `PROXY_UPSTREAM_HEADERS` name) and the secret values themselves, and rewrites an event
//! before a DEBUG dump. It must never return text that still contains a secret value.

use serde_json::Value;

use crate::headers::UpstreamHeaders;

pub const REDACTED: &str = "[REDACTED]";

/// Client header names whose values are credentials.
const CLIENT_SECRET_HEADERS: &[&str] = &[
    "authorization",
    "cookie",
    "proxy-authorization",
    "x-api-key",
];

#[derive(Debug, Clone, Default)]
pub struct Redactor {
    names: Vec<String>,
    values: Vec<String>,
}

impl Redactor {
    pub fn new(upstream: &UpstreamHeaders) -> Redactor {
        let mut names: Vec<String> = CLIENT_SECRET_HEADERS
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        names.extend(upstream.names().map(|n| n.as_str().to_owned()));
        let values = upstream
            .secret_values()
            .filter(|v| !v.is_empty())
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .collect();
        Redactor { names, values }
    }

    fn is_secret_name(&self, name: &str) -> bool {
        self.names.iter().any(|n| n.eq_ignore_ascii_case(name))
    }

    /// The event as JSON text with secret header values, cookies and any upstream secret
    /// value anywhere replaced. Unparseable input is withheld whole.
    pub fn event(&self, raw: &str) -> String {
        let Ok(mut value) = serde_json::from_str::<Value>(raw) else {
            return format!("\"{REDACTED}: unparseable event\"");
        };
        if let Value::Object(map) = &mut value {
            for field in ["headers", "multiValueHeaders"] {
                if let Some(Value::Object(headers)) = map.get_mut(field) {
                    for (name, v) in headers.iter_mut() {
                        if self.is_secret_name(name) {
                            *v = redact_shape(v);
                        }
                    }
                }
            }
            if let Some(cookies) = map.get_mut("cookies") {
                *cookies = redact_shape(cookies);
            }
        }
        self.scrub(&mut value);
        value.to_string()
    }

    /// Replaces any string containing a secret value, wherever it sits.
    fn scrub(&self, value: &mut Value) {
        match value {
            Value::String(s) if self.values.iter().any(|secret| s.contains(secret.as_str())) => {
                *s = REDACTED.to_owned();
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.scrub(v)),
            Value::Object(map) => map.values_mut().for_each(|v| self.scrub(v)),
            _ => {}
        }
    }
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
        let up = UpstreamHeaders::parse("X-Backend-Token: tok-123").unwrap();
        let r = Redactor::new(&up);
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
}
