//! lambda_http glue: JSON in, problem+json out, who is asking, and the one
//! place where flow errors become HTTP answers.
//!
//! Every answer carries `Cache-Control: no-store`: tokens and account data must
//! never sit in a shared cache; only a public document that is the same for
//! everyone (the JWKS, the pages' OpenAPI document and assets) may be kept,
//! briefly ([`cacheable`]). Every answer also carries
//! `Strict-Transport-Security` ([`HSTS`], added by [`outgoing`]). What
//! reaches a handler at all, and the Lambda entry point, are in [`entry`].

use lambda_http::http::header::{
    HeaderValue, ALLOW, AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH,
    RETRY_AFTER,
};
pub use lambda_http::http::Method;
use lambda_http::http::StatusCode;
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::domain::WeakReason;
use crate::flows::account::{AccountError, RecentError};
use crate::flows::change::ChangeError;
use crate::flows::methods::MethodsError;
use crate::flows::register::{ConfirmError, RegisterError};
use crate::flows::reset::ResetError;
use crate::flows::signin::SignInError;
use crate::flows::verify::VerifyError;
use crate::flows::Unavailable;
use crate::ports::Requester;

pub mod entry;
mod problem;
mod routes;

pub use entry::{admit, for_method, outgoing, start, HSTS, MAX_TARGET};
pub use lambda_http::Error;
pub use problem::ProblemCode;
pub use routes::{serve, shape, Answer, Auth, Check, Floor, Host, Policy, Route, Shape};

/// Largest request body accepted, in bytes.
pub const MAX_BODY: usize = 16 * 1024;

/// An RFC 9457 problem with sspr's stable `code`, whose status and title
/// are the code's ([`ProblemCode`]).
#[derive(Debug, Clone)]
pub struct Problem {
    pub code: ProblemCode,
    pub detail: String,
    /// What a problem adds to its body: the reasons of `weak_password`, the
    /// proofs of `second_factor_required` (boxed: most problems have none).
    pub extra: Option<Box<Extra>>,
    /// Seconds (a day at most, as every limit's window is).
    pub retry_after: Option<u32>,
    pub allow: Option<&'static str>,
    /// Refused as malformed, before the request was acted on: owes nothing
    /// to the answer floor ([`Floor::WellFormed`]).
    malformed: bool,
    /// What failed behind a `503`, logged when the answer is sent (and not at
    /// all when a `429` takes its place).
    cause: Option<Box<str>>,
}

#[derive(Serialize)]
struct ProblemBody<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    status: u16,
    detail: &'a str,
    code: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasons: Option<&'a [WeakReason]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    methods: Option<&'a [&'static str]>,
}

/// The fields a problem's body may add to RFC 9457's.
#[derive(Debug, Clone)]
pub enum Extra {
    Reasons(Vec<WeakReason>),
    Methods(Vec<&'static str>),
}

impl Problem {
    pub fn new(code: ProblemCode, detail: impl Into<String>) -> Self {
        Self {
            code,
            detail: detail.into(),
            extra: None,
            retry_after: None,
            allow: None,
            malformed: false,
            cause: None,
        }
    }

    /// The answer's status: the code's.
    pub fn status(&self) -> StatusCode {
        self.code.status()
    }

    /// This problem refuses the request as malformed, before it was acted
    /// on (a body or field the handler could not read): its answer does not
    /// wait for the answer floor, which only hides what acting on a
    /// well-formed request tells.
    pub fn malformed(mut self) -> Self {
        self.malformed = true;
        self
    }

    /// Whether [`Problem::malformed`] marked it.
    pub fn is_malformed(&self) -> bool {
        self.malformed
    }

    /// A body that is not the shape the route takes: malformed.
    pub fn invalid_request(detail: impl Into<String>) -> Self {
        Self::new(ProblemCode::InvalidRequest, detail).malformed()
    }

    pub fn payload_too_large() -> Self {
        Self::new(
            ProblemCode::PayloadTooLarge,
            format!("The body may be at most {MAX_BODY} bytes."),
        )
        .malformed()
    }

    pub fn uri_too_long() -> Self {
        Self::new(
            ProblemCode::UriTooLong,
            format!("The request target may be at most {MAX_TARGET} bytes."),
        )
    }

    pub fn invalid_code() -> Self {
        Self::new(
            ProblemCode::InvalidCode,
            "The code is wrong, expired or already used. Ask for a new one.",
        )
    }

