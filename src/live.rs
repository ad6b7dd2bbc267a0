//! Live configuration: the allow-list parameter and the upstream-headers secret, read through
//! the Parameters and Secrets extension in the first invocation and again once older than
//! `PROXY_CONFIG_REFRESH_S` (and, in local mode, the allow-list file when it changes).
//!
//! It owns the read schedule, the single flight (concurrent invocations never read a source
//! at once; none waits for more than one read), the last good value of each source, the
//! `config updated` and failure log lines, and the `Snapshot` the request path reads with one
//! atomic load. It must never forward on a configuration it has not read (no snapshot = 503),
//! never drop a last good value for a bad one, and never log a secret's value.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use arc_swap::ArcSwapOption;
use ipnet::IpNet;

use crate::allowlist::{self, AllowList, Entry};
use crate::config::{Config, ConfigError};
use crate::extension::{Extension, ReadError, Secret};
use crate::headers::{UpstreamHeaderError, UpstreamHeaders};
// The failure reasons and the no-version marker belong to the outcome record (telemetry reads
// them there); re-exported so callers of live configuration find them here too.
pub use crate::outcome::{FailureReason, NO_VERSION};
use crate::telemetry::redact::Redactor;

/// After a failed first read, the next try waits at least this long ("at most one try a
/// second"), however many invocations arrive.
const FIRST_READ_RETRY: Duration = Duration::from_secs(1);
/// After a failed later read (last good value in force), the next try comes after this or
/// the refresh period, whichever is shorter, so a failure streak keeps showing in
/// `ConfigFailure` every minute while traffic flows (the alarm counts on it).
const LATER_READ_RETRY: Duration = Duration::from_secs(30);
/// How many added and removed entries the `config updated` line lists.
const DIFF_SHOWN: usize = 20;
/// A redactor that knows `headers`' names and secret values.
fn redactor_for(headers: &UpstreamHeaders) -> Redactor {
    Redactor::new(headers.names().map(|n| n.as_str()), headers.secret_values())
}

/// The configuration in force: what the request path reads.
pub struct Snapshot {
    /// Every source's list, as one.
    pub allow_list: AllowList,
    /// The parameter's version when one is in use, else the list's fingerprint.
    pub allowlist_version: Arc<str>,
    /// `PROXY_UPSTREAM_HEADERS` and the secret's headers.
    pub upstream_headers: UpstreamHeaders,
    /// Knows every upstream secret value ever in force in this process.
    pub redactor: Redactor,
}

impl std::fmt::Debug for Snapshot {
    // The redactor holds secret values: it is never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("allow_list", &self.allow_list)
            .field("allowlist_version", &self.allowlist_version)
            .field("upstream_headers", &self.upstream_headers)
            .finish_non_exhaustive()
    }
}

/// Where "now" comes from: the monotonic clock, or a hand-driven one in tests.
#[derive(Debug, Clone)]
pub struct Clock(ClockKind);

#[derive(Debug, Clone)]
enum ClockKind {
    System(Instant),
    Manual(Arc<AtomicU64>),
}

impl Clock {
    pub fn system() -> Clock {
        Clock(ClockKind::System(Instant::now()))
    }

    /// Milliseconds since the clock started.
    fn now_ms(&self) -> u64 {
        match &self.0 {
            ClockKind::System(start) => {
                u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX)
            }
            ClockKind::Manual(ms) => ms.load(Ordering::Acquire),
        }
    }
}

/// A clock that moves only when told to (tests of the refresh rule without sleeping).
#[derive(Debug, Clone, Default)]
pub struct ManualClock(Arc<AtomicU64>);

impl ManualClock {
    pub fn new() -> ManualClock {
        ManualClock::default()
    }

    pub fn clock(&self) -> Clock {
        Clock(ClockKind::Manual(self.0.clone()))
    }

    pub fn advance(&self, by: Duration) {
        let ms = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        self.0.fetch_add(ms, Ordering::AcqRel);
    }
}

