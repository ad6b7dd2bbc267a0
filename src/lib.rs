//! vpc-proxy: an AWS Lambda function that forwards allow-listed API Gateway requests to one
//! HTTP(S) backend inside a VPC, with one structured log line and EMF metrics per invocation.
//!
//! The modules follow a request: `config` (parsed once) → `event` (decode) → `allowlist`
//! (admit) → `target` + `headers` (build the backend request) → `upstream` (send) →
//! `response` (encode) → `telemetry` (log and measure the `outcome`). `live` keeps the allow-list
//! parameter and headers secret current; `xray` traces each backend exchange of a sampled
//! invocation. `handler` holds the
//! order; `lambda` (over `runtime_api`) and `local` are the two ways to run it, sharing
//! `startup` (the start-up line, the refusal to start).

pub mod allowlist;
pub mod config;
pub mod event;
pub mod extension;
pub mod handler;
pub mod headers;
pub mod lambda;
pub mod live;
pub mod local;
pub mod outcome;
pub mod response;
pub mod runtime_api;
pub mod startup;
pub mod streaming;
pub mod target;
pub mod telemetry;
pub mod terminal;
pub mod tls;
pub mod upstream;
pub mod xray;
