//! Route tables: each function lists its routes once, as `(method, path,
//! RouteKey, handler)`, and [`serve`] is the one way a request reaches a
//! handler, on Lambda and in the local host alike. It finds the route by
//! path (`404`), charges the client's limit for the route's key, checks the
//! method (`405` with `Allow`; a `GET` route takes `HEAD`), runs the handler,
//! and answers `429` if the client turned out to be over its limit. The IAM
//! test holds the SAM template's routes to these tables.

use std::future::Future;
use std::pin::Pin;

use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};

use super::{expect_method, finish, for_method, requester, route_path, Problem};
use crate::limits::RouteKey;
use crate::App;

/// A handler's answer, boxed so that a table can hold handlers of any body.
pub type Answer = Pin<Box<dyn Future<Output = Result<Response<Body>, Problem>> + Send>>;

/// A route's handler: the request in, its answer out.
pub type Handler = fn(App, Request) -> Answer;

/// One route of a function.
#[derive(Clone)]
pub struct Route {
    pub method: Method,
    /// The API path, as the SAM template routes it.
    pub path: &'static str,
    /// What the per-client limit and the logs call it.
    pub key: RouteKey,
    pub handler: Handler,
}

impl std::fmt::Debug for Route {
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
        }
    };
}

/// Serve `req` from `routes`.
pub async fn serve(routes: &[Route], app: &App, req: Request) -> Response<Body> {
    let method = req.method().clone();
    let Some((key, found)) = pick(routes, &req) else {
        return for_method(&method, Problem::not_found().into_response());
    };
    // Counted against the client's limit for this route (429 when over it),
    // whatever the method.
    let (app, meter) = app.metered(key, &requester(&req).ip);
    let answer = match found {
        Ok(handler) => handler(app, req).await,
        Err(problem) => Err(problem),
    };
    for_method(&method, finish(meter, answer).await)
}

/// The route key of the request's path, and the handler of its method (or
/// the `405`); `None` when no route has the path.
fn pick(routes: &[Route], req: &Request) -> Option<(RouteKey, Result<Handler, Problem>)> {
    let path = route_path(req);
    let mut first: Option<&Route> = None;
    for r in routes.iter().filter(|r| r.path == path) {
        if expect_method(req, r.method.clone()).is_ok() {
            return Some((r.key, Ok(r.handler)));
        }
        first = first.or(Some(r));
    }
    let r = first?;
    let refused = expect_method(req, r.method.clone())
        .err()
        .unwrap_or_else(Problem::not_found);
    Some((r.key, Err(refused)))
}
