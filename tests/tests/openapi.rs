//! The OpenAPI document (`functions/web/openapi.json`) is true of the code:
//! it names every route of every route table and no other, every problem
//! `code` (`ProblemCode::ALL`) at its status and no other, the password reasons
//! and the languages; `GET /openapi.json` serves it, cacheable; and the
//! harness's check (`sspr_tests::openapi`) refuses an answer outside it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use http::{HeaderMap, HeaderValue};
use serde_json::{json, Value};
use sspr_core::http::{ProblemCode, Route};
use sspr_tests::openapi::{assert_in_document, Document};
use sspr_tests::TestApp;

/// A route as `(METHOD, path, RouteKey)`.
type Row = (String, String, String);

/// Every route table, by the function (the document's tag) that serves it.
fn tables() -> Vec<(&'static str, Vec<Row>)> {
    fn rows<S>(t: &[Route<S>]) -> Vec<Row> {
        t.iter()
            .map(|r| (r.method.to_string(), r.path.to_owned(), r.key.to_string()))
            .collect()
    }
    vec![
        ("register", rows(sspr_register::ROUTES)),
        ("dispatch", rows(sspr_dispatch::ROUTES)),
        ("password", rows(sspr_password::ROUTES)),
        ("signin", rows(sspr_signin::ROUTES)),
        ("methods", rows(sspr_methods::ROUTES)),
        ("web", rows(sspr_web::ROUTES)),
    ]
}

