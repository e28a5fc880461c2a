//! Function `methods`: the signed-in user's recovery methods (API.md
//! "Recovery methods and gates"): list, add, confirm, remove, a new set of
//! recovery codes, reconfirm.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use serde_json::json;
use sspr_core::app::Parts;
use sspr_core::domain::user::MethodId;
use sspr_core::domain::{Email, Phone};
use sspr_core::flows::account::Session;
use sspr_core::flows::methods::{self, Added, Adding, Methods};
use sspr_core::http::{self, field_problem, json_body, requester, Problem, ProblemCode, Route};
use sspr_core::{route, App};

/// What this function builds beyond the store and the keys: no optional
/// part.
pub const PARTS: Parts = Parts::NONE;

/// The routes this function serves.
pub static ROUTES: &[Route] = &[
    route!(GET "/v1/me/methods" => Methods, get_methods; signed Bearer),
    route!(POST "/v1/me/methods" => MethodAdd, post_method; signed Recent, add_shape),
    route!(POST "/v1/me/methods/reconfirm" => Reconfirm, post_reconfirm; signed Bearer),
    route!(POST "/v1/me/methods/{id}/confirm" => MethodConfirm, post_confirm; signed Bearer, http::shape::<ConfirmBody>),
    route!(DELETE "/v1/me/methods/{id}" => MethodRemove, delete_method; signed Recent),
    route!(POST "/v1/me/recovery-codes" => RecoveryCodes, post_recovery_codes; signed Recent),
];

/// Serve one request of this function.
pub async fn handle(app: &App, req: Request) -> Response<Body> {
    http::serve(ROUTES, app, req).await
}

/// The method id of `/v1/me/methods/{id}...`, if it names one.
fn method_id(req: &Request) -> Option<MethodId> {
    http::segment(req, 4).and_then(|s| MethodId::parse(&s))
}

fn methods_json(m: &Methods) -> serde_json::Value {
    let list: Vec<_> = m
        .methods
        .iter()
        .map(|v| {
            let mut m = json!({
                "id": v.id.as_str(),
                "type": v.kind.as_str(),
                "label": v.label,
                "confirmed": v.confirmed,
                "confirmed_at": v.confirmed_at.map(http::rfc3339),
                "last_used_at": v.last_used_at.map(http::rfc3339),
            });
            if let Some(n) = v.remaining {
                // An addition to API.md's fields: the count the label shows in English.
                m["remaining"] = json!(n);
            }
            m
        })
        .collect();
    json!({
        "methods": list,
        "gates": m.gates,
        "methods_needed": m.methods_needed,
        "reconfirm_due": m.reconfirm_due,
    })
}

async fn get_methods(app: &App, _: &Request, session: Session) -> Result<Response<Body>, Problem> {
    let m = methods::list(app, session, app.now()).await?;
    Ok(http::json(StatusCode::OK, &methods_json(&m)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddBody {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    phone: Option<String>,
    #[serde(default)]
    email: Option<String>,
}

/// What `POST /v1/me/methods` asks to add, or why it cannot be read: the
/// route's policy reads it first (before the sign-in), the handler again.
fn adding(req: &Request) -> Result<Adding, Problem> {
    let b: AddBody = json_body(req)?;
    let adding = match (b.kind.as_str(), b.phone, b.email) {
        ("totp", None, None) => Adding::Totp,
        ("phone", Some(p), None) => Adding::Phone(
            Phone::parse(&p).map_err(|e| field_problem(ProblemCode::InvalidPhone, "phone", e))?,
        ),
        ("email", None, Some(e)) => Adding::Email(
            Email::parse(&e).map_err(|e| field_problem(ProblemCode::InvalidEmail, "email", e))?,
        ),
        ("totp" | "phone" | "email", _, _) => {
            return Err(Problem::invalid_request(
                "type: totp takes no other field, phone takes phone, email takes email",
            ))
        }
        _ => {
            return Err(Problem::invalid_request(
                "type: must be totp, phone or email (recovery codes: POST /v1/me/recovery-codes)",
            ))
        }
    };
    Ok(adding)
}

/// [`adding`] as the route's body [`Shape`](http::Shape).
fn add_shape(req: &Request) -> Result<Option<String>, Problem> {
    adding(req).map(|_| None)
}

async fn post_method(
    app: &App,
    req: &Request,
    session: Session,
) -> Result<Response<Body>, Problem> {
    let adding = adding(req)?;
    let body = match methods::add(app, session, adding, &requester(req), app.now()).await? {
        Added::Totp {
            id,
            secret,
            otpauth_uri,
        } => {
            json!({"id": id.as_str(), "type": "totp", "secret": secret, "otpauth_uri": otpauth_uri})
        }
        Added::Sent { id, kind } => json!({"id": id.as_str(), "type": kind.as_str()}),
    };
    Ok(http::json(StatusCode::CREATED, &body))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfirmBody {
    code: String,
}

async fn post_confirm(
    app: &App,
    req: &Request,
    session: Session,
) -> Result<Response<Body>, Problem> {
    let b: ConfirmBody = json_body(req)?;
    let id = method_id(req);
    methods::confirm(app, session, id, &b.code, &requester(req), app.now()).await?;
    Ok(http::json(StatusCode::OK, &json!({"confirmed": true})))
}

async fn delete_method(
    app: &App,
    req: &Request,
    session: Session,
) -> Result<Response<Body>, Problem> {
    let id = method_id(req);
    methods::remove(app, session, id, &requester(req), app.now()).await?;
    Ok(http::no_content())
}

async fn post_recovery_codes(
    app: &App,
    req: &Request,
    session: Session,
) -> Result<Response<Body>, Problem> {
    let codes = methods::recovery_codes(app, session, &requester(req), app.now()).await?;
    Ok(http::json(StatusCode::CREATED, &json!({"codes": codes})))
}

async fn post_reconfirm(
    app: &App,
    req: &Request,
    session: Session,
) -> Result<Response<Body>, Problem> {
    let at = methods::reconfirm(app, session, &requester(req), app.now()).await?;
    Ok(http::json(
        StatusCode::OK,
        &json!({"reconfirmed_at": http::rfc3339(at)}),
    ))
}