    pub fn invalid_token() -> Self {
        Self::new(
            ProblemCode::InvalidToken,
            "The token is missing, malformed, expired or no longer valid.",
        )
    }

    pub fn invalid_credentials() -> Self {
        Self::new(
            ProblemCode::InvalidCredentials,
            "The username or password is wrong.",
        )
    }

    pub fn weak_password(reasons: Vec<WeakReason>) -> Self {
        let mut p = Self::new(
            ProblemCode::WeakPassword,
            "The new password does not meet the password policy; see reasons.",
        );
        p.extra = Some(Box::new(Extra::Reasons(reasons)));
        p
    }

    pub fn too_many_requests(retry_after: u64) -> Self {
        let mut p = Self::new(
            ProblemCode::TooManyRequests,
            format!(
                "Too many requests; try again in {retry_after} {}.",
                if retry_after == 1 {
                    "second"
                } else {
                    "seconds"
                }
            ),
        );
        p.retry_after = Some(u32::try_from(retry_after).unwrap_or(u32::MAX));
        p
    }

    pub fn captcha_failed() -> Self {
        Self::new(
            ProblemCode::CaptchaFailed,
            "The human check is missing, wrong or expired; solve it again.",
        )
    }

    pub fn captcha_unavailable() -> Self {
        Self::new(
            ProblemCode::CaptchaUnavailable,
            "The human check cannot be made right now. Nothing was done; try again shortly.",
        )
    }

    pub fn not_found() -> Self {
        Self::new(ProblemCode::NotFound, "No such route.")
    }

    pub fn method_not_allowed(allow: &'static str) -> Self {
        let mut p = Self::new(
            ProblemCode::MethodNotAllowed,
            format!("This route takes {allow}."),
        );
        p.allow = Some(allow);
        p
    }

