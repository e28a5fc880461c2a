//! Route tables: each function lists its routes once, as `(method, path,
//! RouteKey, handler, policy)`, and [`serve`] is the one way a request
//! reaches a handler, on Lambda and in the local host alike. It finds the
//! route by path (`404`), charges the client's limit for the route's key,
//! checks the method (`405` with `Allow`; a `GET` route takes `HEAD`),
//! applies the route's [`Policy`] around the handler (its body's shape, the
//! human check, the sign-in, the answer floor), and answers `429` when the
//! meter found the client over its limit. No handler does any of that
//! itself: a handler behind a bearer receives the [`Session`] the policy
//! established. The IAM test holds the SAM template's routes to these
//! tables; `tests/tests/policy.rs` holds their policies to API.md.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};

use super::{
    client_ip, expect_method, finish_with_outcome, outgoing, route_path, Problem, ProblemCode,
};
use crate::app::{Parts, StartError};
use crate::flows::account::Session;
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

    /// How long a route under [`Floor`] takes at least (none by default).
    fn answer_floor(&self) -> std::time::Duration {
        std::time::Duration::ZERO
    }

    /// The session a route's [`Auth`] asks for, from the request's bearer
    /// token: `None` for a route open to anyone. A host that signs no one
    /// in (the pages') refuses any other.
    fn signed_in(
        &self,
        req: &Request,
        auth: Auth,
    ) -> impl Future<Output = Result<Option<Session>, Problem>> + Send {
        let _ = req;
        async move {
            match auth {
                Auth::None => Ok(None),
                Auth::Bearer | Auth::Recent => Err(Problem::invalid_token()),
            }
        }
    }
}

impl Host for App {
    type Parts = Parts;

    fn from_env(parts: Parts) -> impl Future<Output = Result<Self, StartError>> {
        App::from_env(parts)
    }

    fn for_request(&self, route: RouteKey, ip: &str) -> (Self, Option<Arc<Metered>>) {
        self.metered(route, ip)
    }

    fn answer_floor(&self) -> std::time::Duration {
        self.config.answer_floor
    }

    fn signed_in(
        &self,
        req: &Request,
        auth: Auth,
    ) -> impl Future<Output = Result<Option<Session>, Problem>> + Send {
        let bearer = super::bearer(req).map(str::to_owned);
        async move {
            let recent = match auth {
                Auth::None => return Ok(None),
                Auth::Bearer => false,
                Auth::Recent => true,
            };
            // On the request's (metered) store: the client's charge flies
            // beside the user's read, as it did in the flow.
            crate::flows::account::signed_in(self, bearer.as_deref(), recent, self.now())
                .await
                .map(Some)
                .map_err(Problem::from)
        }
    }
}

/// A handler's answer, boxed so that a table can hold handlers of any body.
pub type Answer = Pin<Box<dyn Future<Output = Result<Response<Body>, Problem>> + Send>>;

/// A route's handler: the request in, with the session its policy
/// established (`None` on a route open to anyone), its answer out.
pub type Handler<S = App> = fn(S, Request, Option<Session>) -> Answer;

/// What a route asks of a request besides its handler's own checks,
/// applied by [`serve`] in this order: the body's shape, the human check,
/// the sign-in, then the handler, then the answer floor. The route's
/// per-client limit is its [`RouteKey`]'s (`ClientLimits`, charged beside
/// the first store call; `429` whatever else happened).
pub struct Policy<S: 'static = App> {
    /// The body as the handler reads it ([`shape`]), refused as the handler
    /// would refuse it before anything else happens, and the human check's
    /// token it carries.
    pub body: Option<Shape>,
    /// The human check, made on the body's `captcha` token before the
    /// sign-in and the handler, the same for every username. A function
    /// pointer that only the tables of the routes that need it name
    /// ([`HUMAN`](super::HUMAN)), so only their functions link a verifier.
    pub captcha: Option<Check<S>>,
    /// The sign-in the route needs.
    pub auth: Auth,
    /// When the answer waits for the host's answer floor.
    pub floor: Floor,
}

impl<S: 'static> Policy<S> {
    /// Nothing beyond the handler's own checks (and the route's limit).
    pub const OPEN: Self = Policy {
        body: None,
        captcha: None,
        auth: Auth::None,
        floor: Floor::Off,
    };
}

/// The sign-in a route needs (API.md's "(bearer)" and "(recent)").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// Open to anyone.
    None,
    /// A live access token (`401 invalid_token`).
    Bearer,
    /// A live access token of a sign-in of the last `Rules::recent_auth`
    /// (`401 reauthentication_required`): a change of a way to recover or
    /// sign in.
    Recent,
}

/// Which answers of a route wait until the answer floor has passed since
/// the request arrived, so that their time does not tell who has an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Floor {
    Off,
    /// Every answer to a well-formed request; one refused as malformed
    /// ([`Problem::is_malformed`]) owes nothing to the floor.
    WellFormed,
    /// Only a refusal with this problem `code` (a refused sign-in).
    Refusal(ProblemCode),
}

