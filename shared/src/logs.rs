//! The log lines: their format, their level, and the one access line each
//! request leaves.
//!
//! Deployed with `LoggingConfig.LogFormat: JSON`, Lambda sets
//! `AWS_LAMBDA_LOG_FORMAT=JSON`, and every line is one JSON object in
//! Lambda's own shape, which CloudWatch Logs Insights reads field by field:
//!
//! ```text
//! {"timestamp":"2026-12-01T16:20:00.123Z","level":"INFO","requestId":"8f5e…","route":"POST /v1/password/verify","status":400,"latency_ms":41.207,"outcome":"invalid_code","function":"sspr-password","message":"request"}
//! ```
//!
//! `timestamp` (RFC 3339, UTC, milliseconds), `level` (Lambda's uppercase
//! names), `requestId` (the Lambda request id, from the span the runtime
//! opens for each invocation: every line inside one carries it; the local
//! host opens one per request too), the event's own fields, and `message`.
//! Otherwise (`cargo run`, the local host) the lines are readable text.
//! Other crates' lines (the AWS SDK, hyper) are written at `INFO` at most,
//! whatever the level: at `DEBUG` they count a request's DynamoDB calls,
//! which tells whether the account it named exists (`written`).
//! `SSPR_LOG_FORMAT=json|text` forces either. The level is Lambda's
//! `ApplicationLogLevel` (`AWS_LAMBDA_LOG_LEVEL`) when set, else `RUST_LOG`,
//! else `info`.
//!
//! The JSON is written here by hand rather than by tracing-subscriber's
//! `json` feature (`tracing-serde` and a second serializer in every binary):
//! a line is a handful of fields, escaped as it is written into one buffer
//! per thread, and handed to stdout in one write, so lines of two threads
//! never interleave. The metrics' EMF lines (`metrics`) are not log events:
//! they are printed as they are, one object a line, which Lambda's JSON
//! format passes through.
//!
//! No field of the access line can carry a secret: the route is the route
//! table's template (`/v1/me/methods/{id}`, never the path), the method is
//! one of HTTP's own names, and the outcome is a problem `code`: no query,
//! no header, no body.

use std::cell::RefCell;
use std::fmt::{self, Write as _};
use std::io::Write as _;

use lambda_http::http::Method;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::filter::{filter_fn, FilterFn};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt as _};
use tracing_subscriber::registry::LookupSpan;

/// How the lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Readable text (the local host, `cargo run`).
    Text,
    /// One JSON object a line, as Lambda's JSON log format has them.
    Json,
}

impl Format {
    /// `SSPR_LOG_FORMAT` (`json` or `text`) when set, else JSON exactly when
    /// Lambda says its log format is (`AWS_LAMBDA_LOG_FORMAT=JSON`).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Self {
        let is = |v: &Option<String>, want: &str| {
            v.as_deref()
                .is_some_and(|v| v.trim().eq_ignore_ascii_case(want))
        };
        let forced = get("SSPR_LOG_FORMAT");
        if is(&forced, "json") {
            return Format::Json;
        }
        if is(&forced, "text") {
            return Format::Text;
        }
        if is(&get("AWS_LAMBDA_LOG_FORMAT"), "json") {
            Format::Json
        } else {
            Format::Text
        }
    }
}

/// The most verbose level written: Lambda's `ApplicationLogLevel`
/// (`AWS_LAMBDA_LOG_LEVEL`: `TRACE` to `FATAL`, which is `ERROR` here) when
/// set, else `RUST_LOG` (a plain level, not a filter expression: the
/// filter's regex engine would cost each binary about a megabyte), else
/// `INFO`. Never `TRACE`, which is `DEBUG`: at `TRACE` the Lambda runtime
/// logs every raw event (passwords, tokens, `Authorization`) and the AWS SDK
/// every request and response body (the Secrets Manager secret among them).
pub fn level_from_lookup(get: impl Fn(&str) -> Option<String>) -> Level {
    let parse = |v: String| {
        let v = v.trim();
        if v.eq_ignore_ascii_case("fatal") {
            Some(Level::ERROR)
        } else {
            v.parse::<Level>().ok()
        }
    };
    let level = get("AWS_LAMBDA_LOG_LEVEL")
        .and_then(parse)
        .or_else(|| get("RUST_LOG").and_then(parse))
        .unwrap_or(Level::INFO);
    if level == Level::TRACE {
        Level::DEBUG
    } else {
        level
    }
}