/// The live configuration of one execution environment.
pub struct Live {
    current: ArcSwapOption<Snapshot>,
    /// Clock milliseconds at which the next read is due; `u64::MAX` when nothing is live.
    next_due_ms: AtomicU64,
    /// Completed read rounds: an invocation that waited for another's read does not read again.
    rounds: AtomicU64,
    refresh: Duration,
    clock: Clock,
    /// The single flight: whoever holds this reads; the rest serve the last good value.
    sources: tokio::sync::Mutex<Sources>,
    /// For DEBUG event dumps before the first good read: the variable's secrets only.
    base_redactor: Redactor,
}

impl std::fmt::Debug for Live {
    // `base_redactor` holds secret values: it is never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Live")
            .field("current", &self.current.load())
            .field("next_due_ms", &self.next_due_ms)
            .field("refresh", &self.refresh)
            .finish_non_exhaustive()
    }
}

struct Sources {
    extension: Option<Extension>,
    /// `PROXY_ALLOWED_IPS`, and the file unless it is watched.
    fixed_list: AllowList,
    /// `PROXY_UPSTREAM_HEADERS`.
    base_headers: UpstreamHeaders,
    parameter: Option<Source<ListValue>>,
    file: Option<Source<ListValue>>,
    secret: Option<Source<HeadersValue>>,
    /// Every secret value ever in force.
    seen: Redactor,
}

impl std::fmt::Debug for Sources {
    // `seen` holds secret values: it is never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sources")
            .field("extension", &self.extension)
            .field("parameter", &self.parameter)
            .field("file", &self.file)
            .field("secret", &self.secret)
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
struct Source<V> {
    /// Parameter name, secret id or file path, as configured (none of them secret).
    name: String,
    good: Option<V>,
    /// The failure being reported, so a streak logs once (a new bad version logs again).
    failing: Option<(FailureReason, String)>,
}

impl<V> Source<V> {
    fn new(name: String) -> Source<V> {
        Source {
            name,
            good: None,
            failing: None,
        }
    }
}

#[derive(Debug, Clone)]
struct ListValue {
    version: String,
    text: String,
    entries: Vec<Entry>,
    list: AllowList,
    /// Files only: what the last read saw, so an unchanged file is not read again.
    stamp: Option<(Option<SystemTime>, u64)>,
}

#[derive(Debug, Clone)]
struct HeadersValue {
    version: String,
    headers: UpstreamHeaders,
}

/// What one source's read gave.
enum Read<V> {
    Same,
    Changed(V),
    Failed(FailureReason, Failure),
}

/// A failure as it is logged; never holds a secret value.
struct Failure {
    /// Same key = same streak = logged once.
    key: String,
    log: Box<dyn FnOnce(&str) + Send>,
}

impl Live {
    /// Builds the live configuration from the parsed settings. With no live source the
    /// snapshot is in force at once and never read again; otherwise the first read is due in
    /// the first invocation (the extension cannot be called during init).
    pub fn new(config: &Config, clock: Clock) -> Result<Live, ConfigError> {
        let live = &config.live;
        let base_redactor = redactor_for(&config.upstream_headers);
        let watched = live
            .watched_file
            .as_ref()
            .map(|path| -> Result<_, ConfigError> {
                let list = crate::config::read_allow_list_file(path)?;
                let text = std::fs::read_to_string(path).unwrap_or_default();
                let entries = allowlist::entries(&text).unwrap_or_default();
                Ok(Source {
                    name: path.display().to_string(),
                    good: Some(ListValue {
                        version: list.fingerprint(),
                        text,
                        entries,
                        list,
                        stamp: stamp(path),
                    }),
                    failing: None,
                })
            });
        let file = watched.transpose()?;
        let sources = Sources {
            extension: match (&live.session_token, live.uses_extension()) {
                (Some(token), true) => Some(Extension::new(live.extension_port, token.clone())),
                _ => None,
            },
            fixed_list: if file.is_some() {
                config.allowed_ips_inline.clone()
            } else {
                config.allow_list.clone()
            },
            base_headers: config.upstream_headers.clone(),
            parameter: live.parameter.clone().map(Source::new),
            file,
            secret: live.secret.clone().map(Source::new),
            seen: base_redactor.clone(),
        };
        let now = clock.now_ms();
        let next_due = if sources.extension.is_some() {
            0
        } else if sources.file.is_some() {
            now.saturating_add(millis(live.refresh))
        } else {
            u64::MAX
        };
        let current = if sources.extension.is_some() {
            None
        } else {
            sources.snapshot().map(Arc::new)
        };
        Ok(Live {
            current: ArcSwapOption::new(current),
            next_due_ms: AtomicU64::new(next_due),
            rounds: AtomicU64::new(0),
            refresh: live.refresh,
            clock,
            sources: tokio::sync::Mutex::new(sources),
            base_redactor,
        })
    }

