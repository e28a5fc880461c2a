//! The OpenAPI document as the tests' referee: every answer the API tests
//! receive through [`TestApp`](crate::TestApp) (and the walker's) is held to
//! `functions/web/openapi.json` ([`sspr_web::OPENAPI`]), and a test fails on
//! an answer the document does not describe.
//!
//! An answer is in the document when its status is declared for the route and
//! method, its media type is one of that answer's, the headers it marks
//! `required` are there, and its JSON body validates against the answer's
//! schema (a problem's `type` is also `urn:sspr:problem:<code>` and its
//! `status` the answer's). Two answers OpenAPI cannot name are held to the
//! document's components: a path it does not name gets `NotFound`, a method a
//! path does not take gets `MethodNotAllowed` (or that path's `429`/`503`: a
//! limited route charges a wrong method too); either may be refused at the
//! front door first (`InvalidRequest`, `PayloadTooLarge`, `UriTooLong`).
//! `HEAD` is held to its `GET`, without a body.
//!
//! The schemas are validated by the walk below, not by a JSON Schema crate:
//! it knows the keywords the document uses (`type`, `properties`, `required`,
//! `additionalProperties`, `items`, `enum`, `const`, `allOf`, `anyOf`,
//! `oneOf`, `$ref`, the bounds, `format: date-time`) and refuses any other in a
//! schema it walks, so the document cannot say what the check would ignore.

use std::sync::OnceLock;

use http::HeaderMap;
use serde_json::Value;

/// The parsed document.
pub struct Document {
    doc: Value,
}

/// Keywords that say nothing a value must be.
const ANNOTATIONS: [&str; 9] = [
    "description",
    "title",
    "examples",
    "example",
    "default",
    "deprecated",
    "readOnly",
    "writeOnly",
    "$comment",
];

