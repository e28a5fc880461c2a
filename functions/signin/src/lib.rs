//! Function `signin`: a password for an access token, and the JWKS document
//! that verifies access tokens.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use serde_json::json;
use sspr_core::flows::signin::sign_in;
use sspr_core::http::{self, json_body, Problem, Route};
use sspr_core::{route, App};

/// The routes this function serves.
pub static ROUTES: &[Route] = &[
    route!(POST "/v1/token" => Token, post_token),
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
}

async fn post_token(app: &App, req: &Request) -> Result<Response<Body>, Problem> {
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

async fn get_jwks(app: &App, _: &Request) -> Result<Response<Body>, Problem> {
    Ok(http::json(StatusCode::OK, &app.keys.jwks()))
}