    /// The configuration in force, after reading the live sources when they are due. Pushes
    /// one `FailureReason` per failed read made by this call. `None`: never read successfully.
    pub async fn current(&self, failures: &mut Vec<FailureReason>) -> Option<Arc<Snapshot>> {
        let due = self.next_due_ms.load(Ordering::Acquire);
        // Nothing live (the common static case): not even a clock read.
        if due != u64::MAX && self.clock.now_ms() >= due {
            self.refresh(failures).await;
        }
        self.current.load_full()
    }

    /// The configuration in force, without reading anything.
    pub fn peek(&self) -> Option<Arc<Snapshot>> {
        self.current.load_full()
    }

    /// A redactor for DEBUG event dumps: every secret known so far.
    pub fn redactor(&self) -> Redactor {
        self.peek()
            .map_or_else(|| self.base_redactor.clone(), |s| s.redactor.clone())
    }

    async fn refresh(&self, failures: &mut Vec<FailureReason>) {
        let round = self.rounds.load(Ordering::Acquire);
        let mut sources = if self.current.load().is_some() {
            // Someone else is reading: the last good value serves meanwhile; nobody waits.
            match self.sources.try_lock() {
                Ok(sources) => sources,
                Err(_) => return,
            }
        } else {
            // Nothing to serve yet: wait for the read in flight rather than answer 503 while
            // it may be about to succeed. Having waited, do not read again (below).
            self.sources.lock().await
        };
        if self.rounds.load(Ordering::Acquire) != round
            || self.clock.now_ms() < self.next_due_ms.load(Ordering::Acquire)
        {
            return;
        }
        let failed_before = failures.len();
        let changed = sources.read(failures).await;
        let snapshot = if changed || self.current.load().is_none() {
            sources.snapshot()
        } else {
            None
        };
        if let Some(snapshot) = snapshot {
            self.current.store(Some(Arc::new(snapshot)));
        }
        let ready = self.current.load().is_some();
        let wait = if !ready {
            FIRST_READ_RETRY
        } else if failures.len() > failed_before {
            self.refresh.min(LATER_READ_RETRY)
        } else {
            self.refresh
        };
        self.next_due_ms.store(
            self.clock.now_ms().saturating_add(millis(wait)),
            Ordering::Release,
        );
        self.rounds.fetch_add(1, Ordering::AcqRel);
    }
}

impl Sources {
    /// Reads every live source once (the extension's two side by side); true when a value
    /// in force changed.
    async fn read(&mut self, failures: &mut Vec<FailureReason>) -> bool {
        let (parameter, secret) = match &self.extension {
            Some(extension) => {
                let parameter = async {
                    match &self.parameter {
                        Some(source) => Some(read_parameter(extension, source).await),
                        None => None,
                    }
                };
                let secret = async {
                    match &self.secret {
                        Some(source) => {
                            Some(read_secret(extension, source, &self.base_headers).await)
                        }
                        None => None,
                    }
                };
                tokio::join!(parameter, secret)
            }
            None => (None, None),
        };
        let file = self.file.as_ref().map(read_file);
        let mut changed = false;
        if let (Some(source), Some(read)) = (&mut self.parameter, parameter) {
            changed |= settle(source, read, failures, "parameter", log_list_update);
        }
        if let (Some(source), Some(read)) = (&mut self.file, file) {
            changed |= settle(source, read, failures, "file", log_list_update);
        }
        if let (Some(source), Some(read)) = (&mut self.secret, secret) {
            changed |= settle(source, read, failures, "secret", log_headers_update);
        }
        if changed
            && let Some(HeadersValue { headers, .. }) =
                self.secret.as_ref().and_then(|s| s.good.as_ref())
        {
            self.seen = self.seen.with(&redactor_for(headers));
        }
        changed
    }