    /// A backing service failed: the cause chain goes to the log, none of it
    /// to the client.
    pub fn unavailable(err: &Unavailable) -> Self {
        let mut chain = String::new();
        let mut src: Option<&(dyn std::error::Error + 'static)> = Some(err.0.as_ref());
        while let Some(e) = src {
            if !chain.is_empty() {
                chain.push_str(": ");
            }
            chain.push_str(&e.to_string());
            src = e.source();
        }
        let mut p = Self::new(
            ProblemCode::Unavailable,
            "A backing service failed. Nothing was changed; try again shortly.",
        );
        p.cause = Some(chain.into_boxed_str());
        p
    }

    pub fn into_response(self) -> Response<Body> {
        if let Some(chain) = &self.cause {
            tracing::error!(cause = %chain, "backing service failed");
        }
        let body = ProblemBody {
            kind: format!("urn:sspr:problem:{}", self.code),
            title: self.code.title(),
            status: self.status().as_u16(),
            detail: &self.detail,
            code: self.code.as_str(),
            reasons: match self.extra.as_deref() {
                Some(Extra::Reasons(r)) => Some(r),
                _ => None,
            },
            methods: match self.extra.as_deref() {
                Some(Extra::Methods(m)) => Some(m),
                _ => None,
            },
        };
        let text = serde_json::to_string(&body).unwrap_or_else(|_| String::from("{}"));
        let mut resp = base(self.status(), "application/problem+json", Body::Text(text));
        if let Some(secs) = self.retry_after {
            resp.headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(secs));
        }
        if let Some(allow) = self.allow {
            resp.headers_mut()
                .insert(ALLOW, HeaderValue::from_static(allow));
        }
        resp
    }
}

/// Finish a metered request: one that touched no store is charged now; a
/// client over its limit is answered `429`, whatever the handler made of the
/// stop (the meter's verdict is the answer, not the error the flow saw).
pub async fn finish(
    meter: Option<std::sync::Arc<crate::limits::Metered>>,
    r: Result<Response<Body>, Problem>,
) -> Response<Body> {
    finish_with_outcome(meter, r).await.0
}

/// As [`finish`], with the answer's outcome for the access line: `ok`, or
/// the problem's `code` (a handler's own answer of `4xx` or `5xx` is
/// `error`).
pub async fn finish_with_outcome(
    meter: Option<std::sync::Arc<crate::limits::Metered>>,
    r: Result<Response<Body>, Problem>,
) -> (Response<Body>, &'static str) {
    if let Some(m) = meter {
        let over = match m.settle().await {
            Ok(crate::ports::Admission::Within) => None,
            Ok(crate::ports::Admission::Limited { retry_after }) => {
                Some(Problem::too_many_requests(retry_after))
            }
            Err(e) => Some(Problem::from(Unavailable::from(e))),
        };
        if let Some(p) = over {
            let code = p.code.as_str();
            return (p.into_response(), code);
        }
    }
    match r {
        Ok(resp) => {
            let outcome = if resp.status().as_u16() >= 400 {
                "error"
            } else {
                "ok"
            };
            (resp, outcome)
        }
        Err(p) => {
            let code = p.code.as_str();
            (p.into_response(), code)
        }
    }
}

fn base(status: StatusCode, content_type: &'static str, body: Body) -> Response<Body> {
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    resp
}

/// A JSON answer.
pub fn json(status: StatusCode, value: &serde_json::Value) -> Response<Body> {
    base(status, "application/json", Body::Text(value.to_string()))
}

/// The entity tag of a document: the first 8 bytes of its SHA-256, quoted.
pub fn etag(bytes: &[u8]) -> HeaderValue {
    let hash = crate::digest::hex(&crate::digest::sha256(&[bytes])[..8]);
    HeaderValue::from_str(&format!("\"{hash}\"")).unwrap_or(HeaderValue::from_static("\"\""))
}

/// A public document that is the same for everyone, which any cache may keep
/// as `cache_control` says: `200` with its `ETag`, or `304` without the body
/// when the request's `If-None-Match` names that tag (weak or strong) or `*`.
pub fn cacheable(
    req: &Request,
    content_type: &'static str,
    text: &str,
    tag: &HeaderValue,
    cache_control: &'static str,
) -> Response<Body> {
    let held = req
        .headers()
        .get_all(IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|t| t == "*" || t.strip_prefix("W/").unwrap_or(t).as_bytes() == tag.as_bytes());
    let mut resp = if held {
        let mut r = base(StatusCode::NOT_MODIFIED, content_type, Body::Empty);
        r.headers_mut().remove(CONTENT_TYPE);
        r
    } else {
        base(StatusCode::OK, content_type, Body::Text(text.to_owned()))
    };
    let h = resp.headers_mut();
    h.insert(ETAG, tag.clone());
    h.insert(CACHE_CONTROL, HeaderValue::from_static(cache_control));
    resp
}

/// `204 No Content`.
pub fn no_content() -> Response<Body> {
    let mut resp = base(StatusCode::NO_CONTENT, "application/json", Body::Empty);
    resp.headers_mut().remove(CONTENT_TYPE);
    resp
}

/// The request body as `T`: JSON only (415), at most 16 KiB (413), no unknown
/// fields, every field named in the detail when it is wrong (400).
pub fn json_body<T: DeserializeOwned>(req: &Request) -> Result<T, Problem> {
    let bytes: &[u8] = req.body().as_ref();
    if bytes.len() > MAX_BODY {
        return Err(Problem::payload_too_large());
    }
    let media = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        });
    if media.as_deref() != Some("application/json") {
        return Err(Problem::new(
            ProblemCode::UnsupportedMediaType,
            "Send the body as application/json.",
        )
        .malformed());
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Problem::invalid_request(
            "The body is empty; a JSON object is expected.",
        ));
    }
    serde_json::from_slice(bytes).map_err(|e| {
        let mut detail = match e.classify() {
            serde_json::error::Category::Data => format!("{e}"),
            _ => "The body is not valid JSON.".to_string(),
        };
        // Values typed by the client never come back: cut serde's quote of them.
        if let Some(i) = detail.find("invalid type: string") {
            detail.truncate(i);
            detail.push_str("a field has the wrong type");
        }
        detail.truncate(200);
        Problem::invalid_request(detail)
    })
}

/// A field that failed validation: `400 code` with the field's reason.
pub fn field_problem(code: ProblemCode, field: &str, reason: impl std::fmt::Display) -> Problem {
    Problem::new(code, format!("{field}: {reason}")).malformed()
}

/// The bearer token of an `Authorization` header.
pub fn bearer(req: &Request) -> Option<&str> {
    let v = req.headers().get(AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
        .filter(|t| !t.is_empty())
}

/// The client IP from API Gateway's request context (never from a header the
/// client controls), for the per-client limits: only that, without building the
/// whole [`Requester`] that the handler builds again.
pub fn client_ip(req: &Request) -> String {
    match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.http.source_ip.clone(),
        _ => None,
    }
    .unwrap_or_else(|| "unknown".into())
}