impl Document {
    /// The document `sspr-web` serves, parsed once.
    pub fn sspr() -> &'static Document {
        static DOC: OnceLock<Document> = OnceLock::new();
        DOC.get_or_init(|| Document::parse(sspr_web::OPENAPI).expect("openapi.json is JSON"))
    }

    pub fn parse(text: &str) -> Result<Document, String> {
        let doc: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        Ok(Document { doc })
    }

    pub fn value(&self) -> &Value {
        &self.doc
    }

    /// Every operation: `(METHOD, path template, operation)`.
    pub fn operations(&self) -> Vec<(String, String, &Value)> {
        let mut out = Vec::new();
        for (path, item) in self.doc["paths"].as_object().into_iter().flatten() {
            for (method, op) in item.as_object().into_iter().flatten() {
                out.push((method.to_ascii_uppercase(), path.clone(), op));
            }
        }
        out
    }

    /// Hold one answer to the document: `Err` says what is outside it.
    pub fn check(
        &self,
        method: &str,
        target: &str,
        status: u16,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<(), String> {
        let path = api_path(target);
        let head = method.eq_ignore_ascii_case("HEAD");
        let asked = if head {
            "get".to_owned()
        } else {
            method.to_ascii_lowercase()
        };
        let at = format!("{method} {path} -> {status}");
        // As the route tables pick: a path's route that takes the method,
        // else any route of the path (`/v1/me/methods/reconfirm` is also a
        // `{id}`).
        let items: Vec<&Value> = self.doc["paths"]
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(template, _)| matches(template, &path))
            .map(|(_, item)| item)
            .collect();
        let item = items
            .iter()
            .find(|item| item.get(&asked).is_some())
            .or(items.first())
            .copied();
        let response = match item {
            // A path the document does not name.
            None => match status {
                404 => self.component("NotFound")?,
                _ => self.front_door(status).ok_or_else(|| {
                    format!("{at}: a path the document does not name answers 404, not {status}")
                })?,
            },
            Some(item) => match item.get(&asked) {
                Some(op) => {
                    let declared = &op["responses"][status.to_string()];
                    if declared.is_null() {
                        return Err(format!(
                            "{at}: status {status} is not declared for {} {path}",
                            asked.to_ascii_uppercase()
                        ));
                    }
                    self.resolve(declared)?
                }
                // A method the path does not take.
                None => {
                    let on_path = |s: u16| {
                        items
                            .iter()
                            .flat_map(|item| item.as_object().into_iter().flatten())
                            .find_map(|(_, op)| op["responses"].get(s.to_string()))
                    };
                    let refused =
                        || format!("{at}: {method} is not a method of {path}: 405, not {status}");
                    match status {
                        405 => self.component("MethodNotAllowed")?,
                        429 | 503 => self.resolve(on_path(status).ok_or_else(refused)?)?,
                        _ => self.front_door(status).ok_or_else(refused)?,
                    }
                }
            },
        };
        self.answer(&at, response, status, headers, body, head)
    }

    /// The answers the front door gives before any route.
    fn front_door(&self, status: u16) -> Option<&Value> {
        let name = match status {
            400 => "InvalidRequest",
            413 => "PayloadTooLarge",
            414 => "UriTooLong",
            _ => return None,
        };
        self.component(name).ok()
    }

    fn component(&self, name: &str) -> Result<&Value, String> {
        let r = &self.doc["components"]["responses"][name];
        if r.is_null() {
            return Err(format!("the document has no components.responses.{name}"));
        }
        self.resolve(r)
    }

    /// Follow a `$ref` (of a response, a header, a schema) to what it names.
    fn resolve<'a>(&'a self, v: &'a Value) -> Result<&'a Value, String> {
        let mut v = v;
        for _ in 0..16 {
            let Some(r) = v.get("$ref").and_then(Value::as_str) else {
                return Ok(v);
            };
            v = self.pointer(r)?;
        }
        Err("a $ref loop".to_owned())
    }

    fn pointer(&self, r: &str) -> Result<&Value, String> {
        let p = r
            .strip_prefix('#')
            .ok_or_else(|| format!("{r}: only references into the document are followed"))?;
        self.doc
            .pointer(p)
            .ok_or_else(|| format!("{r}: names nothing in the document"))
    }

    fn answer(
        &self,
        at: &str,
        response: &Value,
        status: u16,
        headers: &HeaderMap,
        body: &[u8],
        head: bool,
    ) -> Result<(), String> {
        for (name, h) in response["headers"].as_object().into_iter().flatten() {
            let h = self.resolve(h)?;
            if h["required"] == Value::Bool(true) && !headers.contains_key(name.as_str()) {
                return Err(format!("{at}: the header {name} is missing"));
            }
        }
        let media = headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                v.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
            });
        let Some(content) = response["content"].as_object() else {
            // No body declared: none sent.
            if !body.is_empty() || media.is_some() {
                return Err(format!(
                    "{at}: the document declares no body, got {media:?} with {} bytes",
                    body.len()
                ));
            }
            return Ok(());
        };
        let Some(media) = media else {
            return Err(format!("{at}: no Content-Type"));
        };
        let Some(declared) = content.get(&media) else {
            let known: Vec<&String> = content.keys().collect();
            return Err(format!(
                "{at}: Content-Type {media} is not one of {known:?}"
            ));
        };
        if head {
            return if body.is_empty() {
                Ok(())
            } else {
                Err(format!("{at}: a HEAD answer with a body"))
            };
        }
        if media != "application/json" && media != "application/problem+json" {
            return Ok(());
        }
        let value: Value = serde_json::from_slice(body)
            .map_err(|e| format!("{at}: the {media} body is not JSON: {e}"))?;
        self.validate(&declared["schema"], &value, "$")
            .map_err(|e| format!("{at}: {e}\n  body: {}", String::from_utf8_lossy(body)))?;
        if media == "application/problem+json" {
            let code = value["code"].as_str().unwrap_or("");
            if value["type"] != Value::String(format!("urn:sspr:problem:{code}")) {
                return Err(format!(
                    "{at}: the problem's type is not urn:sspr:problem:{code}"
                ));
            }
            if value["status"].as_u64() != Some(u64::from(status)) {
                return Err(format!("{at}: the problem's status is not {status}"));
            }
        }
        Ok(())
    }

    /// Validate `v` against `schema`; `Err` names where it fails.
    pub fn validate(&self, schema: &Value, v: &Value, at: &str) -> Result<(), String> {
        let s = match schema {
            Value::Bool(true) => return Ok(()),
            Value::Bool(false) => return Err(format!("{at}: nothing is allowed here")),
            Value::Object(s) => s,
            _ => return Err(format!("{at}: a schema that is not one")),
        };
        for (k, rule) in s {
            match k.as_str() {
                "$ref" => {
                    let r = rule.as_str().unwrap_or("");
                    self.validate(self.pointer(r)?, v, at)?;
                }
                "type" => {
                    let ok = match rule {
                        Value::String(t) => is_type(v, t),
                        Value::Array(ts) => ts.iter().any(|t| is_type(v, t.as_str().unwrap_or(""))),
                        _ => false,
                    };
                    if !ok {
                        return Err(format!("{at}: {v} is not of type {rule}"));
                    }
                }
                "enum" => {
                    if !rule.as_array().is_some_and(|a| a.contains(v)) {
                        return Err(format!("{at}: {v} is not one of {rule}"));
                    }
                }
                "const" => {
                    if rule != v {
                        return Err(format!("{at}: {v} is not {rule}"));
                    }
                }
                "properties" => {
                    if let (Some(props), Some(obj)) = (rule.as_object(), v.as_object()) {
                        for (name, sub) in props {
                            if let Some(x) = obj.get(name) {
                                self.validate(sub, x, &format!("{at}.{name}"))?;
                            }
                        }
                    }
                }
                "required" => {
                    if let Some(obj) = v.as_object() {
                        for name in rule.as_array().into_iter().flatten() {
                            let name = name.as_str().unwrap_or("");
                            if !obj.contains_key(name) {
                                return Err(format!("{at}: the field {name} is missing"));
                            }
                        }
                    }
                }
                "additionalProperties" => {
                    if let Some(obj) = v.as_object() {
                        let known = s.get("properties").and_then(Value::as_object);
                        for (name, x) in obj {
                            if known.is_some_and(|p| p.contains_key(name)) {
                                continue;
                            }
                            self.validate(rule, x, &format!("{at}.{name}"))
                                .map_err(|e| format!("{e} (a field the document does not name)"))?;
                        }
                    }
                }
                "items" => {
                    for (i, x) in v.as_array().into_iter().flatten().enumerate() {
                        self.validate(rule, x, &format!("{at}[{i}]"))?;
                    }
                }
                "minItems" | "maxItems" => {
                    if let (Some(a), Some(n)) = (v.as_array(), rule.as_u64()) {
                        let n = usize::try_from(n).unwrap_or(usize::MAX);
                        if (k == "minItems" && a.len() < n) || (k == "maxItems" && a.len() > n) {
                            return Err(format!("{at}: {} items, {k} {n}", a.len()));
                        }
                    }
                }
                "minLength" | "maxLength" => {
                    if let (Some(t), Some(n)) = (v.as_str(), rule.as_u64()) {
                        let len = t.chars().count() as u64;
                        if (k == "minLength" && len < n) || (k == "maxLength" && len > n) {
                            return Err(format!("{at}: {len} characters, {k} {n}"));
                        }
                    }
                }
                "minimum" | "maximum" => {
                    if let (Some(x), Some(n)) = (v.as_f64(), rule.as_f64()) {
                        if (k == "minimum" && x < n) || (k == "maximum" && x > n) {
                            return Err(format!("{at}: {x}, {k} {n}"));
                        }
                    }
                }
                "allOf" => {
                    for sub in rule.as_array().into_iter().flatten() {
                        self.validate(sub, v, at)?;
                    }
                }
                "anyOf" | "oneOf" => {
                    let subs = rule.as_array().map(Vec::as_slice).unwrap_or(&[]);
                    let mut errors = Vec::new();
                    for sub in subs {
                        if let Err(e) = self.validate(sub, v, at) {
                            errors.push(e);
                        }
                    }
                    let passed = subs.len() - errors.len();
                    if passed == 0 {
                        return Err(format!("{at}: none of {k} holds: {}", errors.join("; ")));
                    }
                    if k == "oneOf" && passed > 1 {
                        return Err(format!("{at}: {passed} schemas of oneOf hold, not one"));
                    }
                }
                "format" => {
                    if let (Some("date-time"), Some(t)) = (rule.as_str(), v.as_str()) {
                        let rfc3339 = &time::format_description::well_known::Rfc3339;
                        if time::OffsetDateTime::parse(t, rfc3339).is_err() {
                            return Err(format!("{at}: {t:?} is not an RFC 3339 date-time"));
                        }
                    }
                }
                a if ANNOTATIONS.contains(&a) => {}
                other => {
                    return Err(format!(
                        "{at}: the schema keyword {other} is not one the check knows"
                    ))
                }
            }
        }
        Ok(())
    }
}

