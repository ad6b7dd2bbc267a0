//! Lambda wiring: configuration, the async runtime, and the poll loops that carry each
//! Runtime API event to `Proxy::handle` and its answer back.
//!
//! It owns process start-up in Lambda and how many invocations run at once (one, or
//! `AWS_LAMBDA_MAX_CONCURRENCY` on Lambda Managed Instances). It must never serve an
//! invocation with a configuration that failed to parse: a bad setting ends the process
//! before the first poll.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::config::{Config, ResponseMode};
use crate::handler::{ClientScheme, Invocation, Proxy};
use crate::runtime_api::{Answer, NextEvent, RuntimeApi, RuntimeApiError};
use crate::startup;
use crate::telemetry::{Sink, Telemetry};

/// Runs the function against the Lambda Runtime API until the process is stopped.
pub fn run(sink: Sink) -> ExitCode {
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(error) => return startup::refuse_to_start(&error),
    };
    let concurrency = std::env::var("AWS_LAMBDA_MAX_CONCURRENCY")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(1)
        .max(1);
    let address = std::env::var("AWS_LAMBDA_RUNTIME_API").unwrap_or_default();
    let api = match RuntimeApi::new(&address, concurrency) {
        Ok(api) => Arc::new(api),
        Err(error) => return startup::refuse_to_start(&error),
    };
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
    let mode = config.response_mode;
    runtime.block_on(async move {
        startup::report(&config, "lambda", concurrency);
        let telemetry = Telemetry::new(config.telemetry.clone(), sink);
        let proxy = match Proxy::new(config, telemetry, ClientScheme::Https) {
            Ok(proxy) => Arc::new(proxy),
            Err(error) => return startup::refuse_to_start(&error),
        };
        let mut pollers = tokio::task::JoinSet::new();
        // With one poller a failed poll ends the process (Lambda restarts the environment,
        // the only sound recovery). With several, one failed poll must not cancel the others'
        // invocations in flight: that poller waits and polls again.
        let retry = concurrency > 1;
        for _ in 0..concurrency {
            pollers.spawn(poll(api.clone(), proxy.clone(), retry, mode));
        }
        match pollers.join_next().await {
            Some(Ok(Err(e))) => tracing::error!(error = %e, "the Lambda Runtime API failed"),
            Some(Err(e)) => tracing::error!(error = %e, "a Runtime API poller stopped"),
            _ => {}
        }
        ExitCode::FAILURE
    })
}

/// Pause before polling again after a 204 (emulators send one to keep an idle poll alive).
const IDLE_REPOLL: Duration = Duration::from_millis(10);
/// First and longest pause before a poller of several retries a failed poll.
const RETRY_FIRST: Duration = Duration::from_millis(50);
const RETRY_MAX: Duration = Duration::from_secs(2);

/// One poll loop: next event, handle, answer, for as long as the Runtime API works.
async fn poll(
    api: Arc<RuntimeApi>,
    proxy: Arc<Proxy>,
    retry: bool,
    mode: ResponseMode,
) -> Result<(), RuntimeApiError> {
    let mut pause = RETRY_FIRST;
    loop {
        let event = match api.next().await {
            Ok(Some(event)) => event,
            Ok(None) => {
                tokio::time::sleep(IDLE_REPOLL).await;
                continue;
            }
            Err(e) if retry => {
                tracing::warn!(error = %e, "Runtime API poll failed; polling again");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(RETRY_MAX);
                continue;
            }
            Err(e) => return Err(e),
        };
        pause = RETRY_FIRST;
        let answered = match mode {
            ResponseMode::Buffered => api.answer(&event, invoke(&proxy, &event).await).await,
            ResponseMode::Streaming => invoke_streaming(&api, &proxy, &event).await,
        };
        if let Err(e) = answered {
            // A refused answer (too large, invocation already timed out) loses one invocation,
            // not the environment; a Runtime API that is gone fails the next poll instead.
            tracing::error!(error = %e, request_id = %event.request_id, "answer not accepted");
        }
    }
}

async fn invoke(proxy: &Proxy, event: &NextEvent) -> Answer {
    let invocation = invocation(event);
    // Lambda only delivers JSON, so this is never lossy in practice; going through the handler
    // all the same keeps "one summary line per invocation" true for any bytes.
    let raw = String::from_utf8_lossy(&event.payload);
    match proxy.handle(&raw, invocation).await {
        Ok(payload) => Answer::Response(payload.into_string()),
        Err(e) => Answer::Error {
            error_type: "NotHttpEvent",
            message: e.to_string(),
        },
    }
}

/// Streaming: the answer goes out as it arrives; an invocation error still uses /error.
async fn invoke_streaming(
    api: &RuntimeApi,
    proxy: &Proxy,
    event: &NextEvent,
) -> Result<(), RuntimeApiError> {
    let raw = String::from_utf8_lossy(&event.payload);
    match proxy.handle_streaming(&raw, invocation(event)).await {
        Ok(streamed) => {
            api.stream(event, |mut sender| async move {
                streamed.deliver(&mut sender).await;
            })
            .await
        }
        Err(e) => {
            let answer = Answer::Error {
                error_type: "NotHttpEvent",
                message: e.to_string(),
            };
            api.answer(event, answer).await
        }
    }
}

fn invocation(event: &NextEvent) -> Invocation {
    Invocation {
        deadline: deadline(event.deadline_ms),
        request_id: event.request_id.clone(),
        xray_trace_id: event.xray_trace_id.clone(),
    }
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
