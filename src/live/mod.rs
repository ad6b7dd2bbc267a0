//! Live configuration: the allow-list parameter and the upstream-headers secret, read through
//! the Parameters and Secrets extension in the first invocation and again once older than
//! `PROXY_CONFIG_REFRESH_S` (and, in local mode, the allow-list file when it changes).
//!
//! It owns the read schedule, the single flight (concurrent invocations never read a source
//! at once; none waits for more than one read), the last good value of each source, the
//! `config updated` and failure log lines, and the `Snapshot` the request path reads with one
//! atomic load. It must never forward on a configuration it has not read (no snapshot = 503),
//! never drop a last good value for a bad one, and never log a secret's value.
//!
//! Reading and parsing one source is `read`; the `config updated` line is `report`; the
//! clock the schedule runs on is `clock`.

mod clock;
mod read;
mod report;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwapOption;

pub use self::clock::{Clock, ManualClock};
use self::read::{HeadersValue, ListValue, Read, read_file, read_parameter, read_secret, stamp};
use self::report::{log_headers_update, log_list_update};
use crate::allowlist::{self, AllowList};
use crate::config::{Config, ConfigError};
use crate::extension::Extension;
use crate::headers::UpstreamHeaders;
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

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_the_metric_dimension_values() {
        let names: Vec<&str> = FailureReason::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(names, ["unreachable", "rejected", "invalid"]);
    }
}
