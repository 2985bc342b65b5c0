//! The audit trail: one JSON line per security event, written to the file of
//! `[audit] file` (appended, owner-only, reopened on SIGHUP for log
//! rotation) or to standard error.
//!
//! Events are ordinary `tracing` events with target [`TARGET`], emitted
//! where they happen (`tracing::info!(target: "audit", event = "login",
//! outcome = "failure", actor = %username, reason = "wrong password")`).
//! [`init_tracing`] installs two layers: the human log (`TESSERA_LOG`,
//! without the audit target) and [`AuditLayer`], which takes only the audit
//! target and renders each event as a JSON object with `ts` (UTC), `node`,
//! the event's fields, and the `request_id` and `ip` of the request span
//! that the HTTP middleware ([`crate::http::request_id`]) opens around
//! every request. Field names are fixed by convention: `event`, `outcome`,
//! `actor`, `sub`, `client_id`, `ip`, `request_id`, `reason`. A field whose
//! name says it holds a credential (password, secret, token, code, proof,
//! cookie, …) is written as `"[redacted]"`: no caller can put a credential
//! into the trail by mistake (docs/ARCHITECTURE.md invariant 5).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, OnceLock};

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

/// The `tracing` target of audit events and of the request span.
pub const TARGET: &str = "audit";

/// Parts of a field name that mark a credential; such values are redacted.
const CREDENTIAL_WORDS: [&str; 9] = [
    "password",
    "secret",
    "token",
    "code",
    "proof",
    "cookie",
    "authorization",
    "assertion",
    "verifier",
];

/// Where audit lines go.
enum Output {
    Stderr,
    File(PathBuf, std::fs::File),
    #[cfg(test)]
    Memory(Vec<u8>),
}

/// The shared destination of [`AuditLayer`], switched by [`open`]. Lines
/// reach it through a queue when it has a writer thread ([`sink`] starts
/// one for the process): a busy node renders a line per request and must
/// not pay a `write` system call for each, so the writer takes whatever
/// lines are queued and writes them with one call. Lines are written as
/// soon as the writer runs (there is no timer); [`flush`] waits for every
/// queued line (at shutdown). The queue is bounded: if the disk stalls,
/// requests wait for the trail rather than lines being dropped.
#[derive(Clone)]
pub struct Sink {
    output: Arc<Mutex<Output>>,
    queue: Option<mpsc::SyncSender<Queued>>,
}

enum Queued {
    Line(Vec<u8>),
    Flushed(mpsc::SyncSender<()>),
}

/// Lines that may wait for the writer thread.
const QUEUE: usize = 16 * 1024;
/// At most this many bytes per write call.
const BATCH: usize = 256 * 1024;

impl Sink {
    /// A sink written synchronously by the caller (tests).
    #[cfg(test)]
    fn direct(output: Output) -> Sink {
        Sink {
            output: Arc::new(Mutex::new(output)),
            queue: None,
        }
    }

    /// A sink with a writer thread.
    fn with_writer(output: Output) -> Sink {
        let output = Arc::new(Mutex::new(output));
        let (tx, rx) = mpsc::sync_channel(QUEUE);
        let out = Arc::clone(&output);
        let started = std::thread::Builder::new()
            .name("audit-writer".into())
            .spawn(move || write_loop(&rx, &out));
        Sink {
            output,
            queue: started.is_ok().then_some(tx),
        }
    }

    fn write_line(&self, line: Vec<u8>) {
        match &self.queue {
            Some(q) => drop(q.send(Queued::Line(line))),
            None => write_out(&self.output, &line),
        }
    }

    /// Wait (at most 5 s) until every line queued so far is written.
    fn flush(&self) {
        if let Some(q) = &self.queue {
            let (tx, rx) = mpsc::sync_channel(1);
            if q.send(Queued::Flushed(tx)).is_ok() {
                let _ = rx.recv_timeout(std::time::Duration::from_secs(5));
            }
        }
    }
}