/// Who is asking: the client IP from API Gateway's request context (never from
/// a header the client controls), its user agent, the request id, and the
/// origin the request came to (the API's domain, from the same context).
pub fn requester(req: &Request) -> Requester {
    let (ip, ua, id, domain) = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => (
            ctx.http.source_ip.clone(),
            ctx.http.user_agent.clone(),
            ctx.request_id.clone(),
            ctx.domain_name.clone(),
        ),
        _ => (None, None, None, None),
    };
    let ua = ua.or_else(|| {
        req.headers()
            .get("user-agent")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    });
    Requester {
        ip: ip.unwrap_or_else(|| "unknown".into()),
        user_agent: ua.unwrap_or_default(),
        request_id: id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
        // Checked by `admit` (a domain that is not a plain authority is dropped).
        origin: domain
            .filter(|d| entry::is_authority(d))
            .map(|d| format!("https://{d}")),
    }
}

/// The route path of a request: the API path, whether it came through API
/// Gateway, a function URL of `cargo lambda watch` (`/lambda-url/<fn>/...`) or
/// the local host.
/// Segment `n` of the request's path (`/v1/me/methods/{id}`: 4 is the id).
pub fn segment(req: &Request, n: usize) -> Option<String> {
    route_path(req).split('/').nth(n).map(str::to_owned)
}

pub fn route_path(req: &Request) -> String {
    let raw = req.raw_http_path();
    let path = if raw.is_empty() {
        req.uri().path().to_owned()
    } else {
        raw.to_owned()
    };
    let path = match path.strip_prefix("/lambda-url/") {
        Some(rest) => rest
            .find('/')
            .map(|i| rest[i..].to_owned())
            .unwrap_or_else(|| "/".into()),
        None => path,
    };
    if path.len() > 1 {
        path.trim_end_matches('/').to_owned()
    } else {
        path
    }
}

/// Match the request's method against the one a route takes. A `GET` route
/// takes `HEAD` too (the front doors drop the body: [`for_method`]), and its
/// `405` says so in `Allow`.
pub fn expect_method(req: &Request, want: Method) -> Result<(), Problem> {
    let got = req.method();
    if got == want || (want == Method::GET && got == Method::HEAD) {
        return Ok(());
    }
    Err(Problem::method_not_allowed(match want {
        Method::GET => "GET, HEAD",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        // The routes take GET, POST or PUT; nothing else reaches here.
        _ => "POST",
    }))
}

impl From<Unavailable> for Problem {
    fn from(e: Unavailable) -> Self {
        Problem::unavailable(&e)
    }
}

impl From<RegisterError> for Problem {
    fn from(e: RegisterError) -> Self {
        match e {
            RegisterError::WeakPassword(r) => Problem::weak_password(r),
            RegisterError::UsernameTaken => Problem::new(
                ProblemCode::UsernameTaken,
                "This username is taken; choose another.",
            ),
            RegisterError::Unavailable(u) => u.into(),
        }
    }
}

impl From<ConfirmError> for Problem {
    fn from(e: ConfirmError) -> Self {
        match e {
            ConfirmError::InvalidCode => Problem::invalid_code(),
            ConfirmError::Unavailable(u) => u.into(),
        }
    }
}

impl From<VerifyError> for Problem {
    fn from(e: VerifyError) -> Self {
        match e {
            VerifyError::InvalidCode => Problem::invalid_code(),
            VerifyError::Unavailable(u) => u.into(),
        }
    }
}

impl From<ResetError> for Problem {
    fn from(e: ResetError) -> Self {
        match e {
            ResetError::InvalidToken => Problem::invalid_token(),
            ResetError::WeakPassword(r) => Problem::weak_password(r),
            ResetError::Unavailable(u) => u.into(),
        }
    }
}

impl From<ChangeError> for Problem {
    fn from(e: ChangeError) -> Self {
        match e {
            ChangeError::InvalidToken => Problem::invalid_token(),
            ChangeError::InvalidCredentials => Problem::invalid_credentials(),
            ChangeError::WeakPassword(r) => Problem::weak_password(r),
            ChangeError::Unavailable(u) => u.into(),
        }
    }
}

