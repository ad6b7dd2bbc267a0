//! The command line, typed: argv is read once, here, into a [`Command`] that names the
//! command and holds only the options that command accepts.
//!
//! This is the one place a command's name or a flag's spelling is matched. A flag that
//! another command takes is refused naming the flag and the command; an unknown flag gets the
//! closest flag of the command. It checks what needs no outside world (an IP address,
//! `--since 1h`, `--set NAME=VALUE` naming a known parameter, a required `--comment`). It must
//! never read the environment, touch a file or call AWS: [`cli`](super) runs what this
//! returns. Arguments are parsed by hand: a dozen commands and their flags do not justify a
//! parser crate's build time on top of the AWS SDK's.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::Failure;
use crate::render::{self, PARAMS, Param};
use crate::respond::args::{self as respond, Command as Respond};
use crate::respond::{TARGETS, Target, top_denied};

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

/// One command line: the command and its options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// No command given: the usage, exit 2.
    Usage,
    /// `help`, `-h`, `--help` (anywhere): the usage, exit 0.
    Help,
    Params,
    Render(Render),
    Validate(Validate),
    Apply(Apply),
    CloudFormation(CloudFormation),
    /// `top-denied`, `check`, `list`, `allow`, `revoke`, `block`, `unblock`.
    Respond(respond::Args),
}