fn write_out(output: &Mutex<Output>, bytes: &[u8]) {
    let Ok(mut out) = output.lock() else { return };
    let _ = match &mut *out {
        Output::Stderr => std::io::stderr().lock().write_all(bytes),
        Output::File(_, f) => f.write_all(bytes),
        #[cfg(test)]
        Output::Memory(buf) => buf.write_all(bytes),
    };
}

/// The writer thread: everything queued, one write per batch.
fn write_loop(rx: &mpsc::Receiver<Queued>, output: &Mutex<Output>) {
    let mut buf = Vec::with_capacity(BATCH);
    let mut waiting = Vec::new();
    while let Ok(first) = rx.recv() {
        let mut next = Some(first);
        while let Some(item) = next.take() {
            match item {
                Queued::Line(l) => buf.extend_from_slice(&l),
                Queued::Flushed(done) => waiting.push(done),
            }
            if buf.len() < BATCH {
                next = rx.try_recv().ok();
            }
        }
        if !buf.is_empty() {
            write_out(output, &buf);
            buf.clear();
        }
        for done in waiting.drain(..) {
            let _ = done.send(());
        }
    }
}

/// Wait until every audit line queued so far is written (before exit).
pub fn flush() {
    sink().flush();
}

static SINK: OnceLock<Sink> = OnceLock::new();
static NODE: AtomicU64 = AtomicU64::new(0);

fn sink() -> &'static Sink {
    SINK.get_or_init(|| Sink::with_writer(Output::Stderr))
}

/// Install the process's `tracing` subscriber: the human log on standard
/// error filtered by `TESSERA_LOG` (the audit target excluded), and the
/// audit trail (standard error until [`open`] names a file).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TESSERA_LOG")
        .unwrap_or_else(|_| "info,openraft=warn,actix_server=warn".into())
        .add_directive(format!("{TARGET}=off").parse().expect("a valid directive"));
    let human = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_filter(filter);
    let audit = AuditLayer(sink().clone()).with_filter(only_audit());
    tracing_subscriber::registry()
        .with(human)
        .with(audit)
        .init();
}

/// The audit layer's filter: the audit target only, decided once per
/// callsite (a per-event filter would make every `debug!` and `trace!` of
/// every crate a runtime check). Audit events are `info!` or above; a
/// TRACE level here would raise the process's maximum level to TRACE, and
/// every `log` record of sled and openraft would then be converted and
/// offered to the subscriber only to be dropped.
fn only_audit() -> tracing_subscriber::filter::Targets {
    tracing_subscriber::filter::Targets::new().with_target(TARGET, tracing::Level::INFO)
}

fn open_file(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

/// Send the trail to `file` (or standard error) and stamp lines with `node`.
pub fn open(file: Option<&Path>, node: u64) -> std::io::Result<()> {
    NODE.store(node, Ordering::Relaxed);
    let output = match file {
        Some(path) => Output::File(path.to_path_buf(), open_file(path)?),
        None => Output::Stderr,
    };
    if let Ok(mut out) = sink().output.lock() {
        *out = output;
    }
    Ok(())
}

/// Reopen the audit file (after log rotation moved it); a failure keeps
/// writing to the file already open.
pub fn reopen() -> std::io::Result<()> {
    let Ok(mut out) = sink().output.lock() else {
        return Ok(());
    };
    if let Output::File(path, file) = &mut *out {
        *file = open_file(path)?;
    }
    Ok(())
}

/// Renders audit events as JSON lines into a [`Sink`].
pub struct AuditLayer(Sink);

/// The fields of a span or event, as JSON values, credentials redacted.
#[derive(Default)]
struct Fields(Map<String, Value>);

impl Fields {
    fn put(&mut self, field: &Field, value: Value) {
        let name = field.name();
        let credential = match name.bytes().any(|b| b.is_ascii_uppercase()) {
            true => is_credential(&name.to_ascii_lowercase()),
            false => is_credential(name),
        };
        let value = match credential {
            true => Value::from("[redacted]"),
            false => value,
        };
        self.0.insert(name.to_string(), value);
    }
}

fn is_credential(lower_name: &str) -> bool {
    CREDENTIAL_WORDS.iter().any(|w| lower_name.contains(w))
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.put(field, format!("{value:?}").into());
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, value.into());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, value.into());
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for AuditLayer {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(fields);
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let mut line = Map::new();
        line.insert("ts".into(), rfc3339(std::time::SystemTime::now()).into());
        line.insert("node".into(), NODE.load(Ordering::Relaxed).into());
        // The request's id and address, from the innermost span that has them.
        for span in ctx.event_scope(event).into_iter().flatten() {
            if let Some(outer) = span.extensions().get::<Fields>() {
                for (k, v) in &outer.0 {
                    line.entry(k.clone()).or_insert_with(|| v.clone());
                }
            }
        }
        line.extend(fields.0);
        let mut text = serde_json::to_vec(&Value::Object(line)).unwrap_or_default();
        text.push(b'\n');
        self.0.write_line(text);
    }
}

