//! Process start-up shared by both ways to run (`lambda` and `local`): the start-up line that
//! reports the effective configuration, and the message that refuses to start on a bad one.
//!
//! It is wiring, not telemetry: it reads the whole `Config`, which telemetry must never know.
//! It must never log a secret (upstream header names only, never their values).

use crate::config::{Config, ConfigError};

/// The start-up line: the effective configuration, no secrets (upstream header names only).
pub fn report(config: &Config, mode: &str, max_concurrency: usize) {
    let upstream_names: Vec<&str> = config
        .upstream_headers
        .names()
        .map(|n| n.as_str())
        .collect();
    tracing::info!(
        service = config.telemetry.service.as_str(),
        mode,
        target_scheme = config.target.scheme(),
        target_host = config.target.host(),
        target_port = config.target.port(),
        target_prefix = config.target.prefix(),
        allow_list_entries = config.allow_list.entries() as u64,
        allow_list_ranges = config.allow_list.ranges() as u64,
        allow_list_file = config
            .allowed_ips_file
            .as_ref()
            .map(|p| p.display().to_string()),
        forward_headers = config.forward.describe(),
        upstream_header_names = upstream_names.join(","),
        timeout_ms = config.timeout.as_millis() as u64,
        response_mode = config.response_mode.as_str(),
        tls_insecure = config.tls.insecure,
        tls_ca_file = config.tls_ca_file.as_ref().map(|p| p.display().to_string()),
        tls_client_auth = config.tls.client_identity.is_some(),
        metrics_namespace = config.telemetry.namespace.as_str(),
        deny_metrics_per_ip_limit = config.telemetry.deny_per_ip_limit.map(|l| l as u64),
        max_concurrency = max_concurrency as u64,
        allowed_ips_parameter = config.live.parameter.as_deref(),
        upstream_headers_secret = config.live.secret.as_deref(),
        config_refresh_s = config.live.refresh.as_secs(),
        "vpc-proxy starting"
    );
    for warning in &config.warnings {
        tracing::warn!(service = config.telemetry.service.as_str(), "{warning}");
    }
}

/// Logs a configuration error and returns the exit code that stops the function.
pub fn refuse_to_start(error: &ConfigError) -> std::process::ExitCode {
    tracing::error!(
        variable = error.variable.as_str(),
        line = error.line.map(|l| l as u64),
        value = error.value.as_deref(),
        "{error}"
    );
    eprintln!("vpc-proxy: {error}");
    std::process::ExitCode::FAILURE
}