/// Where the kit is and the parameters given as flags (`render`, `validate`, `apply`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KitArgs {
    /// `--kit DIR`; else `.` if it has `dashboards/`, else this source tree.
    pub root: Option<PathBuf>,
    /// `--<param> VALUE` and `--set NAME=VALUE`, in order (later wins).
    pub values: Vec<(&'static Param, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Render {
    pub kit: KitArgs,
    /// `--file PATH`: print this one file as rendered, layout kept.
    pub file: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validate {
    pub kit: KitArgs,
    /// `--strict`: no example values, every parameter must be given.
    pub strict: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Apply {
    pub kit: KitArgs,
    pub dry_run: bool,
    pub profile: Option<String>,
    pub endpoint_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloudFormation {
    pub root: Option<PathBuf>,
    /// `--output FILE`, else stdout.
    pub output: Option<PathBuf>,
}

/// Which command, before its options are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Name {
    Params,
    Render,
    Validate,
    Apply,
    CloudFormation,
    TopDenied,
    Check,
    List,
    Allow,
    Revoke,
    Block,
    Unblock,
}

/// Every command's name: the only place one is spelled to be matched.
const NAMES: [(&str, Name); 12] = [
    ("params", Name::Params),
    ("render", Name::Render),
    ("validate", Name::Validate),
    ("apply", Name::Apply),
    ("cloudformation", Name::CloudFormation),
    ("top-denied", Name::TopDenied),
    ("check", Name::Check),
    ("list", Name::List),
    ("allow", Name::Allow),
    ("revoke", Name::Revoke),
    ("block", Name::Block),
    ("unblock", Name::Unblock),
];

impl Name {
    fn of(word: &str) -> Option<Name> {
        NAMES.iter().find(|(n, _)| *n == word).map(|(_, c)| *c)
    }

    fn as_str(self) -> &'static str {
        NAMES
            .iter()
            .find(|(_, c)| *c == self)
            .map_or("", |(n, _)| *n)
    }
}

/// One option, whatever its spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Opt {
    Kit,
    File,
    Output,
    Strict,
    DryRun,
    Profile,
    EndpointUrl,
    Set,
    /// A kit parameter (`--function-name` for `${FunctionName}`).
    Param(&'static Param),
    /// The AWS region of a respond command (the kit's `--region` is the `Region` parameter).
    Region,
    Json,
    Since,
    Limit,
    Comment,
    Force,
    InForceS,
    /// Where a respond command acts (`--parameter`, `--stack` …).
    Target(Target),
}

impl Opt {
    fn takes_value(self) -> bool {
        !matches!(self, Opt::Strict | Opt::DryRun | Opt::Json | Opt::Force)
    }
}

// Each fixed flag spelled once.
const KIT: (&str, Opt) = ("--kit", Opt::Kit);
const SET: (&str, Opt) = ("--set", Opt::Set);
const FILE: (&str, Opt) = ("--file", Opt::File);
const OUTPUT: (&str, Opt) = ("--output", Opt::Output);
const STRICT: (&str, Opt) = ("--strict", Opt::Strict);
const DRY_RUN: (&str, Opt) = ("--dry-run", Opt::DryRun);
const PROFILE: (&str, Opt) = ("--profile", Opt::Profile);
const ENDPOINT_URL: (&str, Opt) = ("--endpoint-url", Opt::EndpointUrl);
const REGION: (&str, Opt) = ("--region", Opt::Region);
const JSON: (&str, Opt) = ("--json", Opt::Json);
const SINCE: (&str, Opt) = ("--since", Opt::Since);
const LIMIT: (&str, Opt) = ("--limit", Opt::Limit);
const COMMENT: (&str, Opt) = ("--comment", Opt::Comment);
const FORCE: (&str, Opt) = ("--force", Opt::Force);
const IN_FORCE_S: (&str, Opt) = ("--in-force-s", Opt::InForceS);

/// The flags `name` accepts, as spelled.
fn options(name: Name) -> Vec<(String, Opt)> {
    let fixed = |list: &[(&str, Opt)]| -> Vec<(String, Opt)> {
        list.iter().map(|(f, o)| ((*f).to_owned(), *o)).collect()
    };
    let kit_flags = |own: &[(&str, Opt)]| {
        let mut v = fixed(&[KIT, SET]);
        v.extend(
            PARAMS
                .iter()
                .map(|p| (format!("--{}", render::kebab(p.name)), Opt::Param(p))),
        );
        v.extend(fixed(own));
        v
    };
    let respond_flags = |own: &[(&str, Opt)]| {
        let mut v = fixed(&[PROFILE, REGION, ENDPOINT_URL]);
        v.extend(TARGETS.iter().map(|t| (t.flag.to_owned(), Opt::Target(*t))));
        v.extend(fixed(own));
        v
    };
    match name {
        Name::Params => Vec::new(),
        Name::Render => kit_flags(&[FILE]),
        Name::Validate => kit_flags(&[STRICT]),
        Name::Apply => kit_flags(&[DRY_RUN, PROFILE, ENDPOINT_URL]),
        Name::CloudFormation => fixed(&[KIT, OUTPUT]),
        Name::TopDenied => respond_flags(&[SINCE, LIMIT, JSON]),
        Name::Check | Name::List => respond_flags(&[JSON]),
        Name::Allow | Name::Revoke => respond_flags(&[COMMENT, DRY_RUN, IN_FORCE_S]),
        Name::Block => respond_flags(&[COMMENT, DRY_RUN, FORCE]),
        Name::Unblock => respond_flags(&[COMMENT, DRY_RUN]),
    }
}

/// The commands that accept `flag`, in the order of [`NAMES`].
fn takers(flag: &str) -> Vec<(Name, Opt)> {
    NAMES
        .iter()
        .filter_map(|(_, n)| {
            options(*n)
                .into_iter()
                .find(|(f, _)| f == flag)
                .map(|(_, o)| (*n, o))
        })
        .collect()
}

/// `help` is a word, not a command with options: anywhere, it wins.
fn is_help(arg: &str) -> bool {
    matches!(arg, "-h" | "--help" | "help")
}

/// Where the command is on the line.
enum Word {
    /// `help` was asked for, anywhere.
    Help,
    /// Only flags, or nothing.
    Missing,
    /// The index of the command word.
    At(usize),
}

/// The command word: the first argument that is neither a flag nor a flag's value.
fn command_word(argv: &[String]) -> Word {
    let mut word = None;
    let mut i = 0;
    while let Some(arg) = argv.get(i) {
        if is_help(arg) {
            return Word::Help;
        }
        if arg.starts_with("--") {
            // A flag's value is skipped whichever command takes the flag: each flag takes a
            // value for every command or for none.
            let takes_value = takers(arg).first().is_some_and(|(_, o)| o.takes_value());
            if takes_value && !arg.contains('=') {
                i += 1;
            }
        } else if word.is_none() {
            word = Some(i);
        }
        i += 1;
    }
    word.map_or(Word::Missing, Word::At)
}

/// `unknown option --strcit (did you mean --strict?)`: a typo gets the closest flag, not the
/// whole usage text; a flag like none of them points at `help`.
fn unknown_option<'a>(flag: &str, known: impl IntoIterator<Item = &'a str>) -> String {
    let closest = known
        .into_iter()
        .map(|k| (strsim::levenshtein(flag, k), k))
        .min()
        .filter(|(distance, k)| *distance <= 3.min(k.len() / 2));
    match closest {
        Some((_, k)) => format!("unknown option {flag} (did you mean {k}?)"),
        None => format!("unknown option {flag}; `vpc-proxy-ops help` lists the options"),
    }
}

