//! The front door of every function: the raw API Gateway HTTP API (v2) event,
//! made safe to hand to `lambda_http`, then the handler, then the answer.
//!
//! `lambda_http` (1.3) builds a request's URI from the client's `Host` and
//! `X-Forwarded-Proto` headers, the stage, the raw path and the raw query, and
//! `unwrap()`s the result (`build_request_uri` and `into_api_gateway_v2_request`
//! in its request.rs): a `Host` of `127.0.0.1:99999`, `x:y`, `a b` or `[::1`, an
//! empty `X-Forwarded-Proto`, a target of 65,534 bytes, or a path that is not
//! one (`*`) panics, and the release build aborts on panic. API Gateway checks
//! most of that before it calls a function, but `cargo lambda watch` and the
//! local host forward what a client sent. So every event passes [`admit`]
//! first: a `Host` or `X-Forwarded-Proto` that is not plainly valid is dropped
//! (`lambda_http` then falls back to the request context's domain name, which
//! is checked the same way), a target that is too long is `414 uri_too_long`,
//! one that is not a path, or that `lambda_http` could still not turn into a
//! URI, is `400 invalid_request`, and so is a body marked base64 that is not
//! (`aws_lambda_events` `expect()`s it); a body over 16 KiB is `413` on every
//! route. The URI check runs `lambda_http`'s own steps, so what is admitted
//! cannot drift from what it converts.
//!
//! [`start`] is the Lambda entry point of the six HTTP functions (register,
//! dispatch, password, signin, methods and web: each `main.rs` is one call
//! with its route table and its parts); the local host calls
//! [`admit`] on the events it builds. Both serve the tables through
//! [`serve`](super::serve), and every answer, served or refused, leaves
//! through [`outgoing`]: the headers every answer carries whatever made it
//! (`Strict-Transport-Security`), and `HEAD` answered as `GET` without the
//! body ([`for_method`]).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use lambda_http::http::header::{HeaderValue, CONTENT_LENGTH, HOST, STRICT_TRANSPORT_SECURITY};
use lambda_http::http::{HeaderMap, Method};
use lambda_http::lambda_runtime::LambdaEvent;
use lambda_http::request::LambdaRequest;
use lambda_http::{Adapter, Body, Error, Request, Response, Service, TransformResponse};

use super::{serve, Host, Problem, Route};

/// Longest request target (path and query, stage included) served, in bytes.
/// Every route is a short path without a query; API Gateway's own limit for
/// the request line and headers together is 10 KiB.
pub const MAX_TARGET: usize = 8 * 1024;

const X_FORWARDED_PROTO: &str = "x-forwarded-proto";

/// `Strict-Transport-Security` of every answer (ASVS 3.4.1): browsers reach
/// this host, and every name under it, over HTTPS only for two years
/// (RFC 6797; a browser ignores it on a plain-HTTP answer, so the local
/// host's `http://` is unaffected). Not `preload`: entering a domain in the
/// browsers' preload lists is a commitment of the whole registrable domain
/// (every name under it, for months, hard to undo) that its owner makes, not
/// a service on one of its names; and the API's own domain
/// (`execute-api.amazonaws.com`) is not the deployment's to preload.
pub const HSTS: &str = "max-age=63072000; includeSubDomains";

/// A function's `main`: the app built once per cold start, then every event
/// through [`admit`] to its route table, on sspr's one runtime start
/// ([`crate::runtime::start`]: the Tokio runtime, the logs), with the state's
/// optional `parts` the function names. What `lambda_http::run` does, with
/// the admission in front: the answer is converted by `lambda_http`'s own
/// adapter, so it is exactly what `lambda_http::run` would send.
pub fn start<S: Host>(routes: &'static [Route<S>], parts: S::Parts) -> Result<(), Error> {
    crate::runtime::start(move || async move {
        let state = S::from_env(parts).await?;
        let handler = move |state: S, req| async move { serve(routes, &state, req).await };
        Ok(Entry::new(state, handler))
    })
}

