//! The names of the settings: every `PROXY_*` variable the function reads, and the refusal of
//! any other `PROXY_*` name with the closest known one. It must never accept an unknown name:
//! a misspelled setting would silently keep its default.

use super::ConfigError;

/// Every `PROXY_*` variable the function reads. Any other `PROXY_*` name stops the function
/// at start: a misspelled setting must never leave its value silently at the default.
pub const KNOWN_VARIABLES: &[&str] = &[
    "PROXY_TARGET_URL",
    "PROXY_ALLOWED_IPS",
    "PROXY_ALLOWED_IPS_FILE",
    "PROXY_FORWARD_HEADERS",
    "PROXY_UPSTREAM_HEADERS",
    "PROXY_TIMEOUT_MS",
    "PROXY_TLS_CA_FILE",
    "PROXY_TLS_INSECURE",
    "PROXY_TLS_CLIENT_CERT_FILE",
    "PROXY_TLS_CLIENT_KEY_FILE",
    "PROXY_METRICS_NAMESPACE",
    "PROXY_SERVICE_NAME",
    "PROXY_DENY_METRICS_PER_IP",
    "PROXY_DENY_METRICS_PER_IP_LIMIT",
    "PROXY_ALLOWED_IPS_PARAMETER",
    "PROXY_UPSTREAM_HEADERS_SECRET",
    "PROXY_CONFIG_REFRESH_S",
    "PROXY_RESPONSE_MODE",
];

/// Refuses the first `PROXY_*` name that is not a known setting, naming the closest known one.
pub fn refuse_unknown(names: impl IntoIterator<Item = String>) -> Result<(), ConfigError> {
    let mut unknown: Vec<String> = names
        .into_iter()
        .filter(|n| n.starts_with("PROXY_") && !KNOWN_VARIABLES.contains(&n.as_str()))
        .collect();
    unknown.sort();
    let Some(name) = unknown.into_iter().next() else {
        return Ok(());
    };
    let closest = closest_known(&name);
    Err(ConfigError::new(
        name,
        format!(
            "is not a vpc-proxy setting (did you mean {closest}?); a misspelled setting would silently keep its default, so the function does not start"
        ),
    ))
}

/// The known variable nearest to `name` by edit distance (ties: the first in table order).
fn closest_known(name: &str) -> &'static str {
    KNOWN_VARIABLES
        .iter()
        .min_by_key(|known| strsim::levenshtein(name, known))
        .copied()
        .unwrap_or("PROXY_TARGET_URL")
}