/// Install the process's logger, as the environment says (format and
/// level). A second call changes nothing.
pub fn init() {
    let env = |k: &str| std::env::var(k).ok();
    let level = level_from_lookup(env);
    match Format::from_lookup(env) {
        Format::Json => {
            let _ =
                tracing::subscriber::set_global_default(json_subscriber(std::io::stdout, level));
        }
        Format::Text => {
            let text = tracing_subscriber::fmt()
                .with_max_level(level)
                .with_target(false)
                .without_time()
                .with_ansi(false)
                .finish()
                .with(written(level));
            let _ = tracing::subscriber::set_global_default(text);
        }
    }
}

/// What is written at `level`: sspr's own lines at `level`, every other
/// crate's (the AWS SDK, hyper, the Lambda runtime) at `INFO` at most. Their
/// `DEBUG` lines narrate each call to DynamoDB, and how many calls a request
/// made tells whether the account it named exists (a known user's code
/// request or failed proof writes, a stranger's does not): the very thing
/// the answers of codes and proofs hide. sspr's own lines say nothing of it
/// (`tests/tests/logs.rs`).
fn written(level: Level) -> FilterFn<impl Fn(&Metadata<'_>) -> bool> {
    let others = level.min(Level::INFO);
    filter_fn(move |m| {
        let most = if m.target().starts_with("sspr") {
            level
        } else {
            others
        };
        *m.level() <= most
    })
}

/// A subscriber writing JSON lines at `level` and above to `writer`: what
/// [`init`] installs with stdout, and what a test installs with a buffer.
pub fn json_subscriber<W>(writer: W, level: Level) -> impl Subscriber + Send + Sync
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::registry()
        .with(tracing_subscriber::filter::LevelFilter::from_level(level))
        .with(written(level))
        .with(JsonLayer { writer })
}

/// The per-request access line: `route` (the route's method and template,
/// as API Gateway's `routeKey` names it; `-` when no route has the path),
/// `status`, `latency_ms`, `outcome` (`ok`, or the problem's `code`) and
/// `function`, at `INFO`.
pub fn access(
    method: &Method,
    template: Option<&str>,
    status: u16,
    outcome: &str,
    function: &str,
    started: std::time::Instant,
) {
    let latency_ms = (started.elapsed().as_secs_f64() * 1e6).round() / 1e3;
    let method = method_name(method);
    match template {
        Some(path) => tracing::info!(
            route = %format_args!("{method} {path}"),
            status,
            latency_ms,
            outcome,
            function,
            "request"
        ),
        None => tracing::info!(
            route = "-",
            status,
            latency_ms,
            outcome,
            function,
            "request"
        ),
    }
}

/// HTTP's own method names as they are; any other token a client sent is
/// `OTHER` (it is the client's text, and no route takes it).
fn method_name(m: &Method) -> &'static str {
    match m.as_str() {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "PATCH" => "PATCH",
        "OPTIONS" => "OPTIONS",
        "TRACE" => "TRACE",
        "CONNECT" => "CONNECT",
        _ => "OTHER",
    }
}

/// Writes each event as one JSON line (see the module doc).
pub struct JsonLayer<W> {
    writer: W,
}

/// The request id a span carries (the runtime's `requestId` field), kept in
/// the span's extensions for the events inside it.
struct RequestId(Box<str>);

/// The line keys an event's own field must not repeat: such a field is
/// written as `field_<name>`.
const RESERVED: [&str; 3] = ["timestamp", "level", "requestId"];

thread_local! {
    /// One line's buffer per thread, reused: a line costs no allocation once
    /// the buffer has grown to it.
    static LINE: RefCell<String> = const { RefCell::new(String::new()) };
}