/// Parses arguments (without the program name).
pub fn parse(argv: impl IntoIterator<Item = String>) -> Result<Command, Failure> {
    let argv: Vec<String> = argv.into_iter().collect();
    let at = match command_word(&argv) {
        Word::Help => return Ok(Command::Help),
        Word::Missing => return Ok(Command::Usage),
        Word::At(at) => at,
    };
    let word = argv.get(at).map_or("", String::as_str);
    let name = Name::of(word)
        .ok_or_else(|| Failure::usage(format!("unknown command {word:?}\n\n{USAGE}")))?;
    let accepted = options(name);
    let mut given = Given::default();
    let mut rest = argv
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != at)
        .map(|(_, a)| a);
    while let Some(arg) = rest.next() {
        if !arg.starts_with("--") {
            given.positional.push(arg.clone());
            continue;
        }
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) => (f, Some(v.to_owned())),
            None => (arg.as_str(), None),
        };
        let Some((_, opt)) = accepted.iter().find(|(f, _)| f == flag) else {
            return Err(refuse(flag, name, &accepted));
        };
        let value = match (opt.takes_value(), inline) {
            (true, Some(v)) => Some(v),
            (true, None) => Some(
                rest.next()
                    .cloned()
                    .ok_or_else(|| Failure::usage(format!("{flag} needs a value")))?,
            ),
            (false, None) => None,
            (false, Some(_)) => return Err(Failure::usage(format!("{flag} takes no value"))),
        };
        given.options.push((*opt, value.unwrap_or_default()));
    }
    given.command(name)
}

/// A flag `name` does not accept: another command's (named), or a typo (the closest).
fn refuse(flag: &str, name: Name, accepted: &[(String, Opt)]) -> Failure {
    let takers: Vec<&str> = takers(flag).iter().map(|(n, _)| n.as_str()).collect();
    if takers.is_empty() {
        let known = accepted.iter().map(|(f, _)| f.as_str()).chain(["--help"]);
        Failure::usage(unknown_option(flag, known))
    } else {
        Failure::usage(format!(
            "{flag} is not an option of {} (only of {})",
            name.as_str(),
            takers.join(", ")
        ))
    }
}

/// The options and positional arguments of one command line, checked against the command.
#[derive(Default)]
struct Given {
    /// In order; a switch has an empty value.
    options: Vec<(Opt, String)>,
    positional: Vec<String>,
}

impl Given {
    fn has(&self, opt: Opt) -> bool {
        self.options.iter().any(|(o, _)| *o == opt)
    }

    /// The last value given (a later flag wins).
    fn last(&self, opt: Opt) -> Option<String> {
        self.options
            .iter()
            .rev()
            .find(|(o, _)| *o == opt)
            .map(|(_, v)| v.clone())
    }

    fn path(&self, opt: Opt) -> Option<PathBuf> {
        self.last(opt).map(PathBuf::from)
    }

    fn kit(&self) -> Result<KitArgs, Failure> {
        let mut values = Vec::new();
        for (opt, value) in &self.options {
            match opt {
                Opt::Param(p) => values.push((*p, value.clone())),
                Opt::Set => {
                    let (k, v) = value.split_once('=').ok_or_else(|| {
                        Failure::usage(format!("--set wants NAME=VALUE, got {value:?}"))
                    })?;
                    values.push((render::known_param(k)?, v.to_owned()));
                }
                _ => {}
            }
        }
        Ok(KitArgs {
            root: self.path(Opt::Kit),
            values,
        })
    }

    fn no_positional(&self, name: Name) -> Result<(), Failure> {
        match self.positional.first() {
            Some(x) => Err(Failure::usage(format!(
                "unexpected argument {x:?} for {}",
                name.as_str()
            ))),
            None => Ok(()),
        }
    }

    fn entries(&self, name: Name) -> Result<Vec<String>, Failure> {
        if self.positional.is_empty() {
            Err(Failure::usage(format!(
                "{} needs at least one IP/CIDR",
                name.as_str()
            )))
        } else {
            Ok(self.positional.clone())
        }
    }

