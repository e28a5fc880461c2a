//! Function `register`: sign-up, email confirmation, and the signed-in user's
//! profile and recovery email.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use serde_json::json;
use sspr_core::app::Parts;
use sspr_core::domain::{Code, Email, Locale, Username};
use sspr_core::flows::account::{change_email, EmailChange, Session};
use sspr_core::flows::register::{confirm, register, ConfirmError, Registration};
use sspr_core::http::{
    self, field_problem, json_body, requester, Floor, Policy, Problem, ProblemCode, Route,
};
use sspr_core::{route, App};

/// What this function builds beyond the store and the keys: the breach
/// lookup (a sign-up sets a password) and the human check (sign-up asks for
/// it).
pub const PARTS: Parts = Parts {
    breaches: Some(sspr_core::hibp::corpus),
    captcha: Some(sspr_core::captcha::Captcha::new),
};

/// The routes this function serves.
pub static ROUTES: &[Route] = &[
    route!(POST "/v1/register" => Register, post_register; Policy {
        body: Some(http::shape::<RegisterBody>),
        captcha: Some(http::HUMAN),
        ..Policy::OPEN
    }),
    route!(POST "/v1/register/confirm" => Confirm, post_confirm; Policy {
        floor: Floor::WellFormed,
        ..Policy::OPEN
    }),
    route!(GET "/v1/me" => Me, get_me; signed Bearer),
    route!(PUT "/v1/me/email" => Email, put_email; signed Recent, email_shape),
];

/// Serve one request of this function.
pub async fn handle(app: &App, req: Request) -> Response<Body> {
    http::serve(ROUTES, app, req).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegisterBody {
    username: String,
    email: String,
    password: String,
    #[serde(default)]
    locale: Option<String>,
    /// The human check's token, when one is configured (read by the
    /// route's policy).
    #[serde(default)]
    #[allow(dead_code)]
    captcha: Option<String>,
}

async fn post_register(app: &App, req: &Request) -> Result<Response<Body>, Problem> {
    let b: RegisterBody = json_body(req)?;
    let who = requester(req);
    let username = Username::parse(&b.username)
        .map_err(|e| field_problem(ProblemCode::InvalidUsername, "username", e))?;
    let email =
        Email::parse(&b.email).map_err(|e| field_problem(ProblemCode::InvalidEmail, "email", e))?;
    let locale = match b.locale.as_deref() {
        Some(l) => {
            Locale::parse(l).map_err(|e| Problem::invalid_request(format!("locale: {e}")))?
        }
        None => req
            .headers()
            .get("accept-language")
            .and_then(|v| v.to_str().ok())
            .and_then(Locale::from_accept_language)
            .unwrap_or_default(),
    };
    let reg = Registration {
        username,
        email,
        password: b.password,
        locale,
    };
    let done = register(app, reg, &who, app.now()).await?;
    Ok(http::json(
        StatusCode::CREATED,
        &json!({"user_id": done.user_id, "username": done.username.as_str(), "email_verified": false}),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfirmBody {
    username: String,
    code: String,
}

async fn post_confirm(app: &App, req: &Request) -> Result<Response<Body>, Problem> {
    let b: ConfirmBody = json_body(req)?;
    // Whatever is wrong with the username or code, the answer is the one
    // invalid_code (refused as malformed, it owes nothing to the floor).
    let invalid = || Problem::from(ConfirmError::InvalidCode).malformed();
    let user = Username::parse(&b.username).map_err(|_| invalid())?;
    let code = Code::parse(&b.code, app.config.codes.length).map_err(|_| invalid())?;
    confirm(app, &user, &code, &requester(req), app.now()).await?;
    Ok(http::json(StatusCode::OK, &json!({"email_verified": true})))
}

async fn get_me(_: &App, _: &Request, session: Session) -> Result<Response<Body>, Problem> {
    let rec = session.rec;
    Ok(http::json(
        StatusCode::OK,
        &json!({
            "user_id": rec.user_id,
            "username": rec.username.as_str(),
            "email": rec.email.as_str(),
            "email_verified": rec.email_verified,
            "locale": rec.locale.as_str(),
            "created_at": http::rfc3339(rec.created_at),
            "password_changed_at": http::rfc3339(rec.password_changed_at),
        }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EmailBody {
    email: String,
}

/// The new address of `PUT /v1/me/email`, or why it cannot be read: the
/// route's policy reads it first (before the sign-in), the handler again.
fn new_email(req: &Request) -> Result<Email, Problem> {
    let b: EmailBody = json_body(req)?;
    Email::parse(&b.email).map_err(|e| field_problem(ProblemCode::InvalidEmail, "email", e))
}

/// [`new_email`] as the route's body [`Shape`](http::Shape).
fn email_shape(req: &Request) -> Result<Option<String>, Problem> {
    new_email(req).map(|_| None)
}

async fn put_email(app: &App, req: &Request, session: Session) -> Result<Response<Body>, Problem> {
    let email = new_email(req)?;
    match change_email(app, session, &email, &requester(req), app.now()).await? {
        EmailChange::CodeSent => Ok(http::json(
            StatusCode::ACCEPTED,
            &json!({"email_verified": false}),
        )),
        // The user is signed in, so saying so reveals nothing to a stranger.
        EmailChange::Limited { retry_after } => Err(Problem::too_many_requests(retry_after)),
    }
}
