//! The live sources' settings: which parameter and secret are read through the Parameters
//! and Secrets extension, how often, on which port, with which token. It owns their defaults
//! and refusals; it must never read a source itself (that is `crate::live`) nor let the
//! session token reach a `Debug` string.

use std::path::PathBuf;
use std::time::Duration;

use super::ConfigError;

pub const DEFAULT_CONFIG_REFRESH_S: u64 = 30;
const MAX_CONFIG_REFRESH_S: u64 = 3600;
/// The Parameters and Secrets Lambda Extension's default port.
pub const DEFAULT_EXTENSION_PORT: u16 = 2773;

/// Where the live sources are and how often they are read again (see `crate::live`).
#[derive(Debug, Clone)]
pub struct LiveConfig {
    /// `PROXY_ALLOWED_IPS_PARAMETER`: SSM parameter name or ARN.
    pub parameter: Option<String>,
    /// `PROXY_UPSTREAM_HEADERS_SECRET`: Secrets Manager secret name or ARN.
    pub secret: Option<String>,
    /// `PROXY_ALLOWED_IPS_FILE`, when the file is read again as it changes (local mode only:
    /// in Lambda it is part of the read-only deployment package).
    pub watched_file: Option<PathBuf>,
    pub refresh: Duration,
    /// `PARAMETERS_SECRETS_EXTENSION_HTTP_PORT`.
    pub extension_port: u16,
    /// `AWS_SESSION_TOKEN`, the extension's access token. Never logged.
    pub session_token: Option<SessionToken>,
}

impl LiveConfig {
    /// Is anything read through the extension?
    pub fn uses_extension(&self) -> bool {
        self.parameter.is_some() || self.secret.is_some()
    }
}

/// A credential that must never reach a log line: `Debug` hides it.
#[derive(Clone)]
pub struct SessionToken(pub(crate) String);

impl SessionToken {
    pub fn new(token: impl Into<String>) -> SessionToken {
        SessionToken(token.into())
    }
}

impl std::fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionToken(<redacted>)")
    }
}

/// The live sources' settings, and the extension's port and token when one is in use.
pub(super) fn live_config(
    get: &impl Fn(&str) -> Option<String>,
    parameter: Option<String>,
) -> Result<LiveConfig, ConfigError> {
    let secret = get("PROXY_UPSTREAM_HEADERS_SECRET").map(|s| s.trim().to_owned());
    let refresh_s = match get("PROXY_CONFIG_REFRESH_S") {
        None => DEFAULT_CONFIG_REFRESH_S,
        Some(text) => match text.trim().parse::<u64>() {
            Ok(s) if (1..=MAX_CONFIG_REFRESH_S).contains(&s) => s,
            _ => {
                return Err(ConfigError::new(
                    "PROXY_CONFIG_REFRESH_S",
                    format!("must be a whole number of seconds from 1 to {MAX_CONFIG_REFRESH_S}"),
                )
                .value(text));
            }
        },
    };
    let uses_extension = parameter.is_some() || secret.is_some();
    let extension_port = match get("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT") {
        None => DEFAULT_EXTENSION_PORT,
        Some(text) => match text.trim().parse::<u16>() {
            Ok(port) if port > 0 => port,
            _ => {
                return Err(ConfigError::new(
                    "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT",
                    "must be a TCP port from 1 to 65535",
                )
                .value(text));
            }
        },
    };
    let session_token = get("AWS_SESSION_TOKEN").map(SessionToken);
    if uses_extension && session_token.is_none() {
        let variable = if parameter.is_some() {
            "PROXY_ALLOWED_IPS_PARAMETER"
        } else {
            "PROXY_UPSTREAM_HEADERS_SECRET"
        };
        return Err(ConfigError::new(
            variable,
            "needs AWS_SESSION_TOKEN (Lambda sets it; the Parameters and Secrets extension refuses calls without it)",
        ));
    }
    Ok(LiveConfig {
        parameter,
        secret,
        watched_file: None,
        refresh: Duration::from_secs(refresh_s),
        extension_port,
        session_token,
    })
}
