//! Function `web`: the self-service pages (`/`, `/reset`, `/register`,
//! `/account`) and their two assets, on the same origin as the API, and the
//! API's OpenAPI document (`/openapi.json`, [`OPENAPI`]).
//!
//! A function of its own, not a route of an API function: it holds no key,
//! reads no secret and reaches no table (its IAM role grants nothing), so a
//! flaw in a page can touch no account, and a burst of page loads takes no
//! concurrency from sign-in or resets. Each page is HTML rendered once per
//! request in the person's language (`?lang=`, else `Accept-Language`), with
//! the words of `sspr_domain::pages`; a small script of our own
//! (`assets/app.js`) calls the JSON API with `fetch`. Nothing is fetched from
//! elsewhere: the Content-Security-Policy allows this origin only, and no
//! inline script (the words reach the script as a JSON data block).

use std::sync::{Arc, OnceLock};

use askama::Template;
use lambda_http::http::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, RequestExt, Response};
use sspr_core::app::StartError;
use sspr_core::captcha::Provider;
use sspr_core::config::Config;
use sspr_core::domain::Locale;
use sspr_core::http::{self, Host, Problem, ProblemCode, Route};
use sspr_core::limits::{Metered, RouteKey};
use sspr_core::pages::{words, PageWords};
use sspr_core::route;

/// The routes this function serves.
pub static ROUTES: &[Route<Pages>] = &[
    route!(GET "/" => Home, home),
    route!(GET "/reset" => ResetPage, reset),
    route!(GET "/register" => RegisterPage, register),
    route!(GET "/account" => AccountPage, account),
    route!(GET "/assets/{file}" => Asset, asset),
    route!(GET "/favicon.ico" => Favicon, favicon),
    route!(GET "/openapi.json" => OpenApi, openapi),
];

/// The OpenAPI 3.1 document of every route of every function, this one's
/// included: one checked-in file, served as it is. The tests hold it true:
/// every route table against its paths, every problem `code` the code can
/// emit against its codes, and every answer of the API tests against its
/// schemas (`tests/src/openapi.rs`).
pub const OPENAPI: &str = include_str!("../openapi.json");

/// Serve one request of this function.
pub async fn handle(pages: &Pages, req: Request) -> Response<Body> {
    http::serve(ROUTES, pages, req).await
}

/// What the pages need of the configuration: the password and code lengths
/// their fields and hints show, and whether text messages are sent.
#[derive(Debug, Clone)]
pub struct Pages {
    settings: Arc<Settings>,
}

#[derive(Debug)]
struct Settings {
    min_len: usize,
    max_len: usize,
    code_len: usize,
    /// Whether the deployment sends SMS: only then do the pages offer a code
    /// by text message or a phone to add.
    sms: bool,
    /// The human check's provider and public site key, when it is on.
    captcha: Option<(Provider, String)>,
    /// This origin, and the provider's when the check is on.
    csp: HeaderValue,
}

impl Pages {
    pub fn new(config: &Config) -> Self {
        Self {
            settings: Arc::new(Settings {
                min_len: config.passwords.min_len,
                max_len: config.passwords.max_len,
                code_len: config.codes.length,
                sms: config.sms.enabled(),
                captcha: config
                    .captcha
                    .as_ref()
                    .map(|c| (c.provider, c.site_key.clone())),
                csp: csp(config.captcha.as_ref().map(|c| c.provider)),
            }),
        }
    }
}

impl Host for Pages {
    /// The pages have no optional part.
    type Parts = ();

    async fn from_env((): ()) -> Result<Self, StartError> {
        Ok(Pages::new(&Config::from_env()?))
    }

    /// No page has a per-client limit: a page costs no store call.
    fn for_request(&self, _: RouteKey, _: &str) -> (Self, Option<Arc<Metered>>) {
        (self.clone(), None)
    }
}

/// The headers of every page and asset: this origin only, in no frame, no
/// referrer sent anywhere.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; object-src 'none'; frame-ancestors 'none'";