    /// The configuration from every source's last good value; `None` while one has none.
    fn snapshot(&self) -> Option<Snapshot> {
        let mut allow_list = self.fixed_list.clone();
        let mut version = None;
        if let Some(source) = &self.parameter {
            let good = source.good.as_ref()?;
            allow_list = allow_list.union(&good.list);
            version = Some(good.version.clone());
        }
        if let Some(source) = &self.file {
            allow_list = allow_list.union(&source.good.as_ref()?.list);
        }
        let upstream_headers = match &self.secret {
            Some(source) => self.base_headers.merged(&source.good.as_ref()?.headers),
            None => self.base_headers.clone(),
        };
        let allowlist_version: Arc<str> =
            version.unwrap_or_else(|| allow_list.fingerprint()).into();
        Some(Snapshot {
            allow_list,
            allowlist_version,
            redactor: self.seen.with(&redactor_for(&upstream_headers)),
            upstream_headers,
        })
    }
}

/// Applies one read to its source: keeps the last good value on failure, logs once per
/// streak, logs `config updated` on a change. True when the value in force changed.
fn settle<V>(
    source: &mut Source<V>,
    read: Read<V>,
    failures: &mut Vec<FailureReason>,
    kind: &'static str,
    log_update: fn(&str, &str, Option<&V>, &V),
) -> bool {
    match read {
        Read::Same => {
            if source.failing.take().is_some() {
                tracing::info!(
                    source = kind,
                    name = source.name.as_str(),
                    "config source readable again"
                );
            }
            false
        }
        Read::Changed(value) => {
            if source.failing.take().is_some() {
                tracing::info!(
                    source = kind,
                    name = source.name.as_str(),
                    "config source readable again"
                );
            }
            log_update(kind, &source.name, source.good.as_ref(), &value);
            source.good = Some(value);
            true
        }
        Read::Failed(reason, failure) => {
            failures.push(reason);
            let key = (reason, failure.key);
            if source.failing.as_ref() != Some(&key) {
                (failure.log)(&source.name);
                source.failing = Some(key);
            }
            false
        }
    }
}

async fn read_parameter(extension: &Extension, source: &Source<ListValue>) -> Read<ListValue> {
    let parameter = match extension.parameter(&source.name).await {
        Ok(parameter) => parameter,
        Err(error) => return read_failed("parameter", error),
    };
    if let Some(good) = &source.good
        && good.version == parameter.version
        && good.text == parameter.value
    {
        return Read::Same;
    }
    let version = parameter.version;
    match parse_list(&parameter.value) {
        Ok((entries, list)) => Read::Changed(ListValue {
            version,
            text: parameter.value,
            entries,
            list,
            stamp: None,
        }),
        Err(e) => bad_list("parameter", version, e),
    }
}

fn read_file(source: &Source<ListValue>) -> Read<ListValue> {
    let path = PathBuf::from(&source.name);
    let now = stamp(&path);
    if let Some(good) = &source.good
        && now.is_some()
        && good.stamp == now
    {
        return Read::Same;
    }
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) => {
            let why = e.kind().to_string();
            return Read::Failed(
                FailureReason::Unreachable,
                Failure {
                    key: why.clone(),
                    log: Box::new(move |name| {
                        tracing::warn!(
                            source = "file",
                            name,
                            error = why.as_str(),
                            "config source unreadable; the last good value stays in force"
                        );
                    }),
                },
            );
        }
    };
    if source.good.as_ref().is_some_and(|g| g.text == text) {
        return Read::Same;
    }
    match parse_list(&text) {
        Ok((entries, list)) => Read::Changed(ListValue {
            version: list.fingerprint(),
            text,
            entries,
            list,
            stamp: now,
        }),
        Err(e) => bad_list("file", describe_stamp(now), e),
    }
}

