//! Function `signin`: a password for an access token, and the JWKS document
//! that verifies access tokens.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use serde_json::json;
use sspr_core::app::Parts;
use sspr_core::domain::RecoveryCode;
use sspr_core::flows::signin::{sign_in, SecondFactor, SignInError};
use sspr_core::http::{self, json_body, Floor, Policy, Problem, ProblemCode, Route};
use sspr_core::{route, App};

/// What this function builds beyond the store and the keys: no optional
/// part.
pub const PARTS: Parts = Parts::NONE;

/// The routes this function serves.
pub static ROUTES: &[Route] = &[
    // A refusal answers no earlier than the floor after it arrived: a
    // stranger's, a locked user's and a wrong password's cost the same round
    // trips, and the floor hides what DynamoDB may still tell apart (a
    // cancelled transaction against a committed one, the lock's notice). A
    // sign-in, whose answer tells anyway, waits for nothing.
    route!(POST "/v1/token" => Token, post_token; Policy {
        floor: Floor::Refusal(ProblemCode::InvalidCredentials),
        ..Policy::OPEN
    }),
    route!(GET "/.well-known/jwks.json" => Jwks, get_jwks),
];

/// Serve one request of this function.
pub async fn handle(app: &App, req: Request) -> Response<Body> {
    http::serve(ROUTES, app, req).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenBody {
    username: String,
    password: String,
    /// The authenticator app's code, once one is confirmed.
    #[serde(default)]
    otp: Option<String>,
    /// A recovery code, in place of `otp`.
    #[serde(default)]
    recovery_code: Option<String>,
}

async fn post_token(app: &App, req: &Request) -> Result<Response<Body>, Problem> {
    let b: TokenBody = json_body(req)?;
    let second = match (b.otp, b.recovery_code) {
        (Some(otp), None) => Some(SecondFactor::Otp(otp)),
        // A recovery code that cannot be one is a wrong second factor, checked
        // (like any other) only after the password.
        (None, Some(rc)) => Some(SecondFactor::RecoveryCode(
            RecoveryCode::parse(&rc).unwrap_or_else(|_| RecoveryCode::generate()),
        )),
        (None, None) => None,
        (Some(_), Some(_)) => {
            return Err(Problem::invalid_request(
                "otp and recovery_code: give one of them, not both",
            ))
        }
    };
    let t = sign_in(
        app,
        &b.username,
        &b.password,
        second,
        &http::requester(req),
        app.now(),
    )
    .await
    .map_err(|e: SignInError| Problem::from(e))?;
    Ok(http::json(
        StatusCode::OK,
        &json!({
            "access_token": t.token,
            "token_type": "Bearer",
            "expires_in": t.expires_in,
            "methods_needed": t.methods_needed,
            "reconfirm_due": t.reconfirm_due,
        }),
    ))
}

/// How long a relying party may keep the JWKS: five minutes, as the OpenAPI
/// document. Short, for a new key (a new master secret): a verifier that
/// meets an unknown `kid` fetches again at once, and one that does not sees
/// the new key within five minutes. The document is the same for everyone and
/// holds only the public key, so any cache may keep it.
pub const JWKS_CACHE: &str = "public, max-age=300";

/// `GET /.well-known/jwks.json`: kept [`JWKS_CACHE`], with an `ETag`; a
/// verifier holding it asks again with `If-None-Match` and gets `304`.
async fn get_jwks(app: &App, req: &Request) -> Result<Response<Body>, Problem> {
    let text = app.keys.jwks().to_string();
    let tag = http::etag(text.as_bytes());
    Ok(http::cacheable(
        req,
        "application/json",
        &text,
        &tag,
        JWKS_CACHE,
    ))
}
