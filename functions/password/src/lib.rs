//! Function `password`: proving a reset code, resetting with the reset token,
//! and changing the password while signed in.

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use serde_json::json;
use sspr_core::domain::{Code, Username};
use sspr_core::flows::change::change;
use sspr_core::flows::reset::reset;
use sspr_core::flows::unlock::unlock;
use sspr_core::flows::verify::{verify, VerifyError};
use sspr_core::http::{self, bearer, expect_method, json_body, requester, Problem};
use sspr_core::App;

pub const ROUTES: &[&str] = &[
    "/v1/password/verify",
    "/v1/password/reset",
    "/v1/password/change",
    "/v1/unlock",
];

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let key = match http::route_path(&req).as_str() {
        "/v1/password/verify" => "verify",
        "/v1/password/reset" => "reset",
        "/v1/password/change" => "change",
        "/v1/unlock" => "unlock",
        _ => return Problem::not_found().into_response(),
    };
    // Counted against the client's limit for this route (429 when over it).
    let (app, meter) = app.metered(key, &http::requester(&req).ip);
    let app = &app;
    let r = match key {
        "verify" => post_verify(app, &req).await,
        "reset" => post_reset(app, &req).await,
        "change" => post_change(app, &req).await,
        "unlock" => post_unlock(app, &req).await,
        _ => Err(Problem::not_found()),
    };
    http::finish(meter, r).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VerifyBody {
    username: String,
    code: String,
}

async fn post_verify(app: &App, req: &Request) -> Result<Response<Body>, Problem> {
    let arrived = http::Arrival::now();
    expect_method(req, Method::POST)?;
    let b: VerifyBody = json_body(req)?;
    let user = Username::parse(&b.username).map_err(|_| Problem::from(VerifyError::InvalidCode))?;
    let code = Code::parse(&b.code, app.config.codes.length)
        .map_err(|_| Problem::from(VerifyError::InvalidCode))?;
    let grant = verify(app, &user, &code, &requester(req), app.now()).await;
    arrived.hold(app.config.answer_floor).await;
    let grant = grant?;
    Ok(http::json(
        StatusCode::OK,
        &json!({"reset_token": grant.token, "expires_in": grant.expires_in}),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResetBody {
    reset_token: String,
    new_password: String,
}

async fn post_reset(app: &App, req: &Request) -> Result<Response<Body>, Problem> {
    expect_method(req, Method::POST)?;
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

async fn post_change(app: &App, req: &Request) -> Result<Response<Body>, Problem> {
    expect_method(req, Method::POST)?;
    let b: ChangeBody = json_body(req)?;
    change(
        app,
        bearer(req),
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
    let arrived = http::Arrival::now();
    expect_method(req, Method::POST)?;
    let b: UnlockBody = json_body(req)?;
    let user = Username::parse(&b.username).map_err(|_| Problem::invalid_code())?;
    let code =
        Code::parse(&b.code, app.config.codes.length).map_err(|_| Problem::invalid_code())?;
    let unlocked = unlock(app, &user, &code, &requester(req), app.now()).await;
    arrived.hold(app.config.answer_floor).await;
    unlocked?;
    Ok(http::json(StatusCode::OK, &json!({"unlocked": true})))
}
