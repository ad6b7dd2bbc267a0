//! Configuration: every environment variable of the contract (docs/CONTRACT.md), read
//! once at start into typed values.
//!
//! It owns defaults, validation and the wording of configuration errors, which always name the
//! variable, the line where that applies, and the bad value (never a secret's value). It must
//! never be consulted per request: the handler holds the parsed `Config`, not the environment.
//!
//! The list of setting names is `names`; the live sources' settings are `live`.

mod live;
mod names;

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::allowlist::AllowList;
use crate::headers::{DEFAULT_FORWARD_HEADERS, ForwardPolicy, UpstreamHeaders};
use crate::target::Target;
use crate::telemetry::TelemetryConfig;
use crate::tls::{ClientIdentity, TlsSettings, read_certificates, read_private_key};

use self::live::live_config;
pub use self::live::{DEFAULT_CONFIG_REFRESH_S, DEFAULT_EXTENSION_PORT, LiveConfig, SessionToken};
pub use self::names::{KNOWN_VARIABLES, refuse_unknown};

pub const DEFAULT_TIMEOUT_MS: u64 = 10_000;
pub const DEFAULT_NAMESPACE: &str = "VpcProxy";
pub const DEFAULT_SERVICE: &str = "vpc-proxy";
pub const DEFAULT_DENY_PER_IP_LIMIT: usize = 50;
/// Lambda's longest timeout; a larger backend timeout can only be a typo.
const MAX_TIMEOUT_MS: u64 = 900_000;
const MAX_DENY_PER_IP_LIMIT: usize = 10_000;

/// A setting that stops the function at start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid configuration: {variable}{}: {problem}{}",
    line.map(|l| format!(" line {l}")).unwrap_or_default(),
    value.as_ref().map(|v| format!(": {v:?}")).unwrap_or_default())]
pub struct ConfigError {
    pub variable: String,
    pub line: Option<usize>,
    pub value: Option<String>,
    pub problem: String,
}

impl From<crate::tls::TlsError> for ConfigError {
    fn from(e: crate::tls::TlsError) -> ConfigError {
        ConfigError::new(e.variable, e.problem)
    }
}

impl ConfigError {
    pub(crate) fn new(variable: impl Into<String>, problem: impl Into<String>) -> ConfigError {
        ConfigError {
            variable: variable.into(),
            line: None,
            value: None,
            problem: problem.into(),
        }
    }

    pub(crate) fn value(mut self, value: impl Into<String>) -> ConfigError {
        self.value = Some(value.into());
        self
    }

    fn line(mut self, line: usize) -> ConfigError {
        self.line = Some(line);
        self
    }
}

/// Everything the function needs, validated.
#[derive(Debug)]
pub struct Config {
    pub target: Target,
    /// The union of `PROXY_ALLOWED_IPS` and `PROXY_ALLOWED_IPS_FILE` as read at start.
    pub allow_list: AllowList,
    /// `PROXY_ALLOWED_IPS` alone, for local mode, where the file is read again as it changes.
    pub(crate) allowed_ips_inline: AllowList,
    pub live: LiveConfig,
    pub forward: ForwardPolicy,
    pub upstream_headers: UpstreamHeaders,
    pub timeout: Duration,
    pub tls: TlsSettings,
    /// Paths, for the start-up line.
    pub tls_ca_file: Option<PathBuf>,
    pub allowed_ips_file: Option<PathBuf>,
    pub telemetry: TelemetryConfig,
    /// Things worth a WARN line at start (empty list, insecure TLS, allow-all ranges).
    pub warnings: Vec<String>,
    /// `PROXY_RESPONSE_MODE`: how answers go back to Lambda.
    pub response_mode: ResponseMode,
}

/// How the function hands its answers to Lambda (`PROXY_RESPONSE_MODE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ResponseMode {
    /// One JSON payload per invocation, under Lambda's 6 MB limit.
    #[default]
    Buffered,
    /// Lambda response streaming: a metadata prelude, then the body as it arrives.
    Streaming,
}

impl ResponseMode {
    pub fn as_str(self) -> &'static str {
        match self {
            ResponseMode::Buffered => "buffered",
            ResponseMode::Streaming => "streaming",
        }
    }
}

