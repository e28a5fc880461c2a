//! Function `password`: proving a reset code, resetting with the reset token,
//! and changing the password while signed in.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use serde_json::json;
use sspr_core::app::Parts;
use sspr_core::domain::{Code, RecoveryCode, Username};
use sspr_core::flows::account::Session;
use sspr_core::flows::change::change;
use sspr_core::flows::reset::reset;
use sspr_core::flows::unlock::unlock;
use sspr_core::flows::verify::{verify, Proof, Proved, Start, VerifyError};
use sspr_core::http::{self, json_body, requester, Floor, Policy, Problem, Route};
use sspr_core::{route, App};

/// What this function builds beyond the store and the keys: the breach
/// lookup (a reset and a change set a password).
pub const PARTS: Parts = Parts {
    breaches: Some(sspr_core::hibp::corpus),
    captcha: None,
};

/// The routes this function serves.
pub static ROUTES: &[Route] = &[
    route!(POST "/v1/password/verify" => Verify, post_verify; FLOOR),
    route!(POST "/v1/password/reset" => Reset, post_reset),
    route!(POST "/v1/password/change" => Change, post_change; signed Bearer, http::shape::<ChangeBody>),
    route!(POST "/v1/unlock" => Unlock, post_unlock; FLOOR),
];

/// Proving a code answers no earlier than the answer floor, whoever asks.
const FLOOR: Policy = Policy {
    floor: Floor::WellFormed,
    ..Policy::OPEN
};

/// Serve one request of this function.
pub async fn handle(app: &App, req: Request) -> Response<Body> {
    http::serve(ROUTES, app, req).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VerifyBody {
    #[serde(default)]
    username: Option<String>,
    /// The first gate's token, for the second proof.
    #[serde(default)]
    gate_token: Option<String>,
    /// `totp` or `recovery_code`; absent (or `email`, `phone`) for a code
    /// that was sent.
    #[serde(default)]
    method: Option<String>,
    code: String,
}

async fn post_verify(app: &App, req: &Request) -> Result<Response<Body>, Problem> {
    let b: VerifyBody = json_body(req)?;
    // Whatever is wrong with the username, the method's name or the code,
    // the answer is the one invalid_code (refused as malformed, it owes
    // nothing to the floor).
    let invalid = || Problem::from(VerifyError::InvalidCode).malformed();
    let proof = match b.method.as_deref() {
        None | Some("email" | "phone") => {
            Proof::Sent(Code::parse(&b.code, app.config.codes.length).map_err(|_| invalid())?)
        }
        Some("totp") => Proof::Totp(b.code),
        Some("recovery_code") => {
            Proof::RecoveryCode(RecoveryCode::parse(&b.code).map_err(|_| invalid())?)
        }
        Some(_) => return Err(invalid()),
    };
    let user = match &b.username {
        Some(u) => Some(Username::parse(u).map_err(|_| invalid())?),
        None => None,
    };
    let start = match (&user, &b.gate_token) {
        (Some(u), None) => Start::User(u),
        (None, Some(t)) => Start::Gate(t),
        _ => {
            return Err(Problem::invalid_request(
                "username or gate_token: give exactly one",
            ))
        }
    };
    let proved = verify(app, start, &proof, &requester(req), app.now()).await?;
    Ok(match proved {
        Proved::Reset(t) => http::json(
            StatusCode::OK,
            &json!({"reset_token": t.token, "expires_in": t.expires_in}),
        ),
        Proved::Gate(g) => http::json(
            StatusCode::OK,
            &json!({"gate_token": g.token, "expires_in": g.expires_in, "next": g.next}),
        ),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResetBody {
    reset_token: String,
    new_password: String,
}

async fn post_reset(app: &App, req: &Request) -> Result<Response<Body>, Problem> {
    let b: ResetBody = json_body(req)?;
    reset(
        app,
        &b.reset_token,
        &b.new_password,
        &requester(req),
        app.now(),
    )
    .await?;
    Ok(http::no_content())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChangeBody {
    current_password: String,
    new_password: String,
}

async fn post_change(
    app: &App,
    req: &Request,
    session: Session,
) -> Result<Response<Body>, Problem> {
    let b: ChangeBody = json_body(req)?;
    change(
        app,
        session,
        &b.current_password,
        &b.new_password,
        &requester(req),
        app.now(),
    )
    .await?;
    Ok(http::no_content())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UnlockBody {
    username: String,
    code: String,
}

async fn post_unlock(app: &App, req: &Request) -> Result<Response<Body>, Problem> {
    let b: UnlockBody = json_body(req)?;
    let invalid = || Problem::invalid_code().malformed();
    let user = Username::parse(&b.username).map_err(|_| invalid())?;
    let code = Code::parse(&b.code, app.config.codes.length).map_err(|_| invalid())?;
    unlock(app, &user, &code, &requester(req), app.now()).await?;
    Ok(http::json(StatusCode::OK, &json!({"unlocked": true})))
}
