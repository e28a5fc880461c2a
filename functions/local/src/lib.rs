//! `sspr-local`: every route of every function in one process on loopback,
//! with embedded dynoxide and the outbox mailer. Not deployed.
//!
//! Each HTTP request is turned into a real API Gateway HTTP API (v2) event and
//! parsed by `lambda_http`, so the functions see exactly what Lambda gives them.
//! Mail takes the deployed path too: the writes queue it, the table's stream
//! (read from dynoxide by [`stream::StreamPump`]) names it, and the `mailer`
//! function's courier sends it, to the outbox folder or SES (text messages to
//! the outbox folder too, or SNS, or nowhere: `SSPR_SMS`). The same stream
//! records go to the `events` function's handler: the audit events other
//! systems hear of, appended as JSON lines to the outbox folder's `events`
//! file, or published to EventBridge when `SSPR_EVENT_BUS` names a bus.
//!
//! Like API Gateway, the local host names itself in `Host` and sets the
//! `X-Forwarded-*` headers: a client's never reach the event, and the event
//! passes the same admission as on Lambda (`sspr_core::http::admit`). A target
//! over `MAX_TARGET` is `414`, a declared body over `MAX_BODY` is `413` before
//! a byte of it is read, and a body is never read past `MAX_BODY`.

pub mod stream;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::body::{Bytes, HttpBody as _};
use base64::Engine as _;
use lambda_http::request::LambdaRequest;
use lambda_http::{Body, Request};
use sspr_core::config::{Config, Secrets};
use sspr_core::events::{EventBridgePublisher, OutboxEvents, Publish};
use sspr_core::http::{Problem, Route, MAX_BODY, MAX_TARGET};
use sspr_core::ports::{Clock, Mailer, SystemClock};
use sspr_core::store::embedded::EmbeddedDynamo;
use sspr_core::store::DynamoStore;
use sspr_core::App;
use tokio::sync::oneshot;

/// How to run the local host.
pub struct Options {
    /// Where to listen (`127.0.0.1:0` picks a free port).
    pub addr: SocketAddr,
    /// A SQLite file for dynoxide; in memory when `None`.
    pub data: Option<PathBuf>,
    pub config: Config,
    /// Print each mail to stdout as well as writing it to the outbox.
    pub echo_mail: bool,
    pub clock: Arc<dyn Clock>,
    /// A mailer to use instead of the one the configuration names.
    pub mailer: Option<Arc<dyn Mailer>>,
    /// A DynamoDB endpoint (and attempt and call timeouts) to use instead of
    /// starting dynoxide: a fault-injecting proxy in tests.
    pub dynamo: Option<(String, (std::time::Duration, std::time::Duration))>,
    /// The dynoxide endpoint the courier reads the stream and the queued mail
    /// from, when `dynamo` is a proxy in front of it (so the faults a test
    /// injects into the requests' calls stay where the test aims them).
    pub courier_dynamo: Option<String>,
    /// Run the courier on the stream (off for a test that runs its own).
    pub courier: bool,
    /// Where the audit events go; `None`: the outbox folder's `events` file.
    pub events: Option<Arc<dyn Publish>>,
    /// The keys to run on (loaded from Secrets Manager, as a deployed
    /// function loads them), instead of the key file beside `data` or
    /// throwaway ones: several hosts on one table share a keyring this way.
    pub secrets: Option<Secrets>,
}

impl Options {
    /// The defaults of `cargo run -p sspr-local`, with the configuration from the environment.
    pub fn from_env() -> Result<Self, String> {
        let mut config = Config::from_env().map_err(|e| e.to_string())?;
        // Locally text messages go to the outbox with the mail, unless
        // `SSPR_SMS` (off or sns) says otherwise.
        if std::env::var("SSPR_SMS").map_or(true, |v| v.trim().is_empty()) {
            config.sms = sspr_core::config::SmsMode::Outbox;
        }
        // Events to EventBridge when a bus is named (with SSPR_EVENT_DLQ_URL,
        // as deployed), else to the outbox folder.
        let bus_named = std::env::var("SSPR_EVENT_BUS").is_ok_and(|v| !v.trim().is_empty());
        let events: Option<Arc<dyn Publish>> = if bus_named {
            Some(Arc::new(
                EventBridgePublisher::from_env().map_err(|e| e.to_string())?,
            ))
        } else {
            None
        };
        let addr = std::env::var("SSPR_ADDR")
            .ok()
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| "127.0.0.1:8080".into())
            .parse()
            .map_err(|e| format!("SSPR_ADDR: {e}"))?;
        Ok(Self {
            addr,
            data: None,
            config,
            echo_mail: true,
            clock: Arc::new(SystemClock),
            mailer: None,
            dynamo: None,
            courier_dynamo: None,
            courier: true,
            events,
            secrets: None,
        })
    }
}