/// The service [`start`] hands the Lambda runtime: raw event in, `lambda_http`'s
/// answer out. Public so the tests can drive it with real events.
pub struct Entry<S, H> {
    serve: Adapter<'static, Response<Body>, Handler<S, H>>,
}

impl<S, H, F> Entry<S, H>
where
    S: Clone + Send + 'static,
    H: Fn(S, Request) -> F + Send + 'static,
    F: Future<Output = Response<Body>> + Send + 'static,
{
    pub fn new(state: S, handler: H) -> Self {
        Self {
            serve: Adapter::from(Handler { state, handler }),
        }
    }
}

impl<S, H, F> Service<LambdaEvent<LambdaRequest>> for Entry<S, H>
where
    S: Clone + Send + 'static,
    H: Fn(S, Request) -> F + Send + 'static,
    F: Future<Output = Response<Body>> + Send + 'static,
{
    type Response = <Adapter<'static, Response<Body>, Handler<S, H>> as Service<
        LambdaEvent<LambdaRequest>,
    >>::Response;
    type Error = Error;
    type Future = TransformResponse<'static, Response<Body>, Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.serve.poll_ready(cx)
    }

    fn call(&mut self, mut event: LambdaEvent<LambdaRequest>) -> Self::Future {
        match admit(&mut event.payload) {
            Ok(()) => self.serve.call(event),
            // The refusal goes through the same adapter shape, so it is
            // converted like any other answer.
            Err(problem) => Adapter::from(Handler {
                state: problem,
                handler: refuse,
            })
            .call(event),
        }
    }
}

/// The function's handler as a `Service<Request>`.
#[doc(hidden)]
pub struct Handler<S, H> {
    state: S,
    handler: H,
}

type Answer = Pin<Box<dyn Future<Output = Result<Response<Body>, Error>> + Send>>;

impl<S, H, F> Service<Request> for Handler<S, H>
where
    S: Clone,
    H: Fn(S, Request) -> F,
    F: Future<Output = Response<Body>> + Send + 'static,
{
    type Response = Response<Body>;
    type Error = Error;
    type Future = Answer;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request) -> Answer {
        let answer = (self.handler)(self.state.clone(), req);
        Box::pin(async move { Ok(answer.await) })
    }
}

/// The answer to an event [`admit`] refused, served as a [`Handler`] of the
/// problem, so it is converted by the same adapter as any other answer.
fn refuse(problem: Problem, req: Request) -> std::future::Ready<Response<Body>> {
    let started = std::time::Instant::now();
    // A refused request leaves its access line too; no route took it.
    crate::logs::access(
        req.method(),
        None,
        problem.status().as_u16(),
        problem.code.as_str(),
        crate::metrics::function(),
        started,
    );
    std::future::ready(outgoing(req.method(), problem.into_response()))
}

/// The last step of every answer, served or refused, on Lambda and in the
/// local host: what every answer carries whatever made it ([`HSTS`]), and
/// `HEAD`'s body dropped ([`for_method`]).
pub fn outgoing(method: &Method, mut resp: Response<Body>) -> Response<Body> {
    resp.headers_mut()
        .insert(STRICT_TRANSPORT_SECURITY, HeaderValue::from_static(HSTS));
    for_method(method, resp)
}