impl Config {
    /// Reads the process environment, refusing any `PROXY_*` variable it does not know.
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_env_with(&[])
    }

    /// Reads the process environment with some variables replaced (local mode's built-in
    /// defaults); `None` stands for unset. Unknown `PROXY_*` variables are refused all the same.
    pub fn from_env_with(overrides: &[(&str, Option<String>)]) -> Result<Config, ConfigError> {
        refuse_unknown(std::env::vars_os().map(|(name, _)| name.to_string_lossy().into_owned()))?;
        let non_unicode = std::cell::RefCell::new(None);
        let config = Config::from_lookup(|name| {
            if let Some((_, value)) = overrides.iter().find(|(n, _)| *n == name) {
                return value.clone();
            }
            match std::env::var(name) {
                Ok(v) => Some(v),
                Err(std::env::VarError::NotPresent) => None,
                Err(std::env::VarError::NotUnicode(raw)) => {
                    non_unicode.borrow_mut().get_or_insert_with(|| {
                        ConfigError::new(name, "value is not valid UTF-8")
                            .value(raw.to_string_lossy())
                    });
                    None
                }
            }
        });
        match non_unicode.into_inner() {
            Some(err) => Err(err),
            None => config,
        }
    }

    /// Reads configuration through `lookup` (tests pass a map; nothing touches the process).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        // An empty variable is an unset one: Lambda consoles and templates leave blanks.
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let mut warnings = Vec::new();

        let target_text = get("PROXY_TARGET_URL").ok_or_else(|| {
            ConfigError::new("PROXY_TARGET_URL", "is required (the backend base URL)")
        })?;
        let target = Target::parse(&target_text)
            .map_err(|why| ConfigError::new("PROXY_TARGET_URL", why).value(target_text.clone()))?;

        // Present but empty is a list with no entries (deny all, warned), not a missing one.
        let inline = lookup("PROXY_ALLOWED_IPS");
        let allowed_ips_file = get("PROXY_ALLOWED_IPS_FILE").map(PathBuf::from);
        let parameter = get("PROXY_ALLOWED_IPS_PARAMETER").map(|p| p.trim().to_owned());
        if inline.is_none() && allowed_ips_file.is_none() && parameter.is_none() {
            return Err(ConfigError::new(
                "PROXY_ALLOWED_IPS",
                "at least one of PROXY_ALLOWED_IPS, PROXY_ALLOWED_IPS_FILE or PROXY_ALLOWED_IPS_PARAMETER must be set",
            ));
        }
        let allowed_ips_inline = match &inline {
            Some(text) => AllowList::parse(text).map_err(|e| {
                ConfigError::new("PROXY_ALLOWED_IPS", e.why)
                    .line(e.line)
                    .value(e.entry)
            })?,
            None => AllowList::default(),
        };
        let allow_list = match &allowed_ips_file {
            Some(path) => {
                let from_file = read_allow_list_file(path)?;
                allowed_ips_inline.union(&from_file)
            }
            None => allowed_ips_inline.clone(),
        };
        if allow_list.is_empty() && parameter.is_none() {
            warnings.push("the allow-list has no entries: every request will be denied".to_owned());
        }
        if allow_list.contains(std::net::Ipv4Addr::UNSPECIFIED.into())
            && allow_list.contains(std::net::Ipv4Addr::BROADCAST.into())
        {
            warnings.push("the allow-list admits every IPv4 address (0.0.0.0/0)".to_owned());
        }

        let forward_text =
            get("PROXY_FORWARD_HEADERS").unwrap_or_else(|| DEFAULT_FORWARD_HEADERS.to_owned());
        let forward = ForwardPolicy::parse(&forward_text).map_err(|bad| {
            ConfigError::new("PROXY_FORWARD_HEADERS", "not a valid header name").value(bad)
        })?;

        let upstream_headers = match get("PROXY_UPSTREAM_HEADERS") {
            Some(text) => UpstreamHeaders::parse(&text)
                .map_err(|e| ConfigError::new("PROXY_UPSTREAM_HEADERS", e.to_string()))?,
            None => UpstreamHeaders::default(),
        };

        let timeout_ms = match get("PROXY_TIMEOUT_MS") {
            None => DEFAULT_TIMEOUT_MS,
            Some(text) => match text.trim().parse::<u64>() {
                Ok(ms) if (1..=MAX_TIMEOUT_MS).contains(&ms) => ms,
                _ => {
                    return Err(ConfigError::new(
                        "PROXY_TIMEOUT_MS",
                        format!(
                            "must be a whole number of milliseconds from 1 to {MAX_TIMEOUT_MS}"
                        ),
                    )
                    .value(text));
                }
            },
        };

        let insecure = parse_bool(&get, "PROXY_TLS_INSECURE")?;
        if insecure {
            warnings.push(
                "PROXY_TLS_INSECURE=true: the backend's TLS certificate is NOT verified".to_owned(),
            );
        }
        let tls_ca_file = get("PROXY_TLS_CA_FILE").map(PathBuf::from);
        let extra_roots = match &tls_ca_file {
            Some(path) => {
                read_certificates(path).map_err(|why| file_error("PROXY_TLS_CA_FILE", path, why))?
            }
            None => Vec::new(),
        };
        let client_identity = match (
            get("PROXY_TLS_CLIENT_CERT_FILE").map(PathBuf::from),
            get("PROXY_TLS_CLIENT_KEY_FILE").map(PathBuf::from),
        ) {
            (None, None) => None,
            (Some(cert), Some(key)) => Some(ClientIdentity {
                chain: read_certificates(&cert)
                    .map_err(|why| file_error("PROXY_TLS_CLIENT_CERT_FILE", &cert, why))?,
                key: read_private_key(&key)
                    .map_err(|why| file_error("PROXY_TLS_CLIENT_KEY_FILE", &key, why))?,
            }),
            (Some(_), None) => {
                return Err(ConfigError::new(
                    "PROXY_TLS_CLIENT_KEY_FILE",
                    "is required when PROXY_TLS_CLIENT_CERT_FILE is set",
                ));
            }
            (None, Some(_)) => {
                return Err(ConfigError::new(
                    "PROXY_TLS_CLIENT_CERT_FILE",
                    "is required when PROXY_TLS_CLIENT_KEY_FILE is set",
                ));
            }
        };
        if target.scheme() == "http"
            && (insecure || tls_ca_file.is_some() || client_identity.is_some())
        {
            warnings.push("TLS settings are ignored: PROXY_TARGET_URL is plain http".to_owned());
        }

        let namespace =
            get("PROXY_METRICS_NAMESPACE").unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned());
        validate_namespace(&namespace).map_err(|why| {
            ConfigError::new("PROXY_METRICS_NAMESPACE", why).value(namespace.clone())
        })?;
        let service = get("PROXY_SERVICE_NAME")
            .or_else(|| get("AWS_LAMBDA_FUNCTION_NAME"))
            .unwrap_or_else(|| DEFAULT_SERVICE.to_owned());
        if service.chars().count() > 1024 || service.chars().any(char::is_control) {
            return Err(ConfigError::new(
                "PROXY_SERVICE_NAME",
                "must be at most 1024 characters without control characters",
            )
            .value(service));
        }
        let per_ip = parse_bool(&get, "PROXY_DENY_METRICS_PER_IP")?;
        let limit = match get("PROXY_DENY_METRICS_PER_IP_LIMIT") {
            None => DEFAULT_DENY_PER_IP_LIMIT,
            Some(text) => match text.trim().parse::<usize>() {
                Ok(n) if n <= MAX_DENY_PER_IP_LIMIT => n,
                _ => {
                    return Err(ConfigError::new(
                        "PROXY_DENY_METRICS_PER_IP_LIMIT",
                        format!("must be a whole number from 0 to {MAX_DENY_PER_IP_LIMIT}"),
                    )
                    .value(text));
                }
            },
        };

        let live = live_config(&get, parameter)?;
        let response_mode = match get("PROXY_RESPONSE_MODE").map(|m| m.trim().to_ascii_lowercase())
        {
            None => ResponseMode::Buffered,
            Some(mode) if mode == "buffered" => ResponseMode::Buffered,
            Some(mode) if mode == "streaming" => ResponseMode::Streaming,
            Some(mode) => {
                return Err(ConfigError::new(
                    "PROXY_RESPONSE_MODE",
                    "must be buffered or streaming",
                )
                .value(mode));
            }
        };

        Ok(Config {
            target,
            allow_list,
            allowed_ips_inline,
            live,
            forward,
            upstream_headers,
            timeout: Duration::from_millis(timeout_ms),
            tls: TlsSettings {
                extra_roots,
                client_identity,
                insecure,
            },
            tls_ca_file,
            allowed_ips_file,
            telemetry: TelemetryConfig {
                namespace,
                service,
                deny_per_ip_limit: per_ip.then_some(limit),
            },
            warnings,
            response_mode,
        })
    }
}