/// A running local host. Dropping it stops the server and dynoxide.
pub struct Running {
    pub url: String,
    pub app: App,
    pub store: DynamoStore,
    /// The courier's own store (its calls are not the requests' round trips).
    pub courier_store: DynamoStore,
    /// The dynoxide endpoint and the stream the courier reads.
    pub courier_endpoint: String,
    pub stream_arn: String,
    pump: Option<Arc<stream::StreamPump>>,
    courier: sspr_core::mail::courier::Courier,
    dynamo: Option<EmbeddedDynamo>,
    stop: Option<oneshot::Sender<()>>,
    pumping: Option<tokio::task::JoinHandle<()>>,
}

impl Running {
    /// Stop the embedded DynamoDB endpoint, to see how the app answers without it.
    pub fn stop_dynamo(&mut self) {
        self.dynamo = None;
    }

    /// Deliver every mail queued so far (the stream read until it holds
    /// nothing new): what a test does before it reads the outbox.
    pub async fn settle_mail(&self) {
        if let Some(p) = &self.pump {
            p.settle().await;
        }
    }

    /// Have the courier send only when [`settle_mail`](Self::settle_mail) says so.
    pub fn pump_pause(&self) {
        if let Some(p) = &self.pump {
            p.pause();
        }
    }

    /// The courier that sends this host's mail.
    pub fn courier(&self) -> sspr_core::mail::courier::Courier {
        self.courier.clone()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(p) = &self.pumping {
            p.abort();
        }
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// A DynamoDB client for a local endpoint: fixed region and throwaway
/// credentials, so nothing looks for real ones.
pub async fn local_dynamo_client(endpoint: &str) -> aws_sdk_dynamodb::Client {
    local_dynamo_client_with(endpoint, sspr_core::store::DYNAMO_TIMEOUTS).await
}

/// As [`local_dynamo_client`], giving up on one attempt after `attempt` and on a
/// call, retries included, after `call`.
pub async fn local_dynamo_client_with(
    endpoint: &str,
    (attempt, call): (std::time::Duration, std::time::Duration),
) -> aws_sdk_dynamodb::Client {
    use aws_sdk_dynamodb::config::retry::RetryConfig;
    let sdk = sspr_core::aws::local(endpoint, "us-east-1")
        // Locally a retry need not wait long: the emulator is not overloaded.
        .retry_config(
            RetryConfig::standard().with_initial_backoff(std::time::Duration::from_millis(20)),
        )
        .build();
    sspr_core::store::client(&sdk, (attempt, call))
}

/// Start dynoxide, the store, the app, the courier on the stream and the HTTP server.
pub async fn start(opts: Options) -> Result<Running, String> {
    let (dynamo, client, endpoint) = match &opts.dynamo {
        Some((endpoint, timeouts)) => (
            None,
            local_dynamo_client_with(endpoint, *timeouts).await,
            endpoint.clone(),
        ),
        None => {
            let d = EmbeddedDynamo::start(opts.data.as_deref()).await?;
            let client = local_dynamo_client(d.endpoint()).await;
            let endpoint = d.endpoint().to_owned();
            (Some(d), client, endpoint)
        }
    };
    let store = DynamoStore::new(
        client,
        opts.config.table.clone(),
        opts.config.audit_retention,
    );
    store
        .ensure_table()
        .await
        .map_err(|e| format!("table: {e}"))?;
    let courier_endpoint = opts.courier_dynamo.clone().unwrap_or(endpoint);
    let courier_store = DynamoStore::new(
        local_dynamo_client(&courier_endpoint).await,
        opts.config.table.clone(),
        opts.config.audit_retention,
    );
    let stream_arn = courier_store
        .stream_arn()
        .await
        .map_err(|e| format!("stream: {e}"))?
        .ok_or("the table has no stream")?;
    let mailer: Arc<dyn Mailer> = match opts.mailer {
        Some(m) => m,
        None => sspr_core::app::mailer_for(&opts.config, None, opts.echo_mail)
            .map_err(|e| e.to_string())?,
    };
    let sms =
        sspr_core::app::sms_for(&opts.config, None, opts.echo_mail).map_err(|e| e.to_string())?;
    let listener = tokio::net::TcpListener::bind(opts.addr)
        .await
        .map_err(|e| format!("bind {}: {e}", opts.addr))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let mut config = opts.config;
    // The code mails link to the pages this host serves, unless told otherwise.
    if config.public_url.is_none() {
        config.public_url = Some(format!("http://{addr}"));
    }
    let pages = sspr_web::Pages::new(&config);
    // With `--data`, the keyring beside the file (`FILE.keys`), so a restart
    // keeps every sealed secret, code and token; without, throwaway keys.
    let secrets = match (opts.secrets, &opts.data) {
        (Some(secrets), _) => secrets,
        (None, Some(path)) => sspr_core::keys::file::load_or_create(path, opts.clock.now())
            .map_err(|e| e.to_string())?,
        (None, None) => Secrets::throwaway(),
    };
    let app = App::new(
        config,
        secrets,
        Arc::new(store.clone()),
        opts.clock,
        sspr_core::app::Parts::ALL,
    );
    let courier = app.courier(Arc::new(courier_store.clone()), mailer, sms);
    let events = opts
        .events
        .unwrap_or_else(|| Arc::new(OutboxEvents::new(&app.config.outbox_dir)));
    let pump = match opts.courier {
        true => Some(Arc::new(
            stream::StreamPump::new(
                &courier_endpoint,
                &stream_arn,
                stream::Sink::InProcess(courier.clone()),
            )
            .await?
            .with_events(events),
        )),
        false => None,
    };
    let pumping = pump.clone().map(|p| tokio::spawn(p.run()));

    let (stop, mut stopped) = oneshot::channel::<()>();
    let shared = app.clone();
    let nudged = pump.clone();
    tokio::spawn(async move {
        loop {
            let (stream, peer) = tokio::select! {
                _ = &mut stopped => return,
                accepted = listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        continue;
                    }
                },
            };
            let app = shared.clone();
            let pages = pages.clone();
            let pump = nudged.clone();
            let service =
                hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let app = app.clone();
                    let pages = pages.clone();
                    let pump = pump.clone();
                    async move {
                        // Each request in a span with its id, as the Lambda
                        // runtime opens one per invocation: every line it
                        // logs carries the id.
                        let id = uuid::Uuid::new_v4().to_string();
                        let span = tracing::info_span!("request", requestId = %id);
                        let resp = tracing::Instrument::instrument(
                            serve(&app, &pages, addr, peer, id, req.map(axum::body::Body::new)),
                            span,
                        )
                        .await;
                        // A request may have queued mail: have the courier look now.
                        if let Some(p) = &pump {
                            p.nudge();
                        }
                        Ok::<_, std::convert::Infallible>(resp)
                    }
                });
            tokio::spawn(async move {
                // Half-close: a client may shut its side once it has sent the
                // request; it still gets its answer (hyper's default drops it).
                let conn = hyper::server::conn::http1::Builder::new()
                    .half_close(true)
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
                if let Err(e) = conn.await {
                    tracing::debug!(error = %e, "connection ended");
                }
            });
        }
    });
    Ok(Running {
        url: format!("http://{addr}"),
        app,
        store,
        courier_store,
        courier_endpoint,
        stream_arn,
        pump,
        courier,
        dynamo,
        stop: Some(stop),
        pumping,
    })
}