impl<S, W> Layer<S> for JsonLayer<W>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + 'static,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut found = FindRequestId(None);
        attrs.record(&mut found);
        if let (Some(rid), Some(span)) = (found.0, ctx.span(id)) {
            span.extensions_mut().insert(RequestId(rid));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let write = |line: &mut String| {
            line.clear();
            line.push_str("{\"timestamp\":\"");
            timestamp(line);
            line.push_str("\",\"level\":\"");
            line.push_str(event.metadata().level().as_str());
            line.push('"');
            // The innermost span that knows the request (the runtime's).
            if let Some(scope) = ctx.event_scope(event) {
                for span in scope {
                    if let Some(rid) = span.extensions().get::<RequestId>() {
                        line.push_str(",\"requestId\":\"");
                        let _ = Escaped(line).write_str(&rid.0);
                        line.push('"');
                        break;
                    }
                }
            }
            event.record(&mut Fields(line));
            line.push_str("}\n");
            let _ = self
                .writer
                .make_writer_for(event.metadata())
                .write_all(line.as_bytes());
        };
        let reused = LINE.try_with(|buf| match buf.try_borrow_mut() {
            Ok(mut line) => {
                write(&mut line);
                // A rare long line does not keep its memory.
                if line.capacity() > 16 * 1024 {
                    *line = String::new();
                }
                true
            }
            Err(_) => false,
        });
        if !matches!(reused, Ok(true)) {
            write(&mut String::new());
        }
    }
}

/// Now, as RFC 3339 in UTC with milliseconds (`2026-12-01T16:20:00.123Z`).
fn timestamp(line: &mut String) {
    let t = time::OffsetDateTime::now_utc();
    let _ = write!(
        line,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    );
}

/// Finds a span's `requestId` field.
struct FindRequestId(Option<Box<str>>);

impl Visit for FindRequestId {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "requestId" {
            self.0 = Some(value.into());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "requestId" {
            let mut s = String::new();
            let _ = write!(s, "{value:?}");
            self.0 = Some(s.into());
        }
    }
}

/// Appends an event's fields to a line, each as `,"name":value`.
struct Fields<'a>(&'a mut String);

impl Fields<'_> {
    fn key(&mut self, field: &Field) {
        let name = field.name();
        self.0.push_str(",\"");
        if RESERVED.contains(&name) {
            self.0.push_str("field_");
        }
        let _ = Escaped(self.0).write_str(name);
        self.0.push_str("\":");
    }

    fn text(&mut self, field: &Field, args: fmt::Arguments<'_>) {
        self.key(field);
        self.0.push('"');
        let _ = Escaped(self.0).write_fmt(args);
        self.0.push('"');
    }

    fn bare(&mut self, field: &Field, value: impl fmt::Display) {
        self.key(field);
        let _ = write!(self.0, "{value}");
    }
}

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.text(field, format_args!("{value}"));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.text(field, format_args!("{value:?}"));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.text(field, format_args!("{value}"));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.bare(field, value);
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.bare(field, value);
    }

    fn record_i128(&mut self, field: &Field, value: i128) {
        self.bare(field, value);
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        self.bare(field, value);
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.bare(field, value);
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        if value.is_finite() {
            self.bare(field, value);
        } else {
            self.bare(field, "null");
        }
    }
}

/// Writes text into a line as the inside of a JSON string: `"` and `\`
/// escaped, control characters as `\n`, `\r`, `\t` or `\u00XX`.
struct Escaped<'a>(&'a mut String);

