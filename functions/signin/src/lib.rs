//! Function `signin`: a password for an access token, and the JWKS document
//! that verifies access tokens.

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use serde_json::json;
use sspr_core::flows::signin::sign_in;
use sspr_core::http::{self, expect_method, json_body, Problem};
use sspr_core::App;

pub const ROUTES: &[&str] = &["/v1/token", "/.well-known/jwks.json"];

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let key = match http::route_path(&req).as_str() {
        "/v1/token" => "token",
        "/.well-known/jwks.json" => "jwks",
        _ => return Problem::not_found().into_response(),
    };
    // Counted against the client's limit for this route (429 when over it).
    let (app, meter) = app.metered(key, &http::requester(&req).ip);
    let app = &app;
    let r = match key {
        "token" => post_token(app, &req).await,
        "jwks" => get_jwks(app, &req),
        _ => Err(Problem::not_found()),
    };
    http::finish(meter, r).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenBody {
    username: String,
    password: String,
}

async fn post_token(app: &App, req: &Request) -> Result<Response<Body>, Problem> {
    expect_method(req, Method::POST)?;
    let b: TokenBody = json_body(req)?;
    let t = sign_in(
        app,
        &b.username,
        &b.password,
        &http::requester(req),
        app.now(),
    )
    .await?;
    Ok(http::json(
        StatusCode::OK,
        &json!({"access_token": t.token, "token_type": "Bearer", "expires_in": t.expires_in}),
    ))
}

fn get_jwks(app: &App, req: &Request) -> Result<Response<Body>, Problem> {
    expect_method(req, Method::GET)?;
    Ok(http::json(StatusCode::OK, &app.keys.jwks()))
}