impl Config {
    /// Local mode: `PROXY_ALLOWED_IPS_FILE` is read again when it changes, on the same
    /// refresh rule as the live sources, so the live behaviour can be tried without AWS.
    pub fn watching_allowed_ips_file(mut self) -> Config {
        self.live.watched_file = self.allowed_ips_file.clone();
        self
    }
}

/// Reads and parses an allow-list file; errors name the variable, the path, the line and
/// the entry.
pub(crate) fn read_allow_list_file(path: &Path) -> Result<AllowList, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigError::new("PROXY_ALLOWED_IPS_FILE", format!("cannot read file: {e}"))
            .value(path.display().to_string())
    })?;
    AllowList::parse(&text).map_err(|e| {
        ConfigError::new(
            format!("PROXY_ALLOWED_IPS_FILE ({})", path.display()),
            e.why,
        )
        .line(e.line)
        .value(e.entry)
    })
}

fn file_error(variable: &str, path: &Path, why: String) -> ConfigError {
    ConfigError::new(variable, why).value(path.display().to_string())
}

fn parse_bool(get: &impl Fn(&str) -> Option<String>, name: &str) -> Result<bool, ConfigError> {
    match get(name) {
        None => Ok(false),
        Some(text) => match text.trim().to_ascii_lowercase().as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(ConfigError::new(name, "must be true or false").value(text)),
        },
    }
}

