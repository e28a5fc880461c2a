//! The self-service pages as served: language, headers, assets, weight, and
//! the link in every code mail. The browser walks (tests/browser) prove what a
//! person does with them; these prove what the server sends.

use sspr_tests::{TestApp, PASSWORD};

struct Page {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl Page {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The `href` or `src` of every stylesheet and script the page loads.
    fn assets(&self) -> Vec<String> {
        let mut out = Vec::new();
        for attr in ["href=\"/assets/", "src=\"/assets/"] {
            let mut rest = self.body.as_str();
            while let Some(i) = rest.find(attr) {
                let after = &rest[i + attr.len() - "/assets/".len()..];
                if let Some(end) = after.find('"') {
                    out.push(after[..end].to_owned());
                }
                rest = &rest[i + attr.len()..];
            }
        }
        out
    }
}

async fn get(app: &TestApp, path: &str, lang: Option<&str>) -> Page {
    let mut req = app.http.get(format!("{}{path}", app.url));
    if let Some(l) = lang {
        req = req.header("accept-language", l);
    }
    let r = app.request(req).await;
    Page {
        status: r.status,
        headers: r.headers,
        body: r.text,
    }
}

/// Whether `html` has an attribute like ` onclick=` (an inline handler).
fn inline_handler(html: &str) -> bool {
    html.match_indices(" on").any(|(i, _)| {
        let name: String = html[i + 3..]
            .chars()
            .take_while(|c| c.is_ascii_lowercase())
            .collect();
        !name.is_empty() && html[i + 3 + name.len()..].starts_with('=')
    })
}

const PAGES: [&str; 4] = ["/", "/reset", "/register", "/account"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_is_in_the_asked_language_with_a_switch_to_the_others() {
    let app = TestApp::spawn().await;
    for path in PAGES {
        let en = get(&app, path, None).await;
        assert_eq!(en.status, 200, "{path}");
        assert!(
            en.body.contains("<html lang=\"en\">"),
            "{path}: English by default"
        );
        let de = get(&app, path, Some("de-DE,de;q=0.9,en;q=0.5")).await;
        assert!(
            de.body.contains("<html lang=\"de\">"),
            "{path}: Accept-Language"
        );
        assert_eq!(de.header("content-language"), "de");
        assert!(de.header("vary").contains("Accept-Language"));
        let asked = get(&app, &format!("{path}?lang=de"), Some("en")).await;
        assert!(
            asked.body.contains("<html lang=\"de\">"),
            "{path}: ?lang wins"
        );
        let unknown = get(&app, &format!("{path}?lang=xx"), Some("de")).await;
        assert!(
            unknown.body.contains("<html lang=\"de\">"),
            "{path}: an unknown ?lang falls back to Accept-Language"
        );
        for lang in ["en", "de", "fr"] {
            assert!(
                en.body.contains(&format!("hreflang=\"{lang}\"")),
                "{path}: switch to {lang}"
            );
        }
    }
    let reset = get(&app, "/reset", Some("de")).await;
    assert!(reset.body.contains("Passwort zurücksetzen"), "German words");
    assert!(
        reset.body.contains("Falls das Konto existiert"),
        "German messages"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reset_page_answers_in_french_when_asked() {
    let app = TestApp::spawn().await;
    for (how, page) in [
        ("?lang=fr", get(&app, "/reset?lang=fr", Some("en")).await),
        (
            "Accept-Language",
            get(&app, "/reset", Some("fr-FR,fr;q=0.9,en;q=0.5")).await,
        ),
    ] {
        assert_eq!(page.status, 200, "{how}");
        assert!(page.body.contains("<html lang=\"fr\">"), "{how}");
        assert_eq!(page.header("content-language"), "fr", "{how}");
        assert!(
            page.body
                .contains("<h1>Réinitialiser votre mot de passe</h1>"),
            "{how}: French words"
        );
        assert!(
            page.body
                .contains("Si le compte existe, un code est en route."),
            "{how}: French messages"
        );
        assert!(
            page.body.contains(">Français</a>"),
            "{how}: French in the switch"
        );
    }
    // An unsupported language still falls back to English.
    let sv = get(&app, "/reset?lang=sv", Some("sv-SE")).await;
    assert!(sv.body.contains("<html lang=\"en\">"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_forbid_framing_inline_script_other_origins_and_caching() {
    let app = TestApp::spawn().await;
    for path in PAGES {
        let p = get(&app, path, None).await;
        let csp = p.header("content-security-policy");
        assert!(csp.contains("default-src 'self'"), "{path}: {csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(
            !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
            "{csp}"
        );
        assert_eq!(p.header("referrer-policy"), "no-referrer");
        assert_eq!(p.header("x-content-type-options"), "nosniff");
        assert_eq!(p.header("cache-control"), "no-store");
        assert!(p.header("content-type").starts_with("text/html"));
        // The one script element without `src` is the words, as JSON data.
        let scripts = p.body.matches("<script").count();
        let data = p.body.matches("<script type=\"application/json\"").count();
        let loaded = p.body.matches("<script src=\"/assets/").count();
        assert_eq!((scripts, data, loaded), (2, 1, 1), "{path}");
        assert!(!inline_handler(&p.body), "{path}: no inline event handler");
        assert!(!p.body.contains("style=\""), "{path}: no inline style");
        for far in ["http://", "https://", "//cdn", "@import"] {
            assert!(!p.body.contains(far), "{path}: names another origin: {far}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assets_are_named_by_content_cached_long_and_every_page_weighs_under_40_kb() {
    let app = TestApp::spawn().await;
    for path in PAGES {
        let p = get(&app, path, Some("de")).await;
        let assets = p.assets();
        assert_eq!(
            assets.len(),
            2,
            "{path}: one stylesheet, one script: {assets:?}"
        );
        let mut weight = p.body.len();
        for a in &assets {
            let r = get(&app, a, None).await;
            assert_eq!(r.status, 200, "{a}");
            assert_eq!(
                r.header("cache-control"),
                "public, max-age=31536000, immutable"
            );
            let ct = r.header("content-type");
            assert!(
                (a.ends_with(".css") && ct.starts_with("text/css"))
                    || (a.ends_with(".js") && ct.starts_with("text/javascript")),
                "{a}: {ct}"
            );
            for far in ["http://", "https://", "@import", "eval(", "innerHTML"] {
                assert!(!r.body.contains(far), "{a} uses {far}");
            }
            weight += r.body.len();
        }
        assert!(weight < 40_000, "{path}: {weight} bytes with its assets");
    }
    let stale = get(&app, "/assets/app.000000000000.js", None).await;
    assert_eq!(stale.status, 404, "a name that is not the content's");
    let deeper = get(&app, "/assets/a/b.js", None).await;
    assert_eq!(deeper.status, 404);
    let head = app
        .request(app.http.head(format!("{}/reset", app.url)))
        .await;
    assert_eq!(head.status, 200, "HEAD as GET");
    let post = app
        .request(app.http.post(format!("{}/reset", app.url)))
        .await;
    assert_eq!(post.status, 405);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_and_account_carry_the_gates_and_the_methods_with_the_apis_field_names() {
    let app = TestApp::spawn_with(|c| c.sms = sspr_core::config::SmsMode::Off).await;
    let reset = get(&app, "/reset", None).await.body;
    for part in [
        "<form id=\"gate\"",
        "<form id=\"second\"",
        "name=\"method\" value=\"email\" checked",
        "name=\"method\" value=\"totp\"",
        "name=\"method\" value=\"recovery_code\"",
        "data-method=\"phone\" hidden",
    ] {
        assert!(reset.contains(part), "/reset: {part}");
    }
    assert!(
        !reset.contains("id=\"ask-phone\""),
        "no SMS sent, no first code by SMS offered"
    );
    let account = get(&app, "/account", None).await.body;
    for part in [
        "<form id=\"factor\"",
        "name=\"otp\"",
        "name=\"recovery_code\"",
        "<section id=\"methods\"",
        "<form id=\"add-totp\"",
        "<form id=\"add-email\"",
        "<form id=\"method-confirm\"",
        "<form id=\"recovery\"",
        "<form id=\"reconfirm\"",
    ] {
        assert!(account.contains(part), "/account: {part}");
    }
    assert!(
        !account.contains("id=\"add-phone\""),
        "no SMS sent, no phone offered"
    );
    let sms = TestApp::spawn_with(|c| c.sms = sspr_core::config::SmsMode::Outbox).await;
    let reset = get(&sms, "/reset", None).await.body;
    assert!(reset.contains("id=\"ask-phone\" name=\"method\" value=\"phone\""));
    let account = get(&sms, "/account?lang=de", None).await.body;
    assert!(account.contains("name=\"phone\" type=\"tel\""));
    assert!(
        account.contains("Ein Telefon für SMS hinzufügen"),
        "in German"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_words_reach_the_script_as_data_that_no_text_can_close() {
    let app = TestApp::spawn().await;
    let p = get(&app, "/reset", None).await;
    let start = p
        .body
        .find("<script type=\"application/json\" id=\"words\">")
        .expect("the words block");
    let rest = &p.body[start..];
    let json = &rest[rest.find('>').map_or(0, |i| i + 1)..rest.find("</script>").unwrap_or(0)];
    let words: serde_json::Value = serde_json::from_str(json).expect("valid JSON");
    for key in [
        "code_sent",
        "invalid_code",
        "weak_password",
        "common",
        "too_short",
        "gate_next",
        "second_factor_required",
        "reauthentication_required",
        "method_required",
        "kind_totp",
    ] {
        assert!(words[key].as_str().is_some_and(|t| !t.is_empty()), "{key}");
    }
    assert!(!json.contains('<'), "no `<` inside the data block");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_mail_links_to_its_page_with_the_code_in_the_fragment_only() {
    let app = TestApp::spawn().await;
    let email = app.confirmed_user("lena").await;
    assert_eq!(app.ask_code("lena", "reset_password").await.status, 202);
    let mail = app
        .mails_to(&email, "reset_code")
        .await
        .pop()
        .expect("a reset mail");
    let code = mail.code().expect("a code");
    let link = format!("{}/reset#u=lena&c={code}", app.url);
    assert!(mail.body.contains(&link), "text part links: {}", mail.body);
    assert!(
        mail.html
            .as_deref()
            .is_some_and(|h| h.replace("&#38;", "&").contains(&link)),
        "HTML part links"
    );
    // The code is in the fragment, which no request carries: nowhere in
    // the path or a query of any link of the mail.
    for part in std::iter::once(mail.body.as_str()).chain(mail.html.as_deref()) {
        for at in part.match_indices("http").map(|(i, _)| i) {
            let url: String = part[at..]
                .chars()
                .take_while(|c| !c.is_whitespace() && !"\"<>".contains(*c))
                .collect();
            let before_fragment = url.split('#').next().unwrap_or("");
            assert!(
                !before_fragment.contains(&code),
                "the code outside the fragment: {url}"
            );
        }
    }
    // That opening the link spends nothing (the page reads the fragment,
    // drops it from the address bar and sends nothing until the person
    // submits; opened twice, the code still works) is the browser's to
    // show: tests/browser/pages.py, "reset by the mail's link".

    // A confirmation links to /register.
    assert_eq!(
        app.register("mia", "mia@example.com", PASSWORD)
            .await
            .status,
        201
    );
    let confirm = app
        .mails_to("mia@example.com", "confirm_email")
        .await
        .pop()
        .expect("a confirmation mail");
    let code = confirm.code().expect("a code");
    assert!(
        confirm
            .body
            .contains(&format!("{}/register#u=mia&c={code}", app.url)),
        "{}",
        confirm.body
    );
}

/// Each `<input ...>` tag of a page, whole.
fn inputs(html: &str) -> Vec<&str> {
    html.match_indices("<input")
        .filter_map(|(at, _)| html[at..].find('>').map(|end| &html[at..=at + end]))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_fields_are_masked_take_paste_and_tell_password_managers_what_they_hold() {
    let app = TestApp::spawn().await;
    let mut fields = 0;
    for path in ["/", "/reset", "/register", "/account"] {
        let p = get(&app, path, None).await;
        assert_eq!(p.status, 200, "{path}");
        for tag in inputs(&p.body) {
            if !tag.contains("password\"") {
                continue;
            }
            fields += 1;
            // ASVS 6.2.6: masked.
            assert!(tag.contains("type=\"password\""), "{path}: {tag}");
            // ASVS 6.2.7: a password manager knows which password to fill
            // in and which to offer to save.
            let current = tag.contains("name=\"password\"") && path == "/account"
                || tag.contains("name=\"current_password\"");
            let want = if current {
                "autocomplete=\"current-password\""
            } else {
                "autocomplete=\"new-password\""
            };
            assert!(tag.contains(want), "{path}: {tag}");
            for blocks in ["onpaste", "oncopy", "readonly", "autocomplete=\"off\""] {
                assert!(!tag.contains(blocks), "{path}: {tag}");
            }
        }
        for blocks in ["onpaste", "oncopy", "oncut"] {
            assert!(!p.body.contains(blocks), "{path}: {blocks}");
        }
    }
    // Sign-up, the reset and the account page's sign-in, change and new
    // password.
    assert!(fields >= 4, "only {fields} password fields");
    // Nor does the one script stop a paste.
    let js = app
        .request(
            app.http
                .get(format!("{}{}", app.url, sspr_web::asset_paths().js)),
        )
        .await;
    assert_eq!(js.status, 200);
    for blocks in ["paste", "clipboard"] {
        assert!(!js.text.contains(blocks), "app.js: {blocks}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn where_a_phone_is_added_the_page_says_text_messages_are_the_weakest_way() {
    let sms = TestApp::spawn_with(|c| c.sms = sspr_core::config::SmsMode::Outbox).await;
    for (lang, words) in [
        (None, "Text messages are the weakest way to prove it is you"),
        (Some("de"), "SMS sind der schwächste Weg"),
        (Some("fr"), "Les SMS sont le moyen le plus faible"),
    ] {
        let account = get(&sms, "/account", lang).await.body;
        let form = account
            .find("<form id=\"add-phone\"")
            .map(|at| &account[at..at + account[at..].find("</form>").unwrap_or(0)])
            .expect("the form that adds a phone");
        assert!(form.contains(words), "{lang:?}: {form}");
        assert!(
            form.contains("aria-describedby=\"add-phone-weak add-phone-hint\""),
            "read out with the field: {form}"
        );
    }
}