fn parse_list(text: &str) -> Result<(Vec<Entry>, AllowList), allowlist::EntryError> {
    let entries = allowlist::entries(text)?;
    let list = AllowList::parse(text)?;
    Ok((entries, list))
}

fn bad_list<V>(kind: &'static str, version: String, e: allowlist::EntryError) -> Read<V> {
    Read::Failed(
        FailureReason::Invalid,
        Failure {
            key: format!("{version} {}", e.line),
            log: Box::new(move |name| {
                tracing::error!(
                    source = kind,
                    name,
                    version = version.as_str(),
                    line = e.line as u64,
                    entry = e.entry.as_str(),
                    problem = e.why,
                    "config value does not parse; the last good value stays in force"
                );
            }),
        },
    )
}

async fn read_secret(
    extension: &Extension,
    source: &Source<HeadersValue>,
    base: &UpstreamHeaders,
) -> Read<HeadersValue> {
    let secret = match extension.secret(&source.name).await {
        Ok(secret) => secret,
        Err(error) => return read_failed("secret", error),
    };
    let Secret { version, text } = secret;
    let Some(text) = text else {
        return bad_secret(
            version,
            None,
            None,
            "a binary secret (SecretBinary) cannot hold headers".to_owned(),
        );
    };
    let headers = match parse_secret(&text.0, base) {
        Ok(headers) => headers,
        Err(problem) => return bad_secret(version, problem.line, problem.header, problem.why),
    };
    // Same version and same headers (compared as values, never printed): nothing changed.
    if let Some(good) = &source.good
        && good.version == version
        && same_headers(&good.headers, &headers)
    {
        return Read::Same;
    }
    Read::Changed(HeadersValue { version, headers })
}

fn same_headers(a: &UpstreamHeaders, b: &UpstreamHeaders) -> bool {
    a.len() == b.len()
        && a.names().zip(b.names()).all(|(x, y)| x == y)
        && a.secret_values()
            .zip(b.secret_values())
            .all(|(x, y)| x == y)
}

/// A secret value that does not parse: where, never what.
struct SecretProblem {
    line: Option<usize>,
    header: Option<String>,
    why: String,
}

/// `Name: value` lines, or a JSON object of name → value (the console's key/value editor).
/// A header `PROXY_UPSTREAM_HEADERS` also sets counts as a value that does not parse: which
/// of the two would win is not something to leave to order.
fn parse_secret(text: &str, base: &UpstreamHeaders) -> Result<UpstreamHeaders, SecretProblem> {
    let trimmed = text.trim_start();
    let headers = if trimmed.starts_with('{') {
        let object: serde_json::Map<String, serde_json::Value> = serde_json::from_str(trimmed)
            .map_err(|_| SecretProblem {
                line: None,
                header: None,
                // serde's message would quote the value: a fixed phrase instead.
                why: "not a JSON object of header name to string value".to_owned(),
            })?;
        let mut lines = String::new();
        let mut names = Vec::new();
        for (name, value) in &object {
            let problem = |why: &str| SecretProblem {
                line: None,
                header: Some(name.clone()),
                why: why.to_owned(),
            };
            let serde_json::Value::String(value) = value else {
                return Err(problem("value is not a string (value not shown)"));
            };
            if name.contains([':', '\r', '\n']) || name.trim().is_empty() {
                return Err(problem("invalid header name"));
            }
            if value.contains(['\r', '\n']) {
                return Err(problem("value has a line break (value not shown)"));
            }
            lines.push_str(name);
            lines.push_str(": ");
            lines.push_str(value);
            lines.push('\n');
            names.push(name.clone());
        }
        UpstreamHeaders::parse(&lines).map_err(|e| {
            let line = header_error_line(&e);
            SecretProblem {
                line: None,
                header: names.get(line.saturating_sub(1)).cloned(),
                why: e.to_string(),
            }
        })?
    } else {
        UpstreamHeaders::parse(text).map_err(|e| SecretProblem {
            line: Some(header_error_line(&e)),
            header: None,
            why: e.to_string(),
        })?
    };
    if let Some(name) = headers.names().find(|n| base.names().any(|b| b == *n)) {
        return Err(SecretProblem {
            line: None,
            header: Some(name.as_str().to_owned()),
            why: "header is also set by PROXY_UPSTREAM_HEADERS".to_owned(),
        });
    }
    Ok(headers)
}