fn is_type(v: &Value, t: &str) -> bool {
    match t {
        "null" => v.is_null(),
        "boolean" => v.is_boolean(),
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "number" => v.is_number(),
        "integer" => v.is_i64() || v.is_u64(),
        _ => false,
    }
}

/// The route path of a request target, as the functions read it
/// (`sspr_core::http::route_path`): no query, no `/lambda-url/<fn>` prefix of
/// a function URL, no trailing slash.
fn api_path(target: &str) -> String {
    let path = target.split(['?', '#']).next().unwrap_or("");
    let path = match path.strip_prefix("/lambda-url/") {
        Some(rest) => rest.find('/').map_or("/", |i| &rest[i..]),
        None => path,
    };
    if path.len() > 1 {
        path.trim_end_matches('/').to_owned()
    } else {
        path.to_owned()
    }
}

/// Whether a path template of the document takes `path`, as the route tables
/// match (`Route::matches`): a `{name}` segment takes one non-empty segment.
fn matches(template: &str, path: &str) -> bool {
    let mut want = template.split('/');
    let mut got = path.split('/');
    loop {
        match (want.next(), got.next()) {
            (None, None) => return true,
            (Some(w), Some(g)) if w.starts_with('{') && w.ends_with('}') => {
                if g.is_empty() {
                    return false;
                }
            }
            (Some(w), Some(g)) if w == g => {}
            _ => return false,
        }
    }
}

/// Hold an answer to the document, panicking (failing the test) when it is
/// outside it.
pub fn assert_in_document(
    method: &str,
    target: &str,
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
) {
    if let Err(e) = Document::sspr().check(method, target, status, headers, body) {
        panic!("an answer outside openapi.json: {e}");
    }
}
