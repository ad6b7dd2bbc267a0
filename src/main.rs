//! The `vpc-proxy` binary: picks Lambda or local mode and hands over. Nothing else lives here.

use std::io::IsTerminal;
use std::process::ExitCode;

use vpc_proxy::local::Options;
use vpc_proxy::telemetry::{Sink, logging};
use vpc_proxy::terminal::Terminal;

const USAGE: &str = "usage: vpc-proxy            serve Lambda invocations (inside AWS Lambda, which sets AWS_LAMBDA_RUNTIME_API)
       vpc-proxy local [--listen HOST:PORT] [--v2] [--stage NAME] [--json]
                        serve HTTP on HOST:PORT (default 127.0.0.1:9000; a name such as
                        localhost:9000 works) through the same handler.
                        --v2          send HTTP API (v2) events instead of REST API (v1) events
                        --stage NAME  serve under /NAME/, as an API Gateway stage
                        --json        the exact Lambda output (log lines and EMF) even on a
                                      terminal; piped output is always exact";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let env = |name: &str| std::env::var(name).ok();
    match args.first().map(String::as_str) {
        None if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_none() => {
            eprintln!(
                "vpc-proxy: this is an AWS Lambda function: it serves invocations inside Lambda, \
                 which sets AWS_LAMBDA_RUNTIME_API (not set here).\n\
                 To try it on this machine:  vpc-proxy local   (http://127.0.0.1:9000, built-in \
                 echo backend unless PROXY_TARGET_URL is set)\n\n{USAGE}"
            );
            ExitCode::from(2)
        }
        None => {
            logging::init(logging::filter(env), logging::format(env), Sink::Stdout);
            vpc_proxy::lambda::run(Sink::Stdout)
        }
        Some("local") => {
            let options = match Options::parse(args.get(1..).unwrap_or_default()) {
                Ok(options) => options,
                Err(why) => {
                    eprintln!("vpc-proxy local: {why}\n\n{USAGE}");
                    return ExitCode::from(2);
                }
            };
            // People at a terminal get one readable line per request; anything piped gets
            // exactly what Lambda would log.
            if options.json || !std::io::stdout().is_terminal() {
                logging::init(logging::filter(env), logging::format(env), Sink::Stdout);
                vpc_proxy::local::run(&options, Sink::Stdout, None)
            } else {
                let (terminal, sink) = Terminal::new();
                logging::init(logging::filter(env), logging::format(env), sink.clone());
                vpc_proxy::local::run(&options, sink, Some(terminal))
            }
        }
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Some(_) => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}