fn header_error_line(e: &UpstreamHeaderError) -> usize {
    match e {
        UpstreamHeaderError::NoColon(line) => *line,
        UpstreamHeaderError::BadName { line, .. }
        | UpstreamHeaderError::BadValue { line, .. }
        | UpstreamHeaderError::Reserved { line, .. } => *line,
    }
}

fn bad_secret<V>(
    version: String,
    line: Option<usize>,
    header: Option<String>,
    why: String,
) -> Read<V> {
    Read::Failed(
        FailureReason::Invalid,
        Failure {
            key: version.clone(),
            log: Box::new(move |name| {
                tracing::error!(
                    source = "secret",
                    name,
                    version = version.as_str(),
                    line = line.map(|l| l as u64),
                    header = header.as_deref(),
                    problem = why.as_str(),
                    "config value does not parse (value not shown); the last good value stays in force"
                );
            }),
        },
    )
}

fn read_failed<V>(kind: &'static str, error: ReadError) -> Read<V> {
    let (reason, key) = match &error {
        ReadError::Unreachable(_) => (FailureReason::Unreachable, String::new()),
        ReadError::Rejected(status) => (FailureReason::Rejected, status.to_string()),
        ReadError::Malformed(_) => (FailureReason::Invalid, "malformed".to_owned()),
    };
    Read::Failed(
        reason,
        Failure {
            key,
            log: Box::new(move |name| match error {
                ReadError::Unreachable(why) => tracing::warn!(
                    source = kind,
                    name,
                    error = why,
                    "config source unreachable through the Parameters and Secrets extension; the last good value (if any) stays in force"
                ),
                ReadError::Rejected(status) => tracing::error!(
                    source = kind,
                    name,
                    status = u64::from(status),
                    "the Parameters and Secrets extension refused the read (missing, access denied or throttled); the last good value (if any) stays in force"
                ),
                ReadError::Malformed(shape) => tracing::error!(
                    source = kind,
                    name,
                    expected = shape,
                    "the extension's answer is not the documented shape; the last good value (if any) stays in force"
                ),
            }),
        },
    )
}

fn log_list_update(kind: &str, name: &str, old: Option<&ListValue>, new: &ListValue) {
    let old_nets: HashSet<IpNet> = old
        .map(|o| o.entries.iter().map(|e| e.net).collect())
        .unwrap_or_default();
    let new_nets: HashSet<IpNet> = new.entries.iter().map(|e| e.net).collect();
    let added: Vec<&str> = new
        .entries
        .iter()
        .filter(|e| !old_nets.contains(&e.net))
        .map(|e| e.text.as_str())
        .collect();
    let removed: Vec<&str> = old
        .map(|o| {
            o.entries
                .iter()
                .filter(|e| !new_nets.contains(&e.net))
                .map(|e| e.text.as_str())
                .collect()
        })
        .unwrap_or_default();
    tracing::info!(
        source = kind,
        name,
        old_version = old.map(|o| o.version.as_str()),
        new_version = new.version.as_str(),
        old_entries = old.map(|o| o.entries.len() as u64),
        new_entries = new.entries.len() as u64,
        added_count = added.len() as u64,
        removed_count = removed.len() as u64,
        added = first(&added).as_str(),
        removed = first(&removed).as_str(),
        "config updated"
    );
}

