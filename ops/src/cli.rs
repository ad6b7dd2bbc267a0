//! The command line: `render`, `validate`, `apply`, `cloudformation`, `params`.
//!
//! Arguments are parsed by hand: five subcommands and a dozen `--flag value` options do not
//! justify a parser crate's build time on top of the AWS SDK's. This module turns arguments
//! and environment into calls of the other modules and prints their results; it must never
//! implement rendering, validation or AWS logic itself.

use std::io::Write;
use std::path::PathBuf;

use crate::Error;
use crate::kit::{self, Kit};
use crate::render::{self, Missing, PARAMS, Values};
use crate::{apply, cloudformation, validate};

/// What the command line asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Args {
    pub command: String,
    pub kit: Option<PathBuf>,
    /// Parameter values from flags, in order (later wins).
    pub values: Vec<(String, String)>,
    pub file: Option<String>,
    pub dry_run: bool,
    pub profile: Option<String>,
    pub endpoint_url: Option<String>,
    pub output: Option<PathBuf>,
    /// `validate --strict`: no example values, every parameter must be given.
    pub strict: bool,
}

pub const USAGE: &str = "\
Usage: vpc-proxy-ops <command> [options]

Commands:
  render          fill the placeholders and print the kit as JSON
                  (--file PATH prints one file, e.g. alarms/deny-spike.json)
  validate        check the kit: placeholders, metrics against the proxy's catalog,
                  dashboard grid, alarm and rule inputs. Parameters not given get example
                  values unless --strict.
  apply           PutInsightRule, PutMetricAlarm, PutDashboard; only what differs from what
                  exists (--dry-run: show the plan, change nothing)
  cloudformation  print a CloudFormation template (Fn::Sub) of the kit and an SNS topic
                  (--output FILE writes it to FILE)
  params          list the placeholders, their flags and environment variables
  top-denied, check, list, allow, revoke, block, unblock
                  respond to a deny spike (below)

Options:
  --kit DIR             kit root holding dashboards/ and alarms/
                        (default: . if it has dashboards/, else this source tree)
  --<param> VALUE       a parameter, e.g. --function-name, --api-name, --stage, --region
  --set NAME=VALUE      a parameter by its placeholder name (--set Stage=prod)
  --profile NAME        apply: AWS profile (else AWS_PROFILE / default chain)
  --endpoint-url URL    apply: CloudWatch endpoint (else AWS_ENDPOINT_URL)
  -h, --help            this text

Parameters are also read from VPC_PROXY_OPS_<NAME> (e.g. VPC_PROXY_OPS_FUNCTION_NAME) and,
for some, the usual variables (AWS_REGION, PROXY_METRICS_NAMESPACE, PROXY_SERVICE_NAME).
Flags win over the environment.
";

/// The whole help: the kit commands, then the respond commands.
pub fn usage() -> String {
    format!("{USAGE}\n{}", crate::respond::command::USAGE)
}

/// The kit commands' flags other than the `${Name}` parameters.
const KIT_FLAGS: &[&str] = &[
    "--help",
    "--kit",
    "--file",
    "--output",
    "--profile",
    "--endpoint-url",
    "--dry-run",
    "--strict",
    "--set",
];

/// `unknown option --strcit (did you mean --strict?)`: a typo gets the closest flag, not the
/// whole usage text; a flag like none of them points at `help`. `context` names the command
/// (` for allow`) where the flags depend on it.
pub(crate) fn unknown_option<'a>(
    flag: &str,
    known: impl IntoIterator<Item = &'a str>,
    context: &str,
) -> String {
    let closest = known
        .into_iter()
        .map(|k| (strsim::levenshtein(flag, k), k))
        .min()
        .filter(|(distance, k)| *distance <= 3.min(k.len() / 2));
    match closest {
        Some((_, k)) => format!("unknown option {flag}{context} (did you mean {k}?)"),
        None => format!("unknown option {flag}{context}; `vpc-proxy-ops help` lists the options"),
    }
}

/// Parses arguments (without the program name).
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Args, Error> {
    let mut out = Args::default();
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        let mut value = |flag: &str| {
            it.next()
                .ok_or_else(|| Error(format!("{flag} needs a value")))
        };
        match arg.as_str() {
            "-h" | "--help" | "help" => out.command = "help".into(),
            "--kit" => out.kit = Some(PathBuf::from(value("--kit")?)),
            "--file" => out.file = Some(value("--file")?),
            "--output" => out.output = Some(PathBuf::from(value("--output")?)),
            "--profile" => out.profile = Some(value("--profile")?),
            "--endpoint-url" => out.endpoint_url = Some(value("--endpoint-url")?),
            "--dry-run" => out.dry_run = true,
            "--strict" => out.strict = true,
            "--set" => {
                let pair = value("--set")?;
                let (k, v) = pair
                    .split_once('=')
                    .ok_or_else(|| Error(format!("--set wants NAME=VALUE, got {pair:?}")))?;
                out.values.push((k.to_owned(), v.to_owned()));
            }
            flag if flag.starts_with("--") => {
                let (name, inline) = match flag[2..].split_once('=') {
                    Some((n, v)) => (n.to_owned(), Some(v.to_owned())),
                    None => (flag[2..].to_owned(), None),
                };
                let Some(p) = PARAMS.iter().find(|p| render::kebab(p.name) == name) else {
                    let params: Vec<String> = PARAMS
                        .iter()
                        .map(|p| format!("--{}", render::kebab(p.name)))
                        .collect();
                    let known = KIT_FLAGS
                        .iter()
                        .copied()
                        .chain(params.iter().map(String::as_str));
                    return Err(Error(unknown_option(flag, known, "")));
                };
                let v = match inline {
                    Some(v) => v,
                    None => value(flag)?,
                };
                out.values.push((p.name.to_owned(), v));
            }
            command if out.command.is_empty() => out.command = command.to_owned(),
            other => return Err(Error(format!("unexpected argument {other:?}\n\n{USAGE}"))),
        }
    }
    Ok(out)
}