impl Floor {
    /// Whether `answer` waits for the floor.
    pub fn holds(self, answer: &Result<Response<Body>, Problem>) -> bool {
        match (self, answer) {
            (Floor::Off, _) => false,
            (Floor::WellFormed, Err(p)) => !p.is_malformed(),
            (Floor::WellFormed, Ok(_)) => true,
            (Floor::Refusal(code), Err(p)) => p.code == code,
            (Floor::Refusal(_), Ok(_)) => false,
        }
    }
}

/// A route's body check: the request's body refused as its handler's
/// `json_body` would refuse it, else the human check's token in it.
pub type Shape = fn(&Request) -> Result<Option<String>, Problem>;

/// A human check: the app, the token (if any) and the client IP in; a
/// refusal (`400 captcha_failed`, `503 captcha_unavailable`) out.
pub type Check<S = App> =
    fn(S, Option<String>, String) -> Pin<Box<dyn Future<Output = Result<(), Problem>> + Send>>;

/// The [`Shape`] of a handler that reads its body as `T`: the same
/// `json_body::<T>`, so a body is refused here exactly as the handler would
/// refuse it, and the `captcha` field, when `T` takes one.
pub fn shape<T: serde::de::DeserializeOwned>(req: &Request) -> Result<Option<String>, Problem> {
    #[derive(serde::Deserialize)]
    struct Token {
        #[serde(default)]
        captcha: Option<String>,
    }
    super::json_body::<T>(req)?;
    Ok(serde_json::from_slice::<Token>(req.body().as_ref())
        .ok()
        .and_then(|t| t.captcha))
}

/// One route of a function.
pub struct Route<S: 'static = App> {
    pub method: Method,
    /// The path, as the SAM template routes it: its `{name}` segments take
    /// any one segment (`/assets/{file}`, `/v1/me/methods/{id}`).
    pub path: &'static str,
    /// What the per-client limit calls it.
    pub key: RouteKey,
    pub handler: Handler<S>,
    /// What the route asks of a request besides its handler's own checks.
    pub policy: Policy<S>,
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
/// `route!(POST "/v1/codes" => Codes, post_codes)`, with a [`Policy`] after
/// a `;` (`route!(POST "/v1/codes" => Codes, post_codes; CODES)`). A route
/// behind a bearer names its [`Auth`] instead, and its handler takes the
/// session as well, `async fn(&App, &Request, Session)`:
/// `route!(GET "/v1/me" => Me, get_me; signed Bearer)`, with the body's
/// [`Shape`] after it when the handler reads one, so that a body the
/// handler would refuse is refused before the sign-in as it always was
/// (`route!(POST "/v1/password/change" => Change, post_change; signed Bearer,
/// http::shape::<ChangeBody>)`).
#[macro_export]
macro_rules! route {
    ($method:ident $path:literal => $key:ident, $handler:path) => {
        $crate::route!($method $path => $key, $handler; $crate::http::Policy::OPEN)
    };
    ($method:ident $path:literal => $key:ident, $handler:path; signed $auth:ident $(, $shape:expr)?) => {
        $crate::http::Route {
            method: $crate::http::Method::$method,
            path: $path,
            key: $crate::limits::RouteKey::$key,
            handler: |app, req, session| {
                Box::pin(async move {
                    match session {
                        Some(s) => $handler(&app, &req, s).await,
                        // Not reached: the policy below refuses a request
                        // without a session before the handler.
                        None => Err($crate::http::Problem::invalid_token()),
                    }
                })
            },
            policy: $crate::http::Policy {
                auth: $crate::http::Auth::$auth,
                $(body: Some($shape),)?
                ..$crate::http::Policy::OPEN
            },
            function: env!("CARGO_PKG_NAME"),
        }
    };
    ($method:ident $path:literal => $key:ident, $handler:path; $policy:expr) => {
        $crate::http::Route {
            method: $crate::http::Method::$method,
            path: $path,
            key: $crate::limits::RouteKey::$key,
            handler: |app, req, _| Box::pin(async move { $handler(&app, &req).await }),
            policy: $policy,
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
        Ok(handler) => apply(&route.policy, handler, app, req).await,
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

/// Run `handler` under `policy`: the body's shape, the human check and the
/// sign-in before it (each refusal answered at once), the answer floor
/// after it, counted from when the request arrived.
async fn apply<S: Host>(
    policy: &Policy<S>,
    handler: Handler<S>,
    app: S,
    req: Request,
) -> Result<Response<Body>, Problem> {
    let arrived = super::Arrival::now();
    let token = match policy.body {
        Some(shape) => shape(&req)?,
        None => None,
    };
    if let Some(check) = policy.captcha {
        check(app.clone(), token, client_ip(&req)).await?;
    }
    let session = app.signed_in(&req, policy.auth).await?;
    let floor = app.answer_floor();
    let answer = handler(app, req, session).await;
    if policy.floor.holds(&answer) {
        arrived.hold(floor).await;
    }
    answer
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
