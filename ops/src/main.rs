//! `vpc-proxy-ops`: renders, validates and applies the vpc-proxy CloudWatch kit. See
//! `vpc-proxy-ops help` and docs/CONTRACT.md ("The operations kit"). All logic lives in the
//! library; this only starts a runtime and maps the result to an exit code.

use std::process::ExitCode;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match vpc_proxy_ops::cli::main(std::env::args().skip(1).collect()).await {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("vpc-proxy-ops: {e}");
            ExitCode::from(2)
        }
    }
}
