//! Function `dispatch`: one-time codes. Every well-formed request gets the same
//! `202`, whether or not a code went out.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use serde_json::json;
use sspr_core::domain::{Purpose, Username};
use sspr_core::flows::dispatch::dispatch;
use sspr_core::http::{self, json_body, requester, Problem, Route};
use sspr_core::{route, App};

/// The routes this function serves.
pub static ROUTES: &[Route] = &[route!(POST "/v1/codes" => Codes, post_codes)];

/// Serve one request of this function.
pub async fn handle(app: &App, req: Request) -> Response<Body> {
    http::serve(ROUTES, app, req).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CodesBody {
    username: String,
    purpose: String,
    /// The human check's token, when one is configured.
    #[serde(default)]
    captcha: Option<String>,
}

async fn post_codes(app: &App, req: &Request) -> Result<Response<Body>, Problem> {
    let arrived = http::Arrival::now();
    let b: CodesBody = json_body(req)?;
    let who = requester(req);
    http::human(app, b.captcha.as_deref(), &who).await?;
    let user = Username::parse(&b.username)
        .map_err(|e| Problem::invalid_request(format!("username: {e}")))?;
    let purpose = Purpose::parse(&b.purpose)
        .map_err(|e| Problem::invalid_request(format!("purpose: {e}")))?;
    let outcome = dispatch(app, &user, purpose, &who, app.now()).await;
    arrived.hold(app.config.answer_floor).await;
    tracing::debug!(?outcome, "code dispatch");
    outcome?;
    Ok(http::json(
        StatusCode::ACCEPTED,
        &json!({"status": "accepted", "expires_in": app.config.codes.ttl.as_secs()}),
    ))
}