fn log_headers_update(kind: &str, name: &str, old: Option<&HeadersValue>, new: &HeadersValue) {
    let old_names: Vec<&str> = old
        .map(|o| o.headers.names().map(|n| n.as_str()).collect())
        .unwrap_or_default();
    let new_names: Vec<&str> = new.headers.names().map(|n| n.as_str()).collect();
    let added: Vec<&str> = new_names
        .iter()
        .filter(|n| !old_names.contains(n))
        .copied()
        .collect();
    let removed: Vec<&str> = old_names
        .iter()
        .filter(|n| !new_names.contains(n))
        .copied()
        .collect();
    tracing::info!(
        source = kind,
        name,
        old_version = old.map(|o| o.version.as_str()),
        new_version = new.version.as_str(),
        old_entries = old.map(|o| o.headers.len() as u64),
        new_entries = new.headers.len() as u64,
        added_count = added.len() as u64,
        removed_count = removed.len() as u64,
        added = first(&added).as_str(),
        removed = first(&removed).as_str(),
        "config updated"
    );
}

/// The first `DIFF_SHOWN` items, comma-separated (the counts say how many there were).
fn first(items: &[&str]) -> String {
    items
        .iter()
        .take(DIFF_SHOWN)
        .copied()
        .collect::<Vec<_>>()
        .join(",")
}

fn stamp(path: &std::path::Path) -> Option<(Option<SystemTime>, u64)> {
    std::fs::metadata(path)
        .ok()
        .map(|m| (m.modified().ok(), m.len()))
}

/// A file has no version: the bad one is named by its modification time.
fn describe_stamp(stamp: Option<(Option<SystemTime>, u64)>) -> String {
    match stamp {
        Some((Some(time), _)) => time.duration_since(SystemTime::UNIX_EPOCH).map_or_else(
            |_| "unknown".to_owned(),
            |d| format!("modified at {}s", d.as_secs()),
        ),
        _ => "unknown".to_owned(),
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_formats_and_refusals() {
        let base = UpstreamHeaders::parse("X-Env: 1").unwrap();
        let h = parse_secret("Authorization: Bearer s3cret\nX-Other: v\n", &base)
            .ok()
            .unwrap();
        assert_eq!(h.len(), 2);
        let h = parse_secret(
            r#"{"Authorization": "Bearer s3cret", "X-Other": "v"}"#,
            &base,
        )
        .ok()
        .unwrap();
        assert_eq!(h.len(), 2);
        for (text, line, header) in [
            ("X-Ok: 1\nno colon s3cret", Some(2), None),
            ("X-Env: s3cret", None, Some("x-env")),
            (r#"{"X-Key": 7}"#, None, Some("X-Key")),
            (r#"{"X-Key": "s3cret\nInjected: 1"}"#, None, Some("X-Key")),
            (r#"{"Host": "s3cret"}"#, None, Some("Host")),
            (r#"{"X-Key": "s3cret""#, None, None),
        ] {
            let Err(p) = parse_secret(text, &base) else {
                panic!("{text} parsed")
            };
            assert_eq!(
                (p.line, p.header.as_deref()),
                (line, header),
                "{text}: {}",
                p.why
            );
            assert!(!p.why.contains("s3cret"), "{}", p.why);
        }
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let manual = ManualClock::new();
        let clock = manual.clock();
        assert_eq!(clock.now_ms(), 0);
        manual.advance(Duration::from_secs(31));
        assert_eq!(clock.now_ms(), 31_000);
    }

    #[test]
    fn reasons_are_the_metric_dimension_values() {
        let names: Vec<&str> = FailureReason::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(names, ["unreachable", "rejected", "invalid"]);
    }
}