    fn comment(&self, name: Name) -> Result<String, Failure> {
        self.last(Opt::Comment)
            .filter(|c| !c.trim().is_empty())
            .ok_or_else(|| {
                Failure::usage(format!(
                    "{} needs --comment TEXT: who asked and why, for the record",
                    name.as_str()
                ))
            })
    }

    fn in_force_s(&self) -> Result<Option<u64>, Failure> {
        self.last(Opt::InForceS)
            .map(|v| {
                v.parse().map_err(|_| {
                    Failure::usage(format!("--in-force-s {v:?}: give a number of seconds"))
                })
            })
            .transpose()
    }

    fn limit(&self) -> Result<i32, Failure> {
        let Some(v) = self.last(Opt::Limit) else {
            return Ok(20);
        };
        v.parse::<i32>()
            .ok()
            .filter(|n| (1..=100).contains(n))
            .ok_or_else(|| Failure::usage(format!("--limit {v:?}: give a number from 1 to 100")))
    }

    fn since(&self) -> Result<Duration, Failure> {
        match self.last(Opt::Since) {
            Some(v) => top_denied::parse_since(&v),
            None => Ok(Duration::from_secs(3600)),
        }
    }

    fn ip(&self) -> Result<IpAddr, Failure> {
        let [ip] = self.positional.as_slice() else {
            return Err(Failure::usage("check needs exactly one IP address"));
        };
        ip.parse()
            .map_err(|_| Failure::usage(format!("{ip:?} is not an IP address")))
    }

    /// A respond command with what every respond command accepts.
    fn respond(&self, command: Respond) -> Command {
        let targets = self
            .options
            .iter()
            .filter_map(|(o, v)| match o {
                Opt::Target(t) => Some((t.flag, v.clone())),
                _ => None,
            })
            .collect();
        Command::Respond(respond::Args {
            command,
            profile: self.last(Opt::Profile),
            region: self.last(Opt::Region),
            endpoint_url: self.last(Opt::EndpointUrl),
            targets,
        })
    }