/// Every API function's route table: what API Gateway routes to each (the
/// pages' table, of another state, is [`sspr_web::ROUTES`]).
pub static FUNCTIONS: [&[Route]; 5] = [
    sspr_register::ROUTES,
    sspr_dispatch::ROUTES,
    sspr_password::ROUTES,
    sspr_signin::ROUTES,
    sspr_methods::ROUTES,
];

/// Route one request to the function whose table has its path (the pages
/// or an API function), and serve it there as that function's entry point does.
pub async fn route(
    app: &App,
    pages: &sspr_web::Pages,
    req: Request,
) -> lambda_http::Response<Body> {
    let path = sspr_core::http::route_path(&req);
    if sspr_web::ROUTES.iter().any(|r| r.matches(&path)) {
        return sspr_core::http::serve(sspr_web::ROUTES, pages, req).await;
    }
    let table = FUNCTIONS
        .iter()
        .find(|t| t.iter().any(|r| r.matches(&path)))
        .copied()
        .unwrap_or(&[]);
    sspr_core::http::serve(table, app, req).await
}

async fn serve(
    app: &App,
    pages: &sspr_web::Pages,
    local: SocketAddr,
    peer: SocketAddr,
    id: String,
    req: axum::extract::Request,
) -> axum::response::Response {
    let started = std::time::Instant::now();
    let (parts, body) = req.into_parts();
    // Refused here, as API Gateway or the entry point refuses it, with the
    // access line the served requests leave.
    let refuse = |p: Problem| {
        sspr_core::logs::access(
            &parts.method,
            None,
            p.status().as_u16(),
            p.code.as_str(),
            "local",
            started,
        );
        to_axum(sspr_core::http::outgoing(&parts.method, p.into_response()))
    };
    // Refused before the body is read whole: the rest of it would be taken
    // for the next request, so the connection ends with the answer.
    let refuse_and_close = |p: Problem| {
        let mut resp = refuse(p);
        resp.headers_mut().insert(
            http::header::CONNECTION,
            http::HeaderValue::from_static("close"),
        );
        resp
    };
    let target = parts.uri.path_and_query().map_or(0, |pq| pq.as_str().len());
    if target > MAX_TARGET {
        return refuse_and_close(Problem::uri_too_long());
    }
    // Refused at once: the client need not send what would be thrown away
    // (nor is a `100 Continue` sent for it).
    let declared = parts
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY as u64) {
        return refuse_and_close(Problem::payload_too_large());
    }
    let bytes = match read_body(body).await {
        Ok(b) => b,
        Err(p) => return refuse_and_close(p),
    };
    let event = v2_event(&parts, local, peer, &id, &bytes);
    // From text: lambda_http reads events through `RawValue`, which a `Value` cannot give.
    let mut lambda: LambdaRequest = match serde_json::from_str(&event.to_string()) {
        Ok(r) => r,
        Err(_) => return refuse(Problem::invalid_request("The request could not be read.")),
    };
    if let Err(p) = sspr_core::http::admit(&mut lambda) {
        return refuse(p);
    }
    to_axum(route(app, pages, Request::from(lambda)).await)
}

