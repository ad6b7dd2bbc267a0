//! The `vpc-proxy` binary: picks Lambda or local mode and hands over. Nothing else lives here.

use std::process::ExitCode;

use vpc_proxy::telemetry::{Sink, logging};

const USAGE: &str = "usage: vpc-proxy            serve Lambda invocations (AWS_LAMBDA_RUNTIME_API)
       vpc-proxy local [--listen ADDR]
                        serve HTTP on ADDR (default 127.0.0.1:9000) through the same handler";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let env = |name: &str| std::env::var(name).ok();
    logging::init(logging::filter(env), logging::format(env), Sink::Stdout);
    match args.first().map(String::as_str) {
        None => vpc_proxy::lambda::run(Sink::Stdout),
        Some("local") => match args.get(1..).unwrap_or_default() {
            [] => vpc_proxy::local::run(None, Sink::Stdout),
            [flag, addr] if flag == "--listen" => vpc_proxy::local::run(Some(addr), Sink::Stdout),
            _ => usage_error(),
        },
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Some(_) => usage_error(),
    }
}

fn usage_error() -> ExitCode {
    eprintln!("{USAGE}");
    ExitCode::from(2)
}
