//! Lambda wiring: configuration, the runtime (concurrent when Lambda Managed Instances ask
//! for it), and the glue from `LambdaEvent` to `Proxy::handle`.
//!
//! It owns process start-up in Lambda. It must never serve an invocation with a
//! configuration that failed to parse: a bad setting ends the process before the first poll.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde_json::value::RawValue;

use crate::config::Config;
use crate::handler::{ClientScheme, Invocation, Proxy};
use crate::telemetry::{Sink, Telemetry, logging};

/// Runs the function against the Lambda Runtime API until the process is stopped.
pub fn run(sink: Sink) -> ExitCode {
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(error) => return logging::refuse_to_start(&error),
    };
    let concurrency = std::env::var("AWS_LAMBDA_MAX_CONCURRENCY")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(1);
    fill_runtime_defaults();
    let runtime = if concurrency > 1 {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
    } else {
        // One invocation at a time: a single thread starts faster and has no handoffs.
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    };
    let runtime = match runtime {
        Ok(runtime) => runtime,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        logging::startup(&config, "lambda", concurrency);
        let telemetry = Telemetry::new(config.telemetry.clone(), sink);
        let proxy = match Proxy::new(config, telemetry, ClientScheme::Https) {
            Ok(proxy) => Arc::new(proxy),
            Err(error) => return logging::refuse_to_start(&error),
        };
        let service = service_fn(move |event: LambdaEvent<Box<RawValue>>| {
            let proxy = proxy.clone();
            async move {
                let context = event.context;
                let invocation = Invocation {
                    deadline: deadline(context.deadline),
                    request_id: context.request_id,
                    xray_trace_id: context.xray_trace_id,
                };
                proxy
                    .handle(event.payload.get(), invocation)
                    .await
                    .map_err(|e| Diagnostic {
                        error_type: "NotHttpEvent".to_owned(),
                        error_message: e.to_string(),
                    })
            }
        });
        match lambda_runtime::run_concurrent(service).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                tracing::error!(error = %e, "the Lambda runtime stopped");
                ExitCode::FAILURE
            }
        }
    })
}

/// Lambda sends the deadline as epoch milliseconds. Local emulators (cargo-lambda) send the
/// function timeout instead (`600000`); a value before 2001 can only mean that, so it is read
/// as milliseconds from now rather than as a deadline long past, which would 504 everything.
fn deadline(ms: u64) -> Option<SystemTime> {
    const EPOCH_2001_MS: u64 = 1_000_000_000_000;
    match ms {
        0 => None,
        relative if relative < EPOCH_2001_MS => {
            Some(SystemTime::now() + Duration::from_millis(relative))
        }
        absolute => Some(UNIX_EPOCH + Duration::from_millis(absolute)),
    }
}

/// `lambda_runtime` panics when Lambda's function variables are absent, which local runtime
/// emulators do not always set. Lambda itself always sets them, so defaults change nothing
/// there.
fn fill_runtime_defaults() {
    for (name, default) in [
        ("AWS_LAMBDA_FUNCTION_NAME", "vpc-proxy"),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
    ] {
        if std::env::var_os(name).is_none() {
            // SAFETY: called before the async runtime exists, while this is the only thread.
            unsafe { std::env::set_var(name, default) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadline_forms() {
        assert_eq!(deadline(0), None);
        let absolute = deadline(1_800_000_000_000).unwrap();
        assert_eq!(
            absolute,
            UNIX_EPOCH + Duration::from_millis(1_800_000_000_000)
        );
        let relative = deadline(600_000).unwrap();
        assert!(relative > SystemTime::now() + Duration::from_secs(590));
    }
}