/// The body, read only up to `MAX_BODY`: a chunked body that grows past it is
/// `413` as soon as it does.
async fn read_body(mut body: axum::body::Body) -> Result<Bytes, Problem> {
    let mut buf = Vec::new();
    while let Some(frame) =
        std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await
    {
        let Ok(frame) = frame else {
            return Err(Problem::invalid_request("The body could not be read."));
        };
        if let Ok(data) = frame.into_data() {
            if buf.len() + data.len() > MAX_BODY {
                return Err(Problem::payload_too_large());
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(Bytes::from(buf))
}

/// The API Gateway HTTP API (payload 2.0) event for a request, as AWS sends it:
/// `Host` names the API (here the local host's own address), and the
/// `X-Forwarded-*` headers are the gateway's, not the client's.
fn v2_event(
    parts: &http::request::Parts,
    local: SocketAddr,
    peer: SocketAddr,
    id: &str,
    body: &Bytes,
) -> serde_json::Value {
    let mut headers = serde_json::Map::new();
    for (name, value) in &parts.headers {
        let key = name.as_str().to_ascii_lowercase();
        if key == "host" || key.starts_with("x-forwarded-") || key == "forwarded" {
            continue;
        }
        let v = String::from_utf8_lossy(value.as_bytes()).into_owned();
        match headers.get_mut(&key) {
            Some(serde_json::Value::String(prev)) => {
                prev.push(',');
                prev.push_str(&v);
            }
            _ => {
                headers.insert(key, serde_json::Value::String(v));
            }
        }
    }
    for (key, value) in [
        ("host", local.to_string()),
        ("x-forwarded-for", peer.ip().to_string()),
        ("x-forwarded-port", local.port().to_string()),
        ("x-forwarded-proto", "http".to_owned()),
    ] {
        headers.insert(key.into(), serde_json::Value::String(value));
    }
    let ua = parts
        .headers
        .get("user-agent")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default();
    let (body, b64) = match std::str::from_utf8(body) {
        Ok(s) => (s.to_owned(), false),
        Err(_) => (base64::engine::general_purpose::STANDARD.encode(body), true),
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    let path = parts.uri.path();
    serde_json::json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": parts.uri.query().unwrap_or(""),
        "headers": headers,
        "requestContext": {
            "accountId": "local",
            "apiId": "local",
            "domainName": "localhost",
            "domainPrefix": "localhost",
            "http": {
                "method": parts.method.as_str(),
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": peer.ip().to_string(),
                "userAgent": ua,
            },
            "requestId": id,
            "routeKey": "$default",
            "stage": "$default",
            "timeEpoch": now,
        },
        "body": body,
        "isBase64Encoded": b64,
    })
}

fn to_axum(resp: lambda_http::Response<Body>) -> axum::response::Response {
    let (parts, body) = resp.into_parts();
    let bytes: Vec<u8> = match body {
        Body::Empty => Vec::new(),
        Body::Text(t) => t.into_bytes(),
        Body::Binary(b) => b,
        _ => Vec::new(),
    };
    axum::response::Response::from_parts(parts, axum::body::Body::from(bytes))
}