/// Environment, then flags.
pub fn values(args: &Args, env: &impl Fn(&str) -> Option<String>) -> Result<Values, Error> {
    let mut values = Values::from_env(env);
    for (k, v) in &args.values {
        values.set(k, v.clone())?;
    }
    Ok(values)
}

fn load(args: &Args) -> Result<Kit, Error> {
    Kit::load(&args.kit.clone().unwrap_or_else(kit::default_root))
}

fn write(out: &mut impl Write, text: &str) -> Result<(), Error> {
    out.write_all(text.as_bytes())
        .map_err(|e| Error(format!("cannot write output: {e}")))
}

/// Pretty JSON, one trailing newline.
fn pretty(value: &serde_json::Value) -> Result<String, Error> {
    Ok(serde_json::to_string_pretty(value).map_err(|e| Error(e.to_string()))? + "\n")
}

/// Renders and validates; problems are an error (nothing half-valid leaves the tool).
fn rendered(
    kit: &Kit,
    values: &mut Values,
    missing: Missing,
) -> Result<(render::Rendered, Vec<validate::Problem>), Error> {
    values.resolve(&render::needed(kit), missing)?;
    let rendered = render::kit(kit, values)?;
    let problems = validate::rendered(&rendered, values);
    Ok((rendered, problems))
}

fn problems_error(problems: &[validate::Problem]) -> Error {
    let lines: Vec<String> = problems.iter().map(|p| format!("  {p}")).collect();
    Error(format!(
        "{} problem(s):\n{}",
        problems.len(),
        lines.join("\n")
    ))
}

/// Runs the offline commands (everything but `apply`); returns the exit code.
pub fn run_offline(
    args: &Args,
    env: &impl Fn(&str) -> Option<String>,
    out: &mut impl Write,
    err: &mut impl Write,
) -> Result<u8, Error> {
    match args.command.as_str() {
        "" | "help" => {
            write(out, &usage())?;
            Ok(if args.command.is_empty() { 2 } else { 0 })
        }
        "params" => {
            for p in PARAMS {
                let default = p
                    .default
                    .map(|d| format!(" [default: {d}]"))
                    .unwrap_or_default();
                let mut vars = vec![render::env_var(p.name)];
                vars.extend(p.env.iter().map(|s| (*s).to_owned()));
                write(
                    out,
                    &format!(
                        "${{{}}}  --{}  ({}){default}\n    {}\n",
                        p.name,
                        render::kebab(p.name),
                        vars.join(", "),
                        p.help
                    ),
                )?;
            }
            Ok(0)
        }
        "render" => {
            let kit = load(args)?;
            let mut values = values(args, env)?;
            let (rendered, problems) = rendered(&kit, &mut values, Missing::Error)?;
            if !problems.is_empty() {
                return Err(problems_error(&problems));
            }
            match &args.file {
                Some(file) => {
                    let (_, text) = rendered
                        .dashboards
                        .iter()
                        .map(|d| (&d.path, &d.text))
                        .chain(
                            rendered
                                .alarms
                                .iter()
                                .chain(&rendered.rules)
                                .map(|i| (&i.path, &i.text)),
                        )
                        .find(|(p, _)| *p == file)
                        .ok_or_else(|| Error(format!("{file} is not a kit file")))?;
                    write(out, text)?;
                }
                None => write(out, &pretty(&rendered.to_json())?)?,
            }
            Ok(0)
        }
        "validate" => {
            let kit = load(args)?;
            let mut values = values(args, env)?;
            let missing = if args.strict {
                Missing::Error
            } else {
                Missing::Example
            };
            let (rendered, problems) = rendered(&kit, &mut values, missing)?;
            let examples: Vec<&str> = values.examples().collect();
            if !examples.is_empty() {
                write(
                    err,
                    &format!("note: example values used for {}\n", examples.join(", ")),
                )?;
            }
            if problems.is_empty() {
                write(
                    out,
                    &format!(
                        "ok: {} dashboard(s), {} alarm(s), {} rule(s)\n",
                        rendered.dashboards.len(),
                        rendered.alarms.len(),
                        rendered.rules.len()
                    ),
                )?;
                Ok(0)
            } else {
                for p in &problems {
                    write(out, &format!("{p}\n"))?;
                }
                write(out, &format!("{} problem(s)\n", problems.len()))?;
                Ok(1)
            }
        }
        "cloudformation" => {
            let kit = load(args)?;
            let template = cloudformation::template(&kit)?;
            let text = pretty(&template)?;
            match &args.output {
                Some(path) => std::fs::write(path, text)
                    .map_err(|e| Error(format!("cannot write {}: {e}", path.display())))?,
                None => write(out, &text)?,
            }
            Ok(0)
        }
        other => Err(Error(format!("unknown command {other:?}\n\n{USAGE}"))),
    }
}

