//! Function `dispatch`: one-time codes. Every well-formed request gets the same
//! `202`, whether or not a code went out, no earlier than the answer floor
//! (the route's policy: its body, the human check, the floor).

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use serde_json::json;
use sspr_core::app::Parts;
use sspr_core::domain::{Purpose, Username};
use sspr_core::flows::dispatch::{dispatch, dispatch_gate, Channel};
use sspr_core::http::{self, json_body, requester, Floor, Policy, Problem, Route};
use sspr_core::{route, App};

/// What this function builds beyond the store and the keys: the human
/// check (a code request asks for it).
pub const PARTS: Parts = Parts {
    breaches: None,
    captcha: Some(sspr_core::captcha::Captcha::new),
};

/// The routes this function serves.
pub static ROUTES: &[Route] = &[route!(POST "/v1/codes" => Codes, post_codes; Policy {
    body: Some(http::shape::<CodesBody>),
    captcha: Some(http::HUMAN),
    floor: Floor::WellFormed,
    ..Policy::OPEN
})];

/// Serve one request of this function.
pub async fn handle(app: &App, req: Request) -> Response<Body> {
    http::serve(ROUTES, app, req).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CodesBody {
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    purpose: Option<String>,
    /// `email` (the default) or `sms`.
    #[serde(default)]
    channel: Option<String>,
    /// The first gate's token: the code is for the second gate.
    #[serde(default)]
    gate_token: Option<String>,
    /// The human check's token, when one is configured (read by the
    /// route's policy).
    #[serde(default)]
    #[allow(dead_code)]
    captcha: Option<String>,
}

async fn post_codes(app: &App, req: &Request) -> Result<Response<Body>, Problem> {
    let b: CodesBody = json_body(req)?;
    let who = requester(req);
    let channel = match b.channel.as_deref() {
        None => Channel::Email,
        Some(c) => Channel::parse(c)
            .ok_or_else(|| Problem::invalid_request("channel: must be email or sms"))?,
    };
    let outcome = match (b.username, b.purpose, b.gate_token) {
        (Some(username), Some(purpose), None) => {
            let user = Username::parse(&username)
                .map_err(|e| Problem::invalid_request(format!("username: {e}")))?;
            let purpose = Purpose::parse(&purpose)
                .map_err(|e| Problem::invalid_request(format!("purpose: {e}")))?;
            if channel == Channel::Sms && purpose != Purpose::ResetPassword {
                return Err(Problem::invalid_request(
                    "channel: sms carries reset codes only",
                ));
            }
            dispatch(app, &user, purpose, channel, &who, app.now()).await
        }
        (None, purpose, Some(token))
            if purpose.as_deref().is_none_or(|p| p == "reset_password") =>
        {
            dispatch_gate(app, &token, channel, &who, app.now()).await
        }
        (_, _, Some(_)) => {
            return Err(Problem::invalid_request(
                "gate_token: give it with channel alone (the username is in it)",
            ))
        }
        (None, _, None) => return Err(Problem::invalid_request("username: missing")),
        (Some(_), None, None) => return Err(Problem::invalid_request("purpose: missing")),
    };
    // That a well-formed request was dispatched, never what became of it:
    // whether a code went out is what the one 202 hides (and tells whether
    // the account exists), so no line says it either.
    tracing::debug!("code dispatch");
    outcome?;
    Ok(http::json(
        StatusCode::ACCEPTED,
        &json!({"status": "accepted", "expires_in": app.config.codes.ttl.as_secs()}),
    ))
}