#[test]
fn the_document_names_every_route_of_every_table_and_no_other() {
    // The local host serves exactly these tables: the API's and the pages'.
    assert_eq!(sspr_local::FUNCTIONS.len() + 1, tables().len());
    let from_code: BTreeSet<(String, String, String, String)> = tables()
        .into_iter()
        .flat_map(|(function, rows)| {
            rows.into_iter()
                .map(move |(m, p, k)| (m, p, k, function.to_owned()))
        })
        .collect();
    let from_doc: BTreeSet<(String, String, String, String)> = Document::sspr()
        .operations()
        .into_iter()
        .map(|(method, path, op)| {
            let tags = op["tags"].as_array().cloned().unwrap_or_default();
            assert_eq!(tags.len(), 1, "{method} {path}: one tag, its function");
            (
                method,
                path,
                op["operationId"].as_str().unwrap_or("").to_owned(),
                tags[0].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    let missing: Vec<_> = from_code.difference(&from_doc).collect();
    let extra: Vec<_> = from_doc.difference(&from_code).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "(method, path, RouteKey = operationId, function = tag)\n in the tables, not the document: {missing:?}\n in the document, not the tables: {extra:?}"
    );
    // Every RouteKey is one operation.
    let keys: BTreeSet<String> = sspr_core::limits::RouteKey::ALL
        .iter()
        .map(|k| k.to_string())
        .collect();
    let ids: BTreeSet<String> = from_doc.iter().map(|r| r.2.clone()).collect();
    assert_eq!(keys, ids);
}

#[test]
fn every_route_declares_the_front_doors_answers_and_every_api_route_its_limit() {
    let web: BTreeSet<String> = sspr_web::ROUTES.iter().map(|r| r.path.to_owned()).collect();
    for (method, path, op) in Document::sspr().operations() {
        let r = &op["responses"];
        for s in ["400", "413", "414"] {
            assert!(!r[s].is_null(), "{method} {path}: {s} (the front door)");
        }
        // Any API route can be given a limit (SSPR_CLIENT_LIMITS), and any
        // reaches a store; the pages' host meters nothing.
        let api = !web.contains(&path);
        for s in ["429", "503"] {
            if s == "503" && !api {
                continue;
            }
            assert_eq!(!r[s].is_null(), api, "{method} {path}: {s}");
        }
        // A body is JSON, so a route that takes one refuses other media.
        assert_eq!(
            !r["415"].is_null(),
            !op["requestBody"].is_null(),
            "{method} {path}: 415 exactly where a body is taken"
        );
    }
    for (key, _) in sspr_core::limits::ClientLimits::default().0 {
        let op = Document::sspr()
            .operations()
            .into_iter()
            .find(|(_, _, op)| op["operationId"].as_str() == Some(key.as_str()))
            .expect("an operation of each limited route");
        assert!(!op.2["responses"]["429"].is_null(), "{key}: 429");
    }
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace")
        .to_path_buf()
}

/// Every `(status, code)` a problem can be made with: the variants of
/// `ProblemCode`, the only way to make one.
fn emitted() -> BTreeSet<(u16, String)> {
    ProblemCode::ALL
        .iter()
        .map(|c| (c.status().as_u16(), c.as_str().to_owned()))
        .collect()
}

/// Every `(status, code)` the document's problem answers declare: the
/// `status` const and `code` enum beside each `Problem`.
fn declared(doc: &Document) -> BTreeSet<(u16, String)> {
    fn walk(v: &Value, out: &mut BTreeSet<(u16, String)>) {
        match v {
            Value::Object(m) => {
                if let Some(parts) = m.get("allOf").and_then(Value::as_array) {
                    for p in parts {
                        let status = p["properties"]["status"]["const"].as_u64();
                        let codes = p["properties"]["code"]["enum"].as_array();
                        if let (Some(s), Some(codes)) = (status, codes) {
                            for c in codes {
                                out.insert((s as u16, c.as_str().unwrap_or("").to_owned()));
                            }
                        }
                    }
                }
                m.values().for_each(|x| walk(x, out));
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    let mut out = BTreeSet::new();
    walk(&doc.value()["paths"], &mut out);
    walk(&doc.value()["components"]["responses"], &mut out);
    out
}

#[test]
fn every_problem_code_is_in_the_document_at_its_status_and_no_other() {
    let emitted = emitted();
    assert_eq!(
        emitted.len(),
        ProblemCode::ALL.len(),
        "every code is its own"
    );
    let doc = Document::sspr();
    let declared = declared(doc);
    let undocumented: Vec<_> = emitted.difference(&declared).collect();
    assert!(
        undocumented.is_empty(),
        "problems the code emits that no answer of the document declares: {undocumented:?}"
    );
    let phantom: Vec<_> = declared.difference(&emitted).collect();
    assert!(
        phantom.is_empty(),
        "problems the document declares that the code never makes: {phantom:?}"
    );
    let codes: Vec<&str> = ProblemCode::ALL.iter().map(|c| c.as_str()).collect();
    let listed: Vec<&str> = doc.value()["components"]["schemas"]["ProblemCode"]["enum"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(codes, listed, "ProblemCode lists every code, in order");
}

/// The snake_case names of an enum's variants in a source file.
fn variants(file: &str, decl: &str) -> BTreeSet<String> {
    let text = std::fs::read_to_string(repo().join(file)).unwrap();
    let start = text
        .find(decl)
        .unwrap_or_else(|| panic!("{decl} in {file}"));
    let body = &text[start + decl.len()..];
    let body = &body[..body.find('}').expect("the enum's end")];
    body.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("//") && !l.starts_with('#'))
        .map(|l| {
            let name = l.trim_end_matches(',');
            let mut snake = String::new();
            for (i, c) in name.chars().enumerate() {
                if c.is_ascii_uppercase() && i > 0 {
                    snake.push('_');
                }
                snake.push(c.to_ascii_lowercase());
            }
            snake
        })
        .collect()
}

fn enum_of(doc: &Document, schema: &str) -> BTreeSet<String> {
    doc.value()["components"]["schemas"][schema]["enum"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c.as_str().map(str::to_owned))
        .collect()
}

#[test]
fn the_documents_password_reasons_and_languages_are_the_codes() {
    let doc = Document::sspr();
    let reasons = variants(
        "shared/domain/src/domain/password.rs",
        "pub enum WeakReason {",
    );
    assert!(reasons.contains("contains_username"), "{reasons:?}");
    let documented = enum_of(doc, "WeakReason");
    // The document may name a reason ahead of the check that gives it.
    assert!(
        reasons.is_subset(&documented),
        "reasons the code gives that the document does not name: {:?}",
        reasons.difference(&documented).collect::<Vec<_>>()
    );
    let locales: BTreeSet<String> = sspr_core::domain::Locale::all()
        .map(|l| l.as_str().to_owned())
        .collect();
    assert_eq!(enum_of(doc, "Locale"), locales);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_is_served_as_it_is_checked_in_cacheable_with_its_etag() {
    let app = TestApp::spawn().await;
    let url = format!("{}/openapi.json", app.url);
    let r = app.request(app.http.get(&url)).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), "application/json");
    assert_eq!(r.text, sspr_web::OPENAPI);
    assert_eq!(r.json()["openapi"], "3.1.0");
    assert_eq!(r.header("cache-control"), "public, max-age=300");
    let etag = r.header("etag");
    assert!(etag.starts_with('"') && etag.len() == 18, "{etag}");
    let again = app
        .request(app.http.get(&url).header("if-none-match", &etag))
        .await;
    assert_eq!(again.status, 304, "the client's copy is current");
    assert!(again.text.is_empty());
    assert_eq!(again.header("etag"), etag);
    let weak = app
        .request(
            app.http
                .get(&url)
                .header("if-none-match", format!("\"old\", W/{etag}")),
        )
        .await;
    assert_eq!(weak.status, 304, "a list, and a weak tag, match too");
    let stale = app
        .request(app.http.get(&url).header("if-none-match", "\"old\""))
        .await;
    assert_eq!(stale.status, 200);
    assert_eq!(stale.text, sspr_web::OPENAPI);
    let head = app.request(app.http.head(&url)).await;
    assert_eq!((head.status, head.text.as_str()), (200, ""));
    let post = app.request(app.http.post(&url)).await;
    assert_eq!(post.status, 405);
}

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.insert(*k, HeaderValue::from_str(v).unwrap());
    }
    h
}

const JSON: (&str, &str) = ("content-type", "application/json");
const PROBLEM: (&str, &str) = ("content-type", "application/problem+json");

fn problem(status: u16, code: &str) -> Vec<u8> {
    json!({"type": format!("urn:sspr:problem:{code}"), "title": "t", "status": status, "detail": "d", "code": code})
        .to_string()
        .into_bytes()
}

#[test]
fn the_check_takes_the_answers_the_document_describes() {
    let doc = Document::sspr();
    let token = json!({"access_token": "a.b.c", "token_type": "Bearer", "expires_in": 900, "methods_needed": 0, "reconfirm_due": false});
    let ok = |m: &str, p: &str, s: u16, h: &[(&'static str, &str)], b: &[u8]| {
        doc.check(m, p, s, &headers(h), b)
            .unwrap_or_else(|e| panic!("{e}"))
    };
    ok(
        "POST",
        "/v1/token",
        200,
        &[JSON],
        token.to_string().as_bytes(),
    );
    ok(
        "POST",
        "/v1/token",
        401,
        &[PROBLEM],
        &problem(401, "second_factor_required"),
    );
    ok(
        "POST",
        "/v1/token",
        429,
        &[PROBLEM, ("retry-after", "30")],
        &problem(429, "too_many_requests"),
    );
    ok("POST", "/v1/password/reset", 204, &[], b"");
    ok("HEAD", "/v1/me", 401, &[PROBLEM], b"");
    ok(
        "GET",
        "/v1/me?x=1",
        401,
        &[PROBLEM],
        &problem(401, "invalid_token"),
    );
    ok(
        "DELETE",
        "/v1/me/methods/reconfirm",
        404,
        &[PROBLEM],
        &problem(404, "not_found"),
    );
    ok(
        "POST",
        "/v1/me",
        405,
        &[PROBLEM, ("allow", "GET, HEAD")],
        &problem(405, "method_not_allowed"),
    );
    ok(
        "PATCH",
        "/v1/token",
        429,
        &[PROBLEM, ("retry-after", "1")],
        &problem(429, "too_many_requests"),
    );
    ok(
        "GET",
        "/nowhere",
        404,
        &[PROBLEM],
        &problem(404, "not_found"),
    );
    ok(
        "GET",
        "/nowhere",
        414,
        &[PROBLEM],
        &problem(414, "uri_too_long"),
    );
    ok(
        "GET",
        "/lambda-url/sspr-signin/v1/me/",
        401,
        &[PROBLEM],
        &problem(401, "invalid_token"),
    );
}

#[test]
fn the_check_refuses_an_answer_outside_the_document() {
    let doc = Document::sspr();
    let token = json!({"access_token": "a.b.c", "token_type": "Bearer", "expires_in": 900, "methods_needed": 0, "reconfirm_due": false});
    let refused = |m: &str, p: &str, s: u16, h: &[(&'static str, &str)], b: &[u8], why: &str| {
        let e = doc
            .check(m, p, s, &headers(h), b)
            .expect_err("outside the document");
        assert!(e.contains(why), "{why}: {e}");
    };
    let mut missing = token.clone();
    missing.as_object_mut().unwrap().remove("reconfirm_due");
    refused(
        "POST",
        "/v1/token",
        200,
        &[JSON],
        missing.to_string().as_bytes(),
        "reconfirm_due is missing",
    );
    let mut extra = token.clone();
    extra["refresh_token"] = json!("r");
    refused(
        "POST",
        "/v1/token",
        200,
        &[JSON],
        extra.to_string().as_bytes(),
        "does not name",
    );
    let mut typed = token.clone();
    typed["expires_in"] = json!("900");
    refused(
        "POST",
        "/v1/token",
        200,
        &[JSON],
        typed.to_string().as_bytes(),
        "not of type",
    );
    refused("POST", "/v1/token", 418, &[JSON], b"{}", "not declared");
    refused(
        "POST",
        "/v1/token",
        500,
        &[PROBLEM],
        &problem(500, "unavailable"),
        "not declared",
    );
    refused(
        "POST",
        "/v1/token",
        200,
        &[("content-type", "text/plain")],
        token.to_string().as_bytes(),
        "not one of",
    );
    refused(
        "POST",
        "/v1/token",
        200,
        &[],
        token.to_string().as_bytes(),
        "no Content-Type",
    );
    refused("POST", "/v1/token", 200, &[JSON], b"not json", "not JSON");
    // A code the route does not give, or one of another status.
    refused(
        "POST",
        "/v1/token",
        400,
        &[PROBLEM],
        &problem(400, "invalid_code"),
        "is not one of",
    );
    refused(
        "POST",
        "/v1/token",
        401,
        &[PROBLEM],
        &problem(400, "invalid_credentials"),
        "is not 401",
    );
    let mut typo = json!({"type": "urn:sspr:problem:other", "title": "t", "status": 401, "detail": "d", "code": "invalid_credentials"});
    refused(
        "POST",
        "/v1/token",
        401,
        &[PROBLEM],
        typo.to_string().as_bytes(),
        "urn:sspr:problem:invalid_credentials",
    );
    typo["type"] = json!("urn:sspr:problem:invalid_credentials");
    typo["reasons"] = json!(["too_weak"]);
    refused(
        "POST",
        "/v1/token",
        401,
        &[PROBLEM],
        typo.to_string().as_bytes(),
        "is not one of",
    );
    refused(
        "POST",
        "/v1/token",
        429,
        &[PROBLEM],
        &problem(429, "too_many_requests"),
        "Retry-After is missing",
    );
    refused(
        "POST",
        "/v1/me",
        405,
        &[PROBLEM],
        &problem(405, "method_not_allowed"),
        "Allow is missing",
    );
    refused(
        "POST",
        "/v1/password/reset",
        204,
        &[JSON],
        b"{}",
        "declares no body",
    );
    refused(
        "HEAD",
        "/v1/me",
        401,
        &[PROBLEM],
        &problem(401, "invalid_token"),
        "HEAD answer with a body",
    );
    refused("GET", "/nowhere", 200, &[JSON], b"{}", "answers 404");
    refused(
        "PUT",
        "/v1/token",
        401,
        &[PROBLEM],
        &problem(401, "invalid_token"),
        "405, not 401",
    );
    // No page is limited: a wrong method there is never 429.
    refused(
        "POST",
        "/reset",
        429,
        &[PROBLEM, ("retry-after", "1")],
        &problem(429, "too_many_requests"),
        "405, not 429",
    );
    let bad_time = json!({"reconfirmed_at": "yesterday"});
    refused(
        "POST",
        "/v1/me/methods/reconfirm",
        200,
        &[JSON],
        bad_time.to_string().as_bytes(),
        "RFC 3339",
    );
}

#[test]
#[should_panic(expected = "an answer outside openapi.json")]
fn the_harness_fails_the_test_on_an_answer_outside_the_document() {
    assert_in_document(
        "GET",
        "/.well-known/jwks.json",
        200,
        &headers(&[JSON]),
        b"{\"keys\": []}",
    );
}

#[test]
fn the_check_refuses_a_schema_keyword_it_does_not_know() {
    let doc = Document::parse(
        &json!({
            "openapi": "3.1.0",
            "paths": {"/x": {"get": {"responses": {"200": {"description": "d", "content": {
                "application/json": {"schema": {"type": "string", "pattern": "^a"}}}}}}}}
        })
        .to_string(),
    )
    .unwrap();
    let e = doc
        .check("GET", "/x", 200, &headers(&[JSON]), b"\"b\"")
        .expect_err("pattern is not checked, so it may not be said");
    assert!(e.contains("pattern"), "{e}");
}