/// The AWS config the usual way (environment, profile, SSO, IMDS...), with the region of
/// `values` (flags over environment, see [`values`]) and the profile and endpoint the flags
/// give. HTTPS goes through rustls with ring.
pub async fn aws_config(args: &Args, values: &Values) -> aws_config::SdkConfig {
    sdk_config(
        args.profile.as_deref(),
        values.get("Region"),
        args.endpoint_url.as_deref(),
    )
    .await
}

/// The AWS config the usual way, with an explicit profile, region and endpoint where given.
pub async fn sdk_config(
    profile: Option<&str>,
    region: Option<&str>,
    endpoint_url: Option<&str>,
) -> aws_config::SdkConfig {
    use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(http);
    if let Some(profile) = profile {
        loader = loader.profile_name(profile);
    }
    if let Some(region) = region {
        loader = loader.region(aws_config::Region::new(region.to_owned()));
    }
    if let Some(url) = endpoint_url {
        loader = loader.endpoint_url(url);
    }
    loader.load().await
}

/// A respond command (`top-denied`, `check`, `allow` …): its own typed flags and exit codes;
/// a failure is printed here as one sentence, so the code reaches the shell.
async fn respond_main(argv: &[String]) -> u8 {
    use crate::respond::{Clients, command};
    let env = |k: &str| std::env::var(k).ok();
    let mut stdout = std::io::stdout().lock();
    let result = match command::parse(argv) {
        Ok(args) => {
            let config = sdk_config(
                args.profile.as_deref(),
                args.region.as_deref(),
                args.endpoint_url.as_deref(),
            )
            .await;
            let clients = Clients::new(&config);
            command::run(
                &args,
                &clients,
                &env,
                std::time::SystemTime::now(),
                &mut stdout,
            )
            .await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            let _ = stdout.flush();
            eprintln!("vpc-proxy-ops: {e}");
            e.code
        }
    }
}

/// The whole program; returns the exit code.
pub async fn main(argv: Vec<String>) -> Result<u8, Error> {
    if argv
        .first()
        .is_some_and(|c| crate::respond::command::COMMANDS.contains(&c.as_str()))
    {
        return Ok(respond_main(&argv).await);
    }
    let args = parse(argv)?;
    let env = |k: &str| std::env::var(k).ok();
    let mut stdout = std::io::stdout().lock();
    let mut stderr = std::io::stderr();
    if args.command != "apply" {
        return run_offline(&args, &env, &mut stdout, &mut stderr);
    }
    let kit = load(&args)?;
    let mut values = values(&args, &env)?;
    let config = aws_config(&args, &values).await;
    if values.get("Region").is_none()
        && let Some(region) = config.region()
    {
        values.set("Region", region.to_string())?;
    }
    let (rendered, problems) = rendered(&kit, &mut values, Missing::Error)?;
    if !problems.is_empty() {
        return Err(problems_error(&problems));
    }
    let client = aws_sdk_cloudwatch::Client::new(&config);
    let actions = apply::apply(&client, &rendered, args.dry_run).await?;
    for a in &actions {
        write(&mut stdout, &format!("{a}\n"))?;
    }
    let changed = actions
        .iter()
        .filter(|a| a.change != apply::Change::Unchanged)
        .count();
    let summary = if args.dry_run {
        format!(
            "dry run: {changed} of {} would change; nothing was sent\n",
            actions.len()
        )
    } else {
        format!("{changed} of {} changed\n", actions.len())
    };
    write(&mut stdout, &summary)?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(args: &[&str]) -> String {
        match parse(args.iter().map(|a| (*a).to_owned())) {
            Ok(_) => panic!("{args:?} parsed"),
            Err(Error(message)) => message,
        }
    }

    #[test]
    fn a_mistyped_flag_gets_the_closest_one_not_the_usage() {
        assert_eq!(
            error(&["validate", "--strcit"]),
            "unknown option --strcit (did you mean --strict?)"
        );
        assert_eq!(
            error(&["render", "--function-nmae", "f"]),
            "unknown option --function-nmae (did you mean --function-name?)"
        );
        let unlike = error(&["render", "--zzzzzzzz"]);
        assert!(unlike.contains("`vpc-proxy-ops help`"), "{unlike}");
        assert!(!unlike.contains("Usage"), "{unlike}");
    }
}