/// The policy with the human check's provider let in where its widget needs
/// it (its script, its frame, and for hCaptcha its styles and calls): the one
/// other origin a page may reach, and only when the check is configured.
fn csp(provider: Option<Provider>) -> HeaderValue {
    let Some(p) = provider else {
        return HeaderValue::from_static(CONTENT_SECURITY_POLICY);
    };
    let o = p.origins();
    let policy = format!(
        "default-src 'self'; script-src 'self' {o}; style-src 'self' {o}; img-src 'self'; connect-src 'self' {o}; frame-src {o}; form-action 'self'; base-uri 'none'; object-src 'none'; frame-ancestors 'none'"
    );
    HeaderValue::from_str(&policy).unwrap_or(HeaderValue::from_static(CONTENT_SECURITY_POLICY))
}

fn secure(resp: &mut Response<Body>, csp: &HeaderValue) {
    let h = resp.headers_mut();
    h.insert("content-security-policy", csp.clone());
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        "permissions-policy",
        HeaderValue::from_static("camera=(), microphone=(), geolocation=(), payment=()"),
    );
}

/// One asset, named by its content: `app.<hash>.css`.
struct Asset {
    name: String,
    content_type: &'static str,
    bytes: &'static [u8],
}

/// The assets' names and where the pages link them.
pub struct AssetPaths {
    pub css: String,
    pub js: String,
}

fn assets() -> &'static ([Asset; 2], AssetPaths) {
    static ASSETS: OnceLock<([Asset; 2], AssetPaths)> = OnceLock::new();
    ASSETS.get_or_init(|| {
        let named = |stem: &str, ext: &str, content_type, bytes: &'static [u8]| {
            let hash = sspr_core::digest::hex(&sspr_core::digest::sha256(&[bytes])[..6]);
            Asset {
                name: format!("{stem}.{hash}.{ext}"),
                content_type,
                bytes,
            }
        };
        let css = named(
            "app",
            "css",
            "text/css; charset=utf-8",
            include_bytes!("../assets/app.css"),
        );
        let js = named(
            "app",
            "js",
            "text/javascript; charset=utf-8",
            include_bytes!("../assets/app.js"),
        );
        let paths = AssetPaths {
            css: format!("/assets/{}", css.name),
            js: format!("/assets/{}", js.name),
        };
        ([css, js], paths)
    })
}

/// Where the pages link their stylesheet and script.
pub fn asset_paths() -> &'static AssetPaths {
    &assets().1
}

async fn asset(pages: &Pages, req: &Request) -> Result<Response<Body>, Problem> {
    let path = http::route_path(req);
    let name = path.strip_prefix("/assets/").unwrap_or("");
    let Some(a) = assets().0.iter().find(|a| a.name == name) else {
        return Err(Problem::not_found());
    };
    let mut resp = Response::new(Body::Binary(a.bytes.to_vec()));
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(a.content_type));
    // Named by content: a change is a new name, so it may be kept a year.
    h.insert(
        CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    secure(&mut resp, &pages.settings.csp);
    Ok(resp)
}

/// Browsers ask for `/favicon.ico` on their own: answered (no icon, kept a
/// day) so no visitor's console shows a failed request.
async fn favicon(pages: &Pages, _: &Request) -> Result<Response<Body>, Problem> {
    let mut resp = Response::new(Body::Empty);
    *resp.status_mut() = StatusCode::NO_CONTENT;
    resp.headers_mut().insert(
        CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=86400"),
    );
    secure(&mut resp, &pages.settings.csp);
    Ok(resp)
}

/// The document's entity tag: its content's hash, made once.
fn openapi_etag() -> &'static HeaderValue {
    static ETAG: OnceLock<HeaderValue> = OnceLock::new();
    ETAG.get_or_init(|| http::etag(OPENAPI.as_bytes()))
}

/// `GET /openapi.json`: the document, public and kept five minutes (a
/// deploy that changes it is seen that soon); a client holding it asks again
/// with `If-None-Match` and gets `304` without the body.
async fn openapi(pages: &Pages, req: &Request) -> Result<Response<Body>, Problem> {
    let mut resp = http::cacheable(
        req,
        "application/json",
        OPENAPI,
        openapi_etag(),
        "public, max-age=300",
    );
    secure(&mut resp, &pages.settings.csp);
    Ok(resp)
}