/// `HEAD` is `GET` without the body (RFC 9110, 9.3.2): the same status and
/// headers, `Content-Length` the length the body would have had.
pub fn for_method(method: &Method, resp: Response<Body>) -> Response<Body> {
    if method != Method::HEAD {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let len = match &body {
        Body::Empty => 0,
        Body::Text(t) => t.len(),
        Body::Binary(b) => b.len(),
        _ => 0,
    };
    // No length for answers that never have a body (RFC 9110, 8.6).
    if parts.status.as_u16() != 204 && parts.status.as_u16() != 304 {
        parts.headers.insert(CONTENT_LENGTH, HeaderValue::from(len));
    }
    Response::from_parts(parts, Body::Empty)
}

/// Make an event safe to convert, or say what to answer instead. On `Err` the
/// event has been reduced to one that converts (path `/`, no query, no host),
/// so the refusal itself can be sent.
pub fn admit(event: &mut LambdaRequest) -> Result<(), Problem> {
    match event {
        LambdaRequest::ApiGatewayV2(ag) => {
            let verdict = admit_v2(ag);
            if verdict.is_err() {
                neutralise(ag);
            }
            verdict
        }
        // sspr is built with the HTTP API (v2) payload only.
        _ => Ok(()),
    }
}

fn admit_v2(ag: &mut ApiGatewayV2httpRequest) -> Result<(), Problem> {
    let host = sole(&ag.headers, HOST.as_str())
        .filter(|h| is_authority(h))
        .map(str::to_ascii_lowercase);
    ag.headers.remove(HOST);
    if let Some(h) = host.and_then(|h| HeaderValue::from_str(&h).ok()) {
        ag.headers.insert(HOST, h);
    }
    if ag
        .request_context
        .domain_name
        .as_deref()
        .is_some_and(|d| !is_authority(d))
    {
        ag.request_context.domain_name = None;
    }
    let proto = sole(&ag.headers, X_FORWARDED_PROTO).and_then(|p| {
        let p = p.trim();
        ["https", "http"]
            .into_iter()
            .find(|s| p.eq_ignore_ascii_case(s))
    });
    ag.headers.remove(X_FORWARDED_PROTO);
    if let Some(p) = proto {
        ag.headers
            .insert(X_FORWARDED_PROTO, HeaderValue::from_static(p));
    }

    let path = ag.raw_path.as_deref().unwrap_or("");
    let query = ag.raw_query_string.as_deref().unwrap_or("");
    let stage = ag.request_context.stage.as_deref().unwrap_or("");
    if path.len() + query.len() + stage.len() > MAX_TARGET {
        return Err(Problem::uri_too_long());
    }
    if !path.is_empty() && !path.starts_with('/') {
        return Err(Problem::invalid_request(
            "The request target must be a path.",
        ));
    }
    let body = ag.body.as_deref().unwrap_or("");
    let size = if ag.is_base64_encoded {
        use base64::Engine as _;
        match base64::engine::general_purpose::STANDARD.decode(body) {
            Ok(b) => b.len(),
            Err(_) => return Err(Problem::invalid_request("The body is not valid base64.")),
        }
    } else {
        body.len()
    };
    // On every route, as the local host refuses it before reading.
    if size > super::MAX_BODY {
        return Err(Problem::payload_too_large());
    }
    if !converts(ag) {
        return Err(Problem::invalid_request(
            "The request target could not be read.",
        ));
    }
    Ok(())
}

/// What remains of a refused event: nothing `lambda_http` could trip over.
fn neutralise(ag: &mut ApiGatewayV2httpRequest) {
    ag.raw_path = Some("/".into());
    ag.raw_query_string = None;
    ag.headers.remove(HOST);
    ag.headers.remove(X_FORWARDED_PROTO);
    ag.request_context.domain_name = None;
    ag.request_context.stage = None;
    ag.is_base64_encoded = false;
    ag.body = None;
}

/// The one value of a header, if it has exactly one and it is text.
fn sole<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    let mut all = headers.get_all(name).iter();
    let first = all.next()?;
    if all.next().is_some() {
        return None;
    }
    first.to_str().ok()
}