/// CloudWatch namespace rules: 1–255 characters of `[A-Za-z0-9.\-_/#: ]`, not `AWS/…`.
fn validate_namespace(namespace: &str) -> Result<(), &'static str> {
    if namespace.is_empty() || namespace.len() > 255 {
        return Err("must be 1 to 255 characters");
    }
    if !namespace
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || ".-_/#: ".contains(c))
    {
        return Err("may only contain letters, digits and . - _ / # : space");
    }
    if namespace.starts_with("AWS/") {
        return Err("the AWS/ prefix is reserved for AWS services");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    const BASE: [(&str, &str); 2] = [
        ("PROXY_TARGET_URL", "http://10.0.0.1:8080/api"),
        ("PROXY_ALLOWED_IPS", "10.0.0.0/8"),
    ];

    fn with(extra: &[(&'static str, &'static str)]) -> Result<Config, ConfigError> {
        let mut vars = BASE.to_vec();
        vars.extend_from_slice(extra);
        config(&vars)
    }

    #[test]
    fn defaults() {
        let c = with(&[]).unwrap();
        assert_eq!(c.timeout, Duration::from_millis(10_000));
        assert_eq!(c.telemetry.namespace, "VpcProxy");
        assert_eq!(c.telemetry.service, "vpc-proxy");
        assert_eq!(c.telemetry.deny_per_ip_limit, None);
        assert_eq!(
            c.forward,
            ForwardPolicy::parse(DEFAULT_FORWARD_HEADERS).unwrap()
        );
        assert!(c.warnings.is_empty());
        let c = with(&[("AWS_LAMBDA_FUNCTION_NAME", "fn-name")]).unwrap();
        assert_eq!(c.telemetry.service, "fn-name");
        let c = with(&[
            ("AWS_LAMBDA_FUNCTION_NAME", "fn"),
            ("PROXY_SERVICE_NAME", "svc"),
        ])
        .unwrap();
        assert_eq!(c.telemetry.service, "svc");
        let c = with(&[("PROXY_DENY_METRICS_PER_IP", "TRUE")]).unwrap();
        assert_eq!(c.telemetry.deny_per_ip_limit, Some(50));
    }

    #[test]
    fn missing_required() {
        let e = config(&[("PROXY_ALLOWED_IPS", "10.0.0.1")]).unwrap_err();
        assert_eq!(e.variable, "PROXY_TARGET_URL");
        let e = config(&[("PROXY_TARGET_URL", "http://x")]).unwrap_err();
        assert_eq!(e.variable, "PROXY_ALLOWED_IPS");
    }

    #[test]
    fn allow_list_error_names_variable_line_and_value() {
        let e = with(&[("PROXY_ALLOWED_IPS", "10.0.0.1\n10.0.0.2\n10.0.0.999")]).unwrap_err();
        let e = if e.variable == "PROXY_ALLOWED_IPS" {
            e
        } else {
            panic!("{e}")
        };
        assert_eq!(e.line, Some(3));
        assert_eq!(e.value.as_deref(), Some("10.0.0.999"));
        let text = e.to_string();
        assert!(
            text.contains("PROXY_ALLOWED_IPS line 3") && text.contains("10.0.0.999"),
            "{text}"
        );
    }

    #[test]
    fn allow_list_file_union_and_errors() {
        let dir = std::env::temp_dir().join(format!("vpc-proxy-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("good.txt");
        std::fs::write(&good, "# list\n192.168.0.0/16\n").unwrap();
        let bad = dir.join("bad.txt");
        std::fs::write(&bad, "192.168.0.1\n\n300.1.1.1\n").unwrap();
        let map = |file: &Path| {
            vec![
                ("PROXY_TARGET_URL".to_owned(), "http://10.0.0.1".to_owned()),
                ("PROXY_ALLOWED_IPS".to_owned(), "10.0.0.1".to_owned()),
                (
                    "PROXY_ALLOWED_IPS_FILE".to_owned(),
                    file.display().to_string(),
                ),
            ]
        };
        let vars: HashMap<_, _> = map(&good).into_iter().collect();
        let c = Config::from_lookup(|k| vars.get(k).cloned()).unwrap();
        assert!(c.allow_list.contains("10.0.0.1".parse().unwrap()));
        assert!(c.allow_list.contains("192.168.3.4".parse().unwrap()));
        let vars: HashMap<_, _> = map(&bad).into_iter().collect();
        let e = Config::from_lookup(|k| vars.get(k).cloned()).unwrap_err();
        assert!(e.variable.starts_with("PROXY_ALLOWED_IPS_FILE"), "{e}");
        assert_eq!((e.line, e.value.as_deref()), (Some(3), Some("300.1.1.1")));
        let vars: HashMap<_, _> = map(&dir.join("missing")).into_iter().collect();
        let e = Config::from_lookup(|k| vars.get(k).cloned()).unwrap_err();
        assert_eq!(e.variable, "PROXY_ALLOWED_IPS_FILE");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn each_bad_setting_is_named() {
        for (var, value) in [
            ("PROXY_TARGET_URL", "ftp://x"),
            ("PROXY_TIMEOUT_MS", "0"),
            ("PROXY_TIMEOUT_MS", "10s"),
            ("PROXY_TLS_INSECURE", "yes"),
            ("PROXY_FORWARD_HEADERS", "accept,bad header"),
            ("PROXY_METRICS_NAMESPACE", "AWS/Lambda"),
            ("PROXY_METRICS_NAMESPACE", "bad*ns"),
            ("PROXY_DENY_METRICS_PER_IP", "1"),
            ("PROXY_DENY_METRICS_PER_IP_LIMIT", "-1"),
            ("PROXY_TLS_CA_FILE", "/nonexistent/ca.pem"),
            ("PROXY_TLS_CLIENT_CERT_FILE", "/nonexistent/c.pem"),
        ] {
            let e = with(&[(var, value)]).unwrap_err();
            assert!(
                e.variable.starts_with(var) || e.variable.starts_with("PROXY_TLS_CLIENT"),
                "{var}: {e}"
            );
            assert!(
                e.to_string().contains(var) || e.variable.starts_with("PROXY_TLS_CLIENT"),
                "{e}"
            );
        }
    }

    #[test]
    fn upstream_header_errors_hide_the_secret() {
        let e = with(&[(
            "PROXY_UPSTREAM_HEADERS",
            "X-Ok: 1\nAuthorization Bearer s3cret",
        )])
        .unwrap_err();
        assert_eq!(e.variable, "PROXY_UPSTREAM_HEADERS");
        assert!(e.to_string().contains("line 2"));
        assert!(!e.to_string().contains("s3cret"));
    }

    #[test]
    fn unknown_proxy_variables_are_refused_with_the_closest_name() {
        let names = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            refuse_unknown(names(&["PATH", "AWS_REGION", "PROXY_TARGET_URL"])),
            Ok(())
        );
        for (typo, closest) in [
            ("PROXY_TIMEOUT", "PROXY_TIMEOUT_MS"),
            ("PROXY_FORWARD_HEADER", "PROXY_FORWARD_HEADERS"),
            ("PROXY_ALLOWED_IP", "PROXY_ALLOWED_IPS"),
            (
                "PROXY_UPSTREAM_HEADER_SECRET",
                "PROXY_UPSTREAM_HEADERS_SECRET",
            ),
            ("PROXY_CONFIG_REFRESH", "PROXY_CONFIG_REFRESH_S"),
        ] {
            let e = refuse_unknown(names(&["PROXY_TARGET_URL", typo])).unwrap_err();
            assert_eq!(e.variable, typo);
            assert!(
                e.to_string().contains(&format!("did you mean {closest}?")),
                "{e}"
            );
            // The value of a misspelled variable may be a credential: never shown.
            assert_eq!(e.value, None);
        }
    }

    #[test]
    fn live_settings() {
        let c = with(&[]).unwrap();
        assert_eq!(c.live.refresh, Duration::from_secs(30));
        assert!(!c.live.uses_extension());
        let c = config(&[
            ("PROXY_TARGET_URL", "http://10.0.0.1"),
            ("PROXY_ALLOWED_IPS_PARAMETER", "/vpc-proxy/allowed-ips"),
            ("AWS_SESSION_TOKEN", "tok"),
            ("PROXY_CONFIG_REFRESH_S", "1"),
        ])
        .unwrap();
        assert!(c.allow_list.is_empty());
        assert!(
            c.warnings.is_empty(),
            "the parameter fills the list: {:?}",
            c.warnings
        );
        assert_eq!(c.live.extension_port, 2773);
        assert_eq!(c.live.refresh, Duration::from_secs(1));
        assert!(
            !format!("{c:?}").contains("tok\""),
            "the token is not printed"
        );
        for (var, value) in [
            ("PROXY_CONFIG_REFRESH_S", "0"),
            ("PROXY_CONFIG_REFRESH_S", "3601"),
            ("PROXY_CONFIG_REFRESH_S", "30s"),
            ("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", "0"),
            ("PROXY_RESPONSE_MODE", "chunked"),
        ] {
            let e = with(&[(var, value)]).unwrap_err();
            assert_eq!(e.variable, var, "{e}");
        }
        let mode = |m: &'static str| with(&[("PROXY_RESPONSE_MODE", m)]).unwrap().response_mode;
        assert_eq!(mode(" STREAMING "), ResponseMode::Streaming);
        assert_eq!(mode("buffered"), ResponseMode::Buffered);
        // Without the session token the extension cannot be called: refused at start.
        let e = config(&[
            ("PROXY_TARGET_URL", "http://10.0.0.1"),
            ("PROXY_UPSTREAM_HEADERS_SECRET", "s"),
            ("PROXY_ALLOWED_IPS", "10.0.0.1"),
        ])
        .unwrap_err();
        assert_eq!(e.variable, "PROXY_UPSTREAM_HEADERS_SECRET");
    }

    #[test]
    fn warnings_for_risky_settings() {
        let c = with(&[("PROXY_ALLOWED_IPS", "# none yet")]);
        // A comment-only list: an explicit deny-all, allowed but warned.
        let c = c.unwrap();
        assert!(c.allow_list.is_empty());
        assert!(c.warnings.iter().any(|w| w.contains("no entries")));
        let c = with(&[("PROXY_ALLOWED_IPS", "0.0.0.0/0")]).unwrap();
        assert!(c.warnings.iter().any(|w| w.contains("every IPv4")));
        let mut vars = BASE.to_vec();
        vars[0] = ("PROXY_TARGET_URL", "https://10.0.0.1");
        vars.push(("PROXY_TLS_INSECURE", "true"));
        assert!(
            config(&vars)
                .unwrap()
                .warnings
                .iter()
                .any(|w| w.contains("NOT verified"))
        );
    }
}