    /// The command `name` with its options.
    fn command(&self, name: Name) -> Result<Command, Failure> {
        let json = self.has(Opt::Json);
        let dry_run = self.has(Opt::DryRun);
        if !matches!(
            name,
            Name::Check | Name::Allow | Name::Revoke | Name::Block | Name::Unblock
        ) {
            self.no_positional(name)?;
        }
        Ok(match name {
            Name::Params => Command::Params,
            Name::Render => Command::Render(Render {
                kit: self.kit()?,
                file: self.last(Opt::File),
            }),
            Name::Validate => Command::Validate(Validate {
                kit: self.kit()?,
                strict: self.has(Opt::Strict),
            }),
            Name::Apply => Command::Apply(Apply {
                kit: self.kit()?,
                dry_run,
                profile: self.last(Opt::Profile),
                endpoint_url: self.last(Opt::EndpointUrl),
            }),
            Name::CloudFormation => Command::CloudFormation(CloudFormation {
                root: self.path(Opt::Kit),
                output: self.path(Opt::Output),
            }),
            Name::TopDenied => self.respond(Respond::TopDenied {
                since: self.since()?,
                limit: self.limit()?,
                json,
            }),
            Name::Check => self.respond(Respond::Check {
                ip: self.ip()?,
                json,
            }),
            Name::List => self.respond(Respond::List { json }),
            Name::Allow => self.respond(Respond::Allow {
                entries: self.entries(name)?,
                comment: self.comment(name)?,
                dry_run,
                in_force_s: self.in_force_s()?,
            }),
            Name::Revoke => self.respond(Respond::Revoke {
                entries: self.entries(name)?,
                comment: self.last(Opt::Comment),
                dry_run,
                in_force_s: self.in_force_s()?,
            }),
            Name::Block => self.respond(Respond::Block {
                entries: self.entries(name)?,
                comment: self.comment(name)?,
                force: self.has(Opt::Force),
                dry_run,
            }),
            Name::Unblock => self.respond(Respond::Unblock {
                entries: self.entries(name)?,
                comment: self.last(Opt::Comment),
                dry_run,
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(args: &str) -> Command {
        parse(args.split_whitespace().map(str::to_owned)).unwrap_or_else(|e| panic!("{args}: {e}"))
    }

    fn error(args: &[&str]) -> String {
        match parse(args.iter().map(|a| (*a).to_owned())) {
            Ok(c) => panic!("{args:?} parsed as {c:?}"),
            Err(f) => {
                assert_eq!(f.code, crate::exit::USAGE, "{args:?}: {f}");
                f.message
            }
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
        assert_eq!(
            error(&["allow", "192.0.2.1", "--coment", "x"]),
            "unknown option --coment (did you mean --comment?)"
        );
        let unlike = error(&["render", "--zzzzzzzz"]);
        assert!(unlike.contains("`vpc-proxy-ops help`"), "{unlike}");
        assert!(!unlike.contains("Usage"), "{unlike}");
    }

    #[test]
    fn a_flag_of_another_command_is_refused_naming_flag_and_command() {
        for (line, flag, command) in [
            ("render --dry-run", "--dry-run", "render"),
            ("validate --output x", "--output", "validate"),
            (
                "cloudformation --function-name f",
                "--function-name",
                "cloudformation",
            ),
            ("list --dry-run", "--dry-run", "list"),
            ("check 192.0.2.1 --comment x", "--comment", "check"),
            ("allow 192.0.2.1 --comment x --json", "--json", "allow"),
            ("allow 192.0.2.1 --comment x --force", "--force", "allow"),
            (
                "block 192.0.2.1 --comment x --in-force-s 5",
                "--in-force-s",
                "block",
            ),
            ("top-denied --stage prod", "--stage", "top-denied"),
            ("apply --parameter /p", "--parameter", "apply"),
            ("params --kit .", "--kit", "params"),
        ] {
            let args: Vec<&str> = line.split_whitespace().collect();
            let message = error(&args);
            assert!(
                message.starts_with(&format!("{flag} is not an option of {command} (only of ")),
                "{line}: {message}"
            );
        }
    }

    #[test]
    fn each_command_holds_its_own_options() {
        let Command::Render(r) = parsed("render --function-name f --set Stage=prod --file a.json")
        else {
            panic!("not render")
        };
        assert_eq!(r.file.as_deref(), Some("a.json"));
        let values: Vec<(&str, &str)> = r
            .kit
            .values
            .iter()
            .map(|(p, v)| (p.name, v.as_str()))
            .collect();
        assert_eq!(values, [("FunctionName", "f"), ("Stage", "prod")]);

        // The kit's --region is the Region parameter; a respond command's is the AWS region.
        let Command::Apply(a) = parsed("apply --region eu-west-1 --dry-run --profile ops") else {
            panic!("not apply")
        };
        assert!(a.dry_run);
        assert_eq!(a.profile.as_deref(), Some("ops"));
        assert_eq!(a.kit.values[0].0.name, "Region");
        let Command::Respond(r) = parsed("list --region eu-west-1 --stack s --json") else {
            panic!("not list")
        };
        assert_eq!(r.region.as_deref(), Some("eu-west-1"));
        assert_eq!(r.targets, [("--stack", "s".to_owned())]);
        assert_eq!(r.command, Respond::List { json: true });

        assert_eq!(parsed(""), Command::Usage);
        for help in [
            "help",
            "-h",
            "--help",
            "render --help",
            "allow --help",
            "--kit . help",
        ] {
            assert_eq!(parsed(help), Command::Help, "{help}");
        }
        // Flags may come before the command; a flag's value is never the command.
        let Command::Validate(v) = parsed("--kit validate validate --strict") else {
            panic!("not validate")
        };
        assert_eq!(v.kit.root, Some(PathBuf::from("validate")));
        assert!(v.strict);
    }

    #[test]
    fn values_and_arguments_are_checked_per_command() {
        assert!(error(&["render", "--set", "Nope"]).contains("NAME=VALUE"));
        assert!(error(&["render", "--set", "Nope=1"]).contains("unknown parameter \"Nope\""));
        assert!(error(&["render", "extra"]).contains("unexpected argument \"extra\" for render"));
        assert!(error(&["render", "--dry-run=yes"]).contains("not an option of render"));
        assert!(error(&["apply", "--dry-run=yes"]).contains("--dry-run takes no value"));
        assert!(error(&["check"]).contains("exactly one IP"));
        assert!(error(&["allow", "192.0.2.1"]).contains("--comment"));
        assert!(error(&["top-denied", "--limit", "0"]).contains("--limit"));
        assert!(error(&["render", "--file"]).contains("--file needs a value"));
        assert!(error(&["renderr"]).starts_with("unknown command \"renderr\""));
    }
}
