//! Finding and reading the kit's files: `dashboards/*.json` (dashboard bodies),
//! `alarms/*.json` (PutMetricAlarm inputs) and `alarms/contributor-insights/*.json`
//! (PutInsightRule inputs).
//!
//! This module only reads text. It must never interpret placeholders, parse or change the
//! files' content: rendering and validation own that, so every consumer sees the same bytes.

use std::path::{Path, PathBuf};

use crate::Error;

/// What a kit file defines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// A CloudWatch dashboard body (`dashboards/NAME.json`).
    Dashboard,
    /// A PutMetricAlarm input (`alarms/NAME.json`).
    Alarm,
    /// A PutInsightRule input, `RuleDefinition` kept as a JSON object for readability
    /// (`alarms/contributor-insights/NAME.json`).
    InsightRule,
}

/// One kit file, as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub kind: Kind,
    /// Path relative to the kit root, with `/` separators (`alarms/deny-spike.json`).
    pub path: String,
    pub text: String,
}

impl Source {
    /// The file name without `.json` (`deny-spike`).
    pub fn stem(&self) -> &str {
        let name = self.path.rsplit('/').next().unwrap_or(&self.path);
        name.strip_suffix(".json").unwrap_or(name)
    }
}

/// All kit files, in a stable order (dashboards, alarms, rules; by path within each).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Kit {
    pub sources: Vec<Source>,
}

/// Where the kit's directories live, relative to the kit root.
pub const LAYOUT: &[(Kind, &str)] = &[
    (Kind::Dashboard, "dashboards"),
    (Kind::Alarm, "alarms"),
    (Kind::InsightRule, "alarms/contributor-insights"),
];

impl Kit {
    /// Reads every `*.json` file of the layout under `root`.
    pub fn load(root: &Path) -> Result<Kit, Error> {
        let mut sources = Vec::new();
        for (kind, dir) in LAYOUT {
            let full = root.join(dir);
            let entries = std::fs::read_dir(&full).map_err(|e| cannot_read(&full, e))?;
            let mut names = Vec::new();
            for entry in entries {
                let entry = entry.map_err(|e| cannot_read(&full, e))?;
                let path = entry.path();
                if path.is_file() && path.extension().is_some_and(|x| x == "json") {
                    names.push(path);
                }
            }
            names.sort();
            for path in names {
                let text = std::fs::read_to_string(&path).map_err(|e| cannot_read(&path, e))?;
                let file = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                sources.push(Source {
                    kind: *kind,
                    path: format!("{dir}/{file}"),
                    text,
                });
            }
        }
        if !sources.iter().any(|s| s.kind == Kind::Dashboard) {
            return Err(Error(format!(
                "no dashboards/*.json under {}",
                root.display()
            )));
        }
        Ok(Kit { sources })
    }

    /// The sources of one kind.
    pub fn of(&self, kind: Kind) -> impl Iterator<Item = &Source> {
        self.sources.iter().filter(move |s| s.kind == kind)
    }
}

fn cannot_read(path: &Path, e: std::io::Error) -> Error {
    Error(format!("cannot read {}: {e}", path.display()))
}

/// The kit root when none is given: the current directory if it holds `dashboards/`,
/// else the repository this binary was built from.
pub fn default_root() -> PathBuf {
    let here = PathBuf::from(".");
    if here.join("dashboards").is_dir() {
        return here;
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}
