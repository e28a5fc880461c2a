//! Route tables: each function lists its routes once, as `(method, path,
//! RouteKey, handler)`, and [`serve`] is the one way a request reaches a
//! handler, on Lambda and in the local host alike. It finds the route by
//! path (`404`), charges the client's limit for the route's key, checks the
//! method (`405` with `Allow`; a `GET` route takes `HEAD`), runs the handler,
//! and answers `429` if the client turned out to be over its limit. The IAM
//! test holds the SAM template's routes to these tables.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};

use super::{client_ip, expect_method, finish_with_outcome, outgoing, route_path, Problem};
use crate::app::{Parts, StartError};
use crate::limits::{Metered, RouteKey};
use crate::App;

/// The state a function's handlers share, built once per cold start: the
/// [`App`] for the API's functions; the `web` function's is smaller (it
/// holds no keys and reaches no table).
pub trait Host: Clone + Send + Sync + Sized + 'static {
    /// What a function names of the state's optional parts (its `PARTS`).
    type Parts: Copy + Send + 'static;

    /// Build the state from the environment, with the `parts` named.
    fn from_env(parts: Self::Parts) -> impl Future<Output = Result<Self, StartError>>;

    /// The state for one request of `ip` on `route`, and the meter that
    /// charges the client when the route has a per-client limit.
    fn for_request(&self, route: RouteKey, ip: &str) -> (Self, Option<Arc<Metered>>);
}

impl Host for App {
    type Parts = Parts;

    fn from_env(parts: Parts) -> impl Future<Output = Result<Self, StartError>> {
        App::from_env(parts)
    }

    fn for_request(&self, route: RouteKey, ip: &str) -> (Self, Option<Arc<Metered>>) {
        self.metered(route, ip)
    }
}

/// A handler's answer, boxed so that a table can hold handlers of any body.
pub type Answer = Pin<Box<dyn Future<Output = Result<Response<Body>, Problem>> + Send>>;

/// A route's handler: the request in, its answer out.
pub type Handler<S = App> = fn(S, Request) -> Answer;

/// One route of a function.
pub struct Route<S: 'static = App> {
    pub method: Method,
    /// The path, as the SAM template routes it: its `{name}` segments take
    /// any one segment (`/assets/{file}`, `/v1/me/methods/{id}`).
    pub path: &'static str,
    /// What the per-client limit calls it.
    pub key: RouteKey,
    pub handler: Handler<S>,
    /// The package of the function whose table this is (`sspr-register`):
    /// what the logs and metrics name it by off Lambda.
    pub function: &'static str,
}

impl<S> Route<S> {
    /// Whether this route's path takes `path`: segment by segment, a
    /// `{name}` segment taking any one non-empty segment.
    pub fn matches(&self, path: &str) -> bool {
        let mut want = self.path.split('/');
        let mut got = path.split('/');
        loop {
            match (want.next(), got.next()) {
                (None, None) => return true,
                (Some(w), Some(g)) if w.starts_with('{') && w.ends_with('}') => {
                    if g.is_empty() {
                        return false;
                    }
                }
                (Some(w), Some(g)) if w == g => {}
                _ => return false,
            }
        }
    }

    /// The segment of `path` that this route's `{name}` takes.
    pub fn param<'p>(&self, path: &'p str, name: &str) -> Option<&'p str> {
        let at = self
            .path
            .split('/')
            .position(|w| w.strip_prefix('{').and_then(|w| w.strip_suffix('}')) == Some(name))?;
        path.split('/').nth(at)
    }
}

impl<S> std::fmt::Debug for Route<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} ({})", self.method, self.path, self.key)
    }
}

/// A [`Route`] for `async fn handler(&App, &Request) -> Result<Response<Body>, Problem>`:
/// `route!(POST "/v1/codes" => Codes, post_codes)`.
#[macro_export]
macro_rules! route {
    ($method:ident $path:literal => $key:ident, $handler:path) => {
        $crate::http::Route {
            method: $crate::http::Method::$method,
            path: $path,
            key: $crate::limits::RouteKey::$key,
            handler: |app, req| Box::pin(async move { $handler(&app, &req).await }),
            function: env!("CARGO_PKG_NAME"),
        }
    };
}

/// Serve `req` from `routes`, leaving one access line
/// ([`logs::access`](crate::logs::access)) and counting a `429`.
pub async fn serve<S: Host>(routes: &[Route<S>], app: &S, req: Request) -> Response<Body> {
    let function = routes.first().map_or("sspr", |r| {
        r.function.strip_prefix("sspr-").unwrap_or(r.function)
    });
    crate::metrics::within(function, serve_in(routes, app, req)).await
}

async fn serve_in<S: Host>(routes: &[Route<S>], app: &S, req: Request) -> Response<Body> {
    let started = std::time::Instant::now();
    let method = req.method().clone();
    let Some((route, found)) = pick(routes, &req) else {
        let resp = outgoing(&method, Problem::not_found().into_response());
        crate::logs::access(
            &method,
            None,
            404,
            super::ProblemCode::NotFound.as_str(),
            crate::metrics::function(),
            started,
        );
        return resp;
    };
    // Counted against the client's limit for this route (429 when over it),
    // whatever the method.
    let (app, meter) = app.for_request(route.key, &client_ip(&req));
    let answer = match found {
        Ok(handler) => handler(app, req).await,
        Err(problem) => Err(problem),
    };
    let (resp, outcome) = finish_with_outcome(meter, answer).await;
    let status = resp.status().as_u16();
    if status == 429 {
        crate::metrics::count(crate::metrics::THROTTLED, &[]);
    }
    crate::logs::access(
        &method,
        Some(route.path),
        status,
        outcome,
        crate::metrics::function(),
        started,
    );
    outgoing(&method, resp)
}

/// The route that has a request's path, and the handler of its method or
/// the `405`.
type Picked<'r, S> = (&'r Route<S>, Result<Handler<S>, Problem>);

/// The route of the request's path, and the handler of its method (or
/// the `405`); `None` when no route has the path.
fn pick<'r, S>(routes: &'r [Route<S>], req: &Request) -> Option<Picked<'r, S>> {
    let path = route_path(req);
    let mut first: Option<&Route<S>> = None;
    for r in routes.iter().filter(|r| r.matches(&path)) {
        if expect_method(req, r.method.clone()).is_ok() {
            return Some((r, Ok(r.handler)));
        }
        first = first.or(Some(r));
    }
    let r = first?;
    let refused = expect_method(req, r.method.clone())
        .err()
        .unwrap_or_else(Problem::not_found);
    Some((r, Err(refused)))
}