impl fmt::Write for Escaped<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let mut from = 0;
        for (i, b) in s.bytes().enumerate() {
            let short = match b {
                b'"' => "\\\"",
                b'\\' => "\\\\",
                b'\n' => "\\n",
                b'\r' => "\\r",
                b'\t' => "\\t",
                0..=0x1f | 0x7f => "",
                _ => continue,
            };
            // `b` is ASCII, so `i` is a character boundary.
            self.0.push_str(&s[from..i]);
            if short.is_empty() {
                write!(self.0, "\\u{b:04x}")?;
            } else {
                self.0.push_str(short);
            }
            from = i + 1;
        }
        self.0.push_str(&s[from..]);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// A writer into a shared buffer.
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'w> MakeWriter<'w> for Buffer {
        type Writer = Buffer;
        fn make_writer(&'w self) -> Buffer {
            self.clone()
        }
    }

    impl Buffer {
        fn lines(&self) -> Vec<serde_json::Value> {
            let text = String::from_utf8(self.0.lock().unwrap().clone()).unwrap();
            text.lines()
                .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
                .collect()
        }
    }

    fn logged(level: Level, f: impl FnOnce()) -> Vec<serde_json::Value> {
        let buf = Buffer::default();
        tracing::subscriber::with_default(json_subscriber(buf.clone(), level), f);
        buf.lines()
    }

    #[test]
    fn a_message_with_quotes_newlines_and_control_characters_is_one_valid_json_line() {
        let nasty = "say \"hi\"\nnext line\r\tand \\ back \u{1} \u{7f} é ✓";
        let lines = logged(Level::INFO, || {
            tracing::info!(what = nasty, "a \"quoted\"\nmessage");
        });
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0]["message"], "a \"quoted\"\nmessage");
        assert_eq!(lines[0]["what"], nasty);
    }

    #[test]
    fn levels_are_lambdas_uppercase_names_and_the_level_filters() {
        let lines = logged(Level::DEBUG, || {
            tracing::error!("e");
            tracing::warn!("w");
            tracing::info!("i");
            tracing::debug!("d");
            tracing::trace!("t");
        });
        let levels: Vec<_> = lines.iter().map(|l| l["level"].clone()).collect();
        assert_eq!(levels, ["ERROR", "WARN", "INFO", "DEBUG"]);
    }

    #[test]
    fn the_timestamp_is_rfc_3339_in_utc_with_milliseconds() {
        let lines = logged(Level::INFO, || tracing::info!("now"));
        let ts = lines[0]["timestamp"].as_str().unwrap();
        let parsed =
            time::OffsetDateTime::parse(ts, &time::format_description::well_known::Rfc3339)
                .unwrap();
        let drift = (time::OffsetDateTime::now_utc() - parsed).abs();
        assert!(drift < time::Duration::seconds(5), "{ts}");
        assert!(ts.ends_with('Z') && ts.len() == 24, "{ts}");
    }

    #[test]
    fn every_line_inside_a_request_span_carries_its_request_id() {
        let lines = logged(Level::INFO, || {
            tracing::info!("before");
            let span = tracing::info_span!("Lambda runtime invoke", requestId = "abc-123");
            let _in = span.enter();
            tracing::warn!("inside");
            let inner = tracing::info_span!("inner", other = 1);
            let _deeper = inner.enter();
            tracing::info!(n = 3, "deeper");
        });
        assert!(lines[0].get("requestId").is_none());
        assert_eq!(lines[1]["requestId"], "abc-123");
        assert_eq!(lines[2]["requestId"], "abc-123");
        assert_eq!(lines[2]["n"], 3);
    }

    #[test]
    fn the_lambda_runtimes_invocation_span_gives_its_lines_the_lambda_request_id() {
        use lambda_http::lambda_runtime::layers::TracingLayer;
        use lambda_http::lambda_runtime::tower::{Layer as _, Service as _};
        use lambda_http::lambda_runtime::{service_fn, Context, LambdaInvocation};
        let mut context = Context::default();
        context.request_id = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef".into();
        context.xray_trace_id = Some("Root=1-5759e988-bd862e3fe1be46a994272793".into());
        let invocation = LambdaInvocation {
            parts: lambda_http::http::Response::new(()).into_parts().0,
            body: Default::default(),
            context,
        };
        let lines = logged(Level::INFO, || {
            let mut svc = TracingLayer::new().layer(service_fn(|_: LambdaInvocation| async {
                tracing::info!("in the handler");
                Ok::<(), lambda_http::Error>(())
            }));
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            rt.block_on(svc.call(invocation)).unwrap();
        });
        assert_eq!(lines.len(), 1);
        assert_eq!(
            lines[0]["requestId"],
            "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"
        );
        assert_eq!(lines[0]["message"], "in the handler");
    }

    #[test]
    fn fields_keep_their_json_types_and_never_repeat_a_key_of_the_line() {
        let lines = logged(Level::INFO, || {
            tracing::info!(
                count = 3u64,
                delta = -2i64,
                ok = true,
                ms = 1.5f64,
                bad = f64::NAN,
                level = "mine",
                shown = %"display",
                debugged = ?Some(1),
                "typed"
            );
        });
        let l = &lines[0];
        assert_eq!(l["count"], 3);
        assert_eq!(l["delta"], -2);
        assert_eq!(l["ok"], true);
        assert_eq!(l["ms"], 1.5);
        assert!(l["bad"].is_null());
        assert_eq!(l["level"], "INFO");
        assert_eq!(l["field_level"], "mine");
        assert_eq!(l["shown"], "display");
        assert_eq!(l["debugged"], "Some(1)");
    }

    #[test]
    fn the_access_line_names_the_route_template_and_never_an_unknown_method() {
        let lines = logged(Level::INFO, || {
            let started = std::time::Instant::now();
            access(
                &Method::POST,
                Some("/v1/me/methods/{id}/confirm"),
                400,
                "invalid_code",
                "methods",
                started,
            );
            let odd = Method::from_bytes(b"SECRETISH").unwrap();
            access(
                &odd,
                Some("/v1/codes"),
                405,
                "method_not_allowed",
                "dispatch",
                started,
            );
            access(&Method::GET, None, 404, "not_found", "sspr", started);
        });
        assert_eq!(lines[0]["route"], "POST /v1/me/methods/{id}/confirm");
        assert_eq!(lines[0]["status"], 400);
        assert_eq!(lines[0]["outcome"], "invalid_code");
        assert_eq!(lines[0]["function"], "methods");
        assert_eq!(lines[0]["message"], "request");
        assert!(lines[0]["latency_ms"].as_f64().is_some_and(|ms| ms >= 0.0));
        assert_eq!(lines[1]["route"], "OTHER /v1/codes");
        assert_eq!(lines[2]["route"], "-");
    }

    #[test]
    fn the_format_follows_lambda_unless_sspr_log_format_forces_it() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        assert_eq!(Format::from_lookup(env(&[])), Format::Text);
        assert_eq!(
            Format::from_lookup(env(&[("AWS_LAMBDA_LOG_FORMAT", "JSON")])),
            Format::Json
        );
        assert_eq!(
            Format::from_lookup(env(&[("AWS_LAMBDA_LOG_FORMAT", "Text")])),
            Format::Text
        );
        assert_eq!(
            Format::from_lookup(env(&[("SSPR_LOG_FORMAT", "json")])),
            Format::Json
        );
        assert_eq!(
            Format::from_lookup(env(&[
                ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
                ("SSPR_LOG_FORMAT", "text")
            ])),
            Format::Text
        );
        assert_eq!(level_from_lookup(env(&[])), Level::INFO);
        assert_eq!(
            level_from_lookup(env(&[("RUST_LOG", "debug")])),
            Level::DEBUG
        );
        assert_eq!(
            level_from_lookup(env(&[
                ("AWS_LAMBDA_LOG_LEVEL", "WARN"),
                ("RUST_LOG", "debug")
            ])),
            Level::WARN
        );
        assert_eq!(
            level_from_lookup(env(&[("AWS_LAMBDA_LOG_LEVEL", "FATAL")])),
            Level::ERROR
        );
        assert_eq!(
            level_from_lookup(env(&[("RUST_LOG", "sspr=debug,info")])),
            Level::INFO
        );
        // The raw events and the SDK's bodies are logged at TRACE alone.
        assert_eq!(
            level_from_lookup(env(&[("RUST_LOG", "trace")])),
            Level::DEBUG
        );
        assert_eq!(
            level_from_lookup(env(&[("AWS_LAMBDA_LOG_LEVEL", "TRACE")])),
            Level::DEBUG
        );
    }
}