/// The language of a page: `?lang=` when it names one, else the best of
/// `Accept-Language`, else English.
pub fn language(req: &Request) -> Locale {
    let asked = req
        .query_string_parameters_ref()
        .and_then(|q| q.first("lang"))
        .and_then(|l| Locale::parse(l).ok());
    asked
        .or_else(|| {
            req.headers()
                .get("accept-language")
                .and_then(|v| v.to_str().ok())
                .and_then(Locale::from_accept_language)
        })
        .unwrap_or_default()
}

/// A page: its template over the [`Common`] fields every page reads, and the
/// route handler that renders it (`page` names it to the script and `common`).
macro_rules! pages {
    ($($handler:ident: $name:ident => $path:literal),+ $(,)?) => {$(
        #[derive(Template)]
        #[template(path = $path)]
        struct $name<'a> {
            p: Common<'a>,
        }

        impl<'a> std::ops::Deref for $name<'a> {
            type Target = Common<'a>;
            fn deref(&self) -> &Common<'a> {
                &self.p
            }
        }

        async fn $handler(pages: &Pages, req: &Request) -> Result<Response<Body>, Problem> {
            let p = common(pages, req, stringify!($handler));
            let lang = p.lang;
            page(pages, $name { p }.render(), lang)
        }
    )+};
}

pages!(
    home: Home => "home.html",
    reset: Reset => "reset.html",
    register: Register => "register.html",
    account: Account => "account.html",
);

/// What every page template reads.
struct Common<'a> {
    w: &'static PageWords,
    lang: &'static str,
    page: &'static str,
    title: &'static str,
    lead: &'static str,
    langs: Vec<(&'static str, &'static str)>,
    assets: &'a AssetPaths,
    min_len: usize,
    max_len: usize,
    code_len: usize,
    sms: bool,
    rule_length: String,
    words_json: String,
    /// The widget's class and site key, on the pages that ask for it.
    captcha: Option<(&'static str, String)>,
    /// The widget's script.
    captcha_script: Option<&'static str>,
}

fn common(pages: &Pages, req: &Request, page: &'static str) -> Common<'static> {
    let locale = language(req);
    let w = words(locale);
    let (title, lead) = match page {
        "reset" => (w.reset_title, w.reset_lead),
        "register" => (w.register_title, w.register_lead),
        "account" => (w.account_title, w.account_lead),
        _ => (w.home_title, w.home_lead),
    };
    let s = &pages.settings;
    // Sign-up and asking for a reset code carry the check.
    let widget = s
        .captcha
        .as_ref()
        .filter(|_| matches!(page, "reset" | "register"));
    let messages: serde_json::Map<String, serde_json::Value> = w
        .messages()
        .iter()
        .map(|(k, v)| ((*k).to_owned(), serde_json::Value::from(*v)))
        .collect();
    // A JSON data block, never run: `<` is escaped so no text can close it.
    let words_json = serde_json::Value::Object(messages)
        .to_string()
        .replace('<', "\\u003c");
    Common {
        w,
        lang: locale.as_str(),
        page,
        title,
        lead,
        langs: Locale::all()
            .map(|l| (l.as_str(), words(l).lang_name))
            .collect(),
        assets: asset_paths(),
        min_len: s.min_len,
        max_len: s.max_len,
        code_len: s.code_len,
        sms: s.sms,
        rule_length: w
            .rule_length
            .replace("{min}", &s.min_len.to_string())
            .replace("{max}", &s.max_len.to_string()),
        words_json,
        captcha: widget.map(|(p, key)| (p.widget_class(), key.clone())),
        captcha_script: widget.map(|(p, _)| p.script()),
    }
}

fn page(
    pages: &Pages,
    html: Result<String, askama::Error>,
    lang: &'static str,
) -> Result<Response<Body>, Problem> {
    let html = html.map_err(|e| {
        tracing::error!(error = %e, "page template failed");
        Problem::new(
            ProblemCode::Unavailable,
            "The page could not be made; try again shortly.",
        )
    })?;
    let mut resp = Response::new(Body::Text(html));
    let h = resp.headers_mut();
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    // A page says nothing of anyone, but it is never kept: a shared
    // computer's cache holds no trace of a reset.
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert("vary", HeaderValue::from_static("Accept-Language"));
    if let Ok(v) = HeaderValue::from_str(lang) {
        h.insert("content-language", v);
    }
    secure(&mut resp, &pages.settings.csp);
    Ok(resp)
}
