//! `vpc-proxy-ops`: renders, validates and applies the vpc-proxy CloudWatch kit and responds to
//! a deny spike. See `vpc-proxy-ops help` and docs/CONTRACT.md ("The operations kit"). All
//! logic lives in the library; this only starts a runtime and hands its exit code to the shell.

use std::process::ExitCode;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    ExitCode::from(vpc_proxy_ops::cli::main(std::env::args().skip(1).collect()).await)
}
