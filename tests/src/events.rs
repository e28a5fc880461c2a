//! API Gateway HTTP API (v2) events for driving the handlers, built from a
//! fixture AWS captured (shipped by the `aws_lambda_events` crate, copied into
//! `tests/fixtures`), so every test and benchmark sends what API Gateway sends.

use serde_json::{json, Value};

/// The captured event every builder starts from.
pub const FIXTURE: &str = include_str!("../fixtures/example-apigw-v2-request-no-authorizer.json");

/// One event: the fixture turned into `method path`, with what a test adds.
#[derive(Clone, Debug)]
pub struct Event(Value);

impl Event {
    pub fn new(method: &str, path: &str) -> Self {
        let mut e: Value = serde_json::from_str(FIXTURE).expect("the fixture is JSON");
        e["rawPath"] = json!(path);
        e["requestContext"]["http"]["method"] = json!(method);
        e["requestContext"]["http"]["path"] = json!(path);
        Self(e)
    }

    /// `POST path` with a JSON body.
    pub fn post(path: &str, body: Value) -> Self {
        Self::new("POST", path).json(body)
    }

    /// A JSON body (and its content type).
    pub fn json(mut self, body: Value) -> Self {
        self.0["body"] = json!(body.to_string());
        self.0["headers"]["content-type"] = json!("application/json");
        self
    }

    /// The client address API Gateway saw (`requestContext.http.sourceIp`).
    pub fn from_ip(mut self, ip: &str) -> Self {
        self.0["requestContext"]["http"]["sourceIp"] = json!(ip);
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.0["headers"][name] = json!(value);
        self
    }

    /// `Authorization: Bearer <token>`.
    pub fn bearer(self, token: &str) -> Self {
        self.header("authorization", &format!("Bearer {token}"))
    }

    /// The raw body, base64-encoded as API Gateway does for binary media.
    pub fn base64_body(mut self, raw: &str) -> Self {
        use base64::Engine as _;
        self.0["isBase64Encoded"] = json!(true);
        self.0["body"] = json!(base64::engine::general_purpose::STANDARD.encode(raw));
        self.0["headers"]["content-type"] = json!("application/json");
        self
    }

    /// The event as the Lambda runtime API delivers it.
    pub fn to_value(&self) -> Value {
        self.0.clone()
    }

    /// The event as `lambda_http` hands it to a handler.
    pub fn request(&self) -> lambda_http::Request {
        lambda_http::request::from_str(&self.0.to_string()).expect("a v2 event")
    }
}
