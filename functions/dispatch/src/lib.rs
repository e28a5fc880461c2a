//! Function `dispatch`: one-time codes. Every well-formed request gets the same
//! `202`, whether or not a code went out.

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use serde_json::json;
use sspr_core::domain::{Purpose, Username};
use sspr_core::flows::dispatch::dispatch;
use sspr_core::http::{self, expect_method, json_body, requester, Problem};
use sspr_core::App;

pub const ROUTES: &[&str] = &["/v1/codes"];

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let key = match http::route_path(&req).as_str() {
        "/v1/codes" => "codes",
        _ => return Problem::not_found().into_response(),
    };
    // Counted against the client's limit for this route (429 when over it).
    let (app, meter) = app.metered(key, &http::requester(&req).ip);
    let app = &app;
    let r = match key {
        "codes" => post_codes(app, &req).await,
        _ => Err(Problem::not_found()),
    };
    http::finish(meter, r).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CodesBody {
    username: String,
    purpose: String,
}

async fn post_codes(app: &App, req: &Request) -> Result<Response<Body>, Problem> {
    let arrived = http::Arrival::now();
    expect_method(req, Method::POST)?;
    let b: CodesBody = json_body(req)?;
    let user = Username::parse(&b.username)
        .map_err(|e| Problem::invalid_request(format!("username: {e}")))?;
    let purpose = Purpose::parse(&b.purpose)
        .map_err(|e| Problem::invalid_request(format!("purpose: {e}")))?;
    let outcome = dispatch(app, &user, purpose, &requester(req), app.now()).await;
    arrived.hold(app.config.answer_floor).await;
    tracing::debug!(?outcome, "code dispatch");
    outcome?;
    Ok(http::json(
        StatusCode::ACCEPTED,
        &json!({"status": "accepted", "expires_in": app.config.codes.ttl.as_secs()}),
    ))
}