/// `2026-12-02T07:40:01.123Z`.
fn rfc3339(t: std::time::SystemTime) -> String {
    let d = t.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let (days, secs) = (d.as_secs() / 86_400, d.as_secs() % 86_400);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60,
        d.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn captured(f: impl FnOnce()) -> Vec<Value> {
        let sink = Sink::direct(Output::Memory(Vec::new()));
        let layer = AuditLayer(sink.clone()).with_filter(only_audit());
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, f);
        let out = sink.output.lock().unwrap();
        let Output::Memory(buf) = &*out else {
            unreachable!()
        };
        String::from_utf8_lossy(buf)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// One JSON line per audit event, with the request span's id and
    /// address; other targets are not in the trail; credential fields are
    /// redacted whatever the caller passes.
    #[test]
    fn audit_events_are_json_lines_with_request_fields_and_no_credentials() {
        let lines = captured(|| {
            let span = tracing::info_span!(target: TARGET, "request", request_id = "r-1", ip = "192.0.2.7");
            let _in = span.enter();
            tracing::info!(target: TARGET, event = "login", outcome = "failure", actor = "alice", reason = "wrong password");
            tracing::info!("not an audit event");
            tracing::info!(target: TARGET, event = "oops", password = "hunter2", refresh_token = "rt-1", code_verifier = "v");
        });
        assert_eq!(lines.len(), 2, "{lines:?}");
        let login = &lines[0];
        for (k, v) in [
            ("event", "login"),
            ("outcome", "failure"),
            ("actor", "alice"),
            ("reason", "wrong password"),
            ("request_id", "r-1"),
            ("ip", "192.0.2.7"),
        ] {
            assert_eq!(login[k], v, "{k} in {login}");
        }
        assert!(login["ts"].as_str().unwrap().ends_with('Z'), "{login}");
        let text = lines[1].to_string();
        for secret in ["hunter2", "rt-1", "\"v\""] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        assert_eq!(lines[1]["password"], "[redacted]");
    }

    /// The writer thread keeps every line, in order, and `flush` returns
    /// only once they are all written.
    #[test]
    fn the_writer_thread_writes_every_queued_line_in_order() {
        let sink = Sink::with_writer(Output::Memory(Vec::new()));
        for i in 0..5000 {
            sink.write_line(format!("{i}\n").into_bytes());
        }
        sink.flush();
        let out = sink.output.lock().unwrap();
        let Output::Memory(buf) = &*out else {
            unreachable!()
        };
        let lines: Vec<usize> = String::from_utf8_lossy(buf)
            .lines()
            .map(|l| l.parse().unwrap())
            .collect();
        assert_eq!(lines, (0..5000).collect::<Vec<_>>());
    }

    #[test]
    fn timestamps_are_utc_rfc3339() {
        let at = |s: u64| rfc3339(std::time::UNIX_EPOCH + std::time::Duration::from_secs(s));
        assert_eq!(at(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00.000Z");
        assert_eq!(at(1_796_197_230), "2026-12-02T07:40:30.000Z");
    }
}