/// `host[:port]` as a client may name a server: a DNS name of letters, digits,
/// hyphens and dots, a dotted-quad IPv4 address or a bracketed IPv6 address,
/// and a port from 1 to 65535. Anything else (IDNA forms included) is dropped
/// rather than understood.
pub fn is_authority(s: &str) -> bool {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let Some((v6, after)) = rest.split_once(']') else {
            return false;
        };
        if v6.parse::<std::net::Ipv6Addr>().is_err() {
            return false;
        }
        match after {
            "" => return true,
            p => match p.strip_prefix(':') {
                Some(port) => (None, Some(port)),
                None => return false,
            },
        }
    } else {
        match s.split_once(':') {
            Some((h, p)) => (Some(h), Some(p)),
            None => (Some(s), None),
        }
    };
    if let Some(p) = port {
        let digits = !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit());
        if !digits || !matches!(p.parse::<u32>(), Ok(1..=65535)) {
            return false;
        }
    }
    host.is_none_or(is_host_name)
}

fn is_host_name(h: &str) -> bool {
    if h.is_empty() || h.len() > 253 {
        return false;
    }
    let labels: Vec<&str> = h.split('.').collect();
    let label_ok = |l: &&str| {
        (1..=63).contains(&l.len())
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
            && !l.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("xn--"))
    };
    if !labels.iter().all(label_ok) {
        return false;
    }
    // A URL parser reads a name whose last label is a number as an IPv4
    // address (WHATWG URL), so such a name must be one.
    let last = labels.last().copied().unwrap_or("");
    if last.bytes().all(|b| b.is_ascii_digit())
        || last.get(..2).is_some_and(|p| p.eq_ignore_ascii_case("0x"))
    {
        return h.parse::<std::net::Ipv4Addr>().is_ok();
    }
    true
}

/// Whether `lambda_http` 1.3 turns this event into a request without
/// panicking: its own steps (`apigw_path_with_stage`, `build_request_uri`, the
/// query appended, `Request::builder().uri(..)`), made fallible.
fn converts(ag: &ApiGatewayV2httpRequest) -> bool {
    let raw_path = ag.raw_path.as_deref().unwrap_or("");
    let path = match ag.request_context.stage.as_deref() {
        _ if std::env::var("AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH").is_ok() => raw_path.to_owned(),
        None | Some("$default") => raw_path.to_owned(),
        Some(stage) if raw_path.starts_with(&format!("/{stage}/")) => raw_path.to_owned(),
        Some(stage) => format!("/{stage}{raw_path}"),
    };
    let host = ag
        .headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .or(ag.request_context.domain_name.as_deref());
    let mut uri = match host {
        None => match url::Url::parse(&format!("http://localhost{path}")) {
            Ok(u) => u.path().to_owned(),
            Err(_) => return false,
        },
        Some(host) => {
            let scheme = ag
                .headers
                .get(X_FORWARDED_PROTO)
                .and_then(|s| s.to_str().ok())
                .unwrap_or("https");
            match url::Url::parse(&format!("{scheme}://{host}{path}")) {
                Ok(u) => u.to_string(),
                Err(_) => return false,
            }
        }
    };
    if let Some(q) = ag.raw_query_string.as_deref().filter(|q| !q.is_empty()) {
        uri.push('?');
        uri.push_str(q);
    }
    lambda_http::http::Uri::try_from(uri).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorities_are_plain_names_addresses_and_ports() {
        for ok in [
            "localhost",
            "127.0.0.1:8080",
            "api.example.com",
            "a-b.example.com:443",
            "[::1]",
            "[::1]:8080",
            "10.0.0.1",
        ] {
            assert!(is_authority(ok), "{ok}");
        }
        for bad in [
            "",
            "127.0.0.1:99999",
            "127.0.0.1:0",
            "127.0.0.1:",
            "x:y",
            "a b",
            "[::1",
            "[::1]x",
            "[zz]",
            "999.1.1.1",
            "1.2.3.4.5",
            "0x7f.1",
            "a..b",
            "-a.com",
            "xn--zz.com",
            "ex_ample.com",
            "host:80:80",
            "user@host",
            "h\u{e9}.com",
            &"a".repeat(300),
        ] {
            assert!(!is_authority(bad), "{bad}");
        }
    }
}