impl From<SignInError> for Problem {
    fn from(e: SignInError) -> Self {
        match e {
            SignInError::InvalidCredentials => Problem::invalid_credentials(),
            SignInError::SecondFactorRequired { methods } => {
                let mut p = Problem::new(ProblemCode::SecondFactorRequired, "Give the code of your authenticator app (otp) or a recovery code (recovery_code).",
                );
                p.extra = Some(Box::new(Extra::Methods(methods)));
                p
            }
            SignInError::Unavailable(u) => u.into(),
        }
    }
}

impl From<MethodsError> for Problem {
    fn from(e: MethodsError) -> Self {
        match e {
            MethodsError::InvalidCode => Problem::invalid_code(),
            MethodsError::MethodLimit => Problem::new(ProblemCode::MethodLimit, "You hold as many methods of this type as you may (one totp, one phone, two email).",
            ),
            MethodsError::MethodRequired => Problem::new(ProblemCode::MethodRequired, "Removing this method would leave fewer methods than a reset needs.",
            ),
            MethodsError::NotFound => Problem::not_found(),
            MethodsError::Refused(why) => Problem::invalid_request(why),
            MethodsError::Limited { retry_after } => Problem::too_many_requests(retry_after),
            MethodsError::Unavailable(u) => u.into(),
        }
    }
}

impl From<AccountError> for Problem {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::InvalidToken => Problem::invalid_token(),
            AccountError::Unavailable(u) => u.into(),
        }
    }
}

impl From<RecentError> for Problem {
    fn from(e: RecentError) -> Self {
        match e {
            RecentError::Account(e) => e.into(),
            RecentError::Reauthenticate => Problem::new(
                ProblemCode::ReauthenticationRequired,
                "This change needs a sign-in of the last 5 minutes.",
            ),
        }
    }
}

/// When a request arrived, for the routes whose answer must not tell by its
/// time who has an account (asking for a code, proving one): they answer every
/// well-formed request no earlier than [`Config::answer_floor`] after it
/// arrived, whatever work it took.
///
/// [`Config::answer_floor`]: crate::config::Config::answer_floor
#[derive(Debug, Clone, Copy)]
pub(crate) struct Arrival(tokio::time::Instant);

impl Arrival {
    pub(crate) fn now() -> Self {
        Self(tokio::time::Instant::now())
    }

    /// Wait until `floor` has passed since the request arrived (no timer when
    /// it has already).
    pub(crate) async fn hold(self, floor: std::time::Duration) {
        let until = self.0 + floor;
        if tokio::time::Instant::now() < until {
            tokio::time::sleep_until(until).await;
        }
    }
}

/// The human check of the routes that need one (sign-up, code requests),
/// when the app has one: named by their route tables' [`Policy`], so only
/// their functions link the verifier. The token is the request's `captcha`
/// field; the check is made before anything else the request does, the same
/// for every username.
pub const HUMAN: Check = |app, token, ip| Box::pin(async move { human(&app, token, &ip).await });

async fn human(app: &crate::App, token: Option<String>, ip: &str) -> Result<(), Problem> {
    use crate::captcha::Verdict;
    let Some(check) = &app.captcha else {
        return Ok(());
    };
    match check.check(token.as_deref(), ip).await {
        Verdict::Human => Ok(()),
        Verdict::Refused => Err(Problem::captcha_failed()),
        Verdict::Unavailable => Err(Problem::captcha_unavailable()),
    }
}

/// Turn a handler's result into the response.
pub fn respond(r: Result<Response<Body>, Problem>) -> Response<Body> {
    r.unwrap_or_else(Problem::into_response)
}

/// RFC 3339 text of a Unix time.
pub fn rfc3339(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| {
            d.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::Problem;

    #[test]
    fn retry_after_reads_as_english_in_the_singular_and_the_plural() {
        assert_eq!(
            Problem::too_many_requests(1).detail,
            "Too many requests; try again in 1 second."
        );
        assert_eq!(
            Problem::too_many_requests(30).detail,
            "Too many requests; try again in 30 seconds."
        );
    }

    #[test]
    fn an_entity_tag_is_the_first_eight_bytes_of_the_document_s_sha256() {
        // A fixed vector (computed apart from this code): a tag a cache holds
        // stays the tag of the same document.
        assert_eq!(super::etag(br#"{"keys":[]}"#), "\"9638d11914735d00\"");
    }
}
