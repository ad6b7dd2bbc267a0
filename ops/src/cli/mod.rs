//! The command line: runs the one [`Command`] that [`args`] read from argv and prints its
//! result; the kit commands (`render`, `validate`, `apply`, `cloudformation`, `params`,
//! `help`) here, the respond commands through [`respond::command`](crate::respond::command).
//!
//! This module turns a parsed command and the environment into calls of the other modules and
//! prints their results; every failure reaches the shell as one line and its exit code. It
//! must never read argv itself (that is [`args`]) nor implement rendering, validation or AWS
//! logic.

pub mod args;

use std::io::Write;
use std::path::PathBuf;

pub use args::{Apply, CloudFormation, Command, KitArgs, Render, USAGE, Validate, parse};

use crate::kit::{self, Kit};
use crate::render::{self, Missing, PARAMS, Values};
use crate::{Error, Failure, apply, cloudformation, respond, validate};

/// The whole help: the kit commands, then the respond commands.
pub fn usage() -> String {
    format!("{USAGE}\n{}", respond::command::USAGE)
}

/// Environment, then flags.
pub fn values(kit: &KitArgs, env: &dyn Fn(&str) -> Option<String>) -> Result<Values, Error> {
    let mut values = Values::from_env(env);
    for (p, v) in &kit.values {
        values.set(p.name, v.clone())?;
    }
    Ok(values)
}

fn load(root: &Option<PathBuf>) -> Result<Kit, Error> {
    Kit::load(&root.clone().unwrap_or_else(kit::default_root))
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

/// Runs one command; returns the exit code. `err` takes notes that are not the output
/// (`validate`'s example values).
pub async fn run(
    command: &Command,
    env: &dyn Fn(&str) -> Option<String>,
    out: &mut impl Write,
    err: &mut impl Write,
) -> Result<u8, Failure> {
    Ok(match command {
        Command::Usage => {
            write(out, &usage())?;
            2
        }
        Command::Help => {
            write(out, &usage())?;
            0
        }
        Command::Params => print_params(out)?,
        Command::Render(r) => render_kit(r, env, out)?,
        Command::Validate(v) => validate_kit(v, env, out, err)?,
        Command::CloudFormation(c) => print_template(c, out)?,
        Command::Apply(a) => apply_kit(a, env, out).await?,
        Command::Respond(r) => {
            let config = crate::aws::sdk_config(
                r.profile.as_deref(),
                r.region.as_deref(),
                r.endpoint_url.as_deref(),
            )
            .await;
            let clients = respond::Clients::new(&config);
            respond::command::run(r, &clients, env, std::time::SystemTime::now(), out).await?
        }
    })
}

fn print_params(out: &mut impl Write) -> Result<u8, Error> {
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

fn render_kit(
    args: &Render,
    env: &dyn Fn(&str) -> Option<String>,
    out: &mut impl Write,
) -> Result<u8, Error> {
    let kit = load(&args.kit.root)?;
    let mut values = values(&args.kit, env)?;
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

fn validate_kit(
    args: &Validate,
    env: &dyn Fn(&str) -> Option<String>,
    out: &mut impl Write,
    err: &mut impl Write,
) -> Result<u8, Error> {
    let kit = load(&args.kit.root)?;
    let mut values = values(&args.kit, env)?;
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

fn print_template(args: &CloudFormation, out: &mut impl Write) -> Result<u8, Error> {
    let kit = load(&args.root)?;
    let template = cloudformation::template(&kit)?;
    let text = pretty(&template)?;
    match &args.output {
        Some(path) => std::fs::write(path, text)
            .map_err(|e| Error(format!("cannot write {}: {e}", path.display())))?,
        None => write(out, &text)?,
    }
    Ok(0)
}

/// The AWS config the usual way (environment, profile, SSO, IMDS...), with the region of
/// `values` (flags over environment, see [`values`]) and the profile and endpoint the flags
/// give.
pub async fn aws_config(args: &Apply, values: &Values) -> aws_config::SdkConfig {
    crate::aws::sdk_config(
        args.profile.as_deref(),
        values.get("Region"),
        args.endpoint_url.as_deref(),
    )
    .await
}

async fn apply_kit(
    args: &Apply,
    env: &dyn Fn(&str) -> Option<String>,
    out: &mut impl Write,
) -> Result<u8, Error> {
    let kit = load(&args.kit.root)?;
    let mut values = values(&args.kit, env)?;
    let config = aws_config(args, &values).await;
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
        write(out, &format!("{a}\n"))?;
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
    write(out, &summary)?;
    Ok(0)
}

/// The whole program: parses argv once, runs the command, prints a failure as one line on
/// stderr; returns the exit code.
pub async fn main(argv: Vec<String>) -> u8 {
    let env = |k: &str| std::env::var(k).ok();
    let mut stdout = std::io::stdout().lock();
    let mut stderr = std::io::stderr();
    let result = match parse(argv) {
        Ok(command) => run(&command, &env, &mut stdout, &mut stderr).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            // What was printed before the failure goes out first, as the operator saw it.
            let _ = stdout.flush();
            eprintln!("vpc-proxy-ops: {e}");
            e.code
        }
    }
}
