//! The optional online breach check (`SSPR_HIBP=on`) against a stand-in for
//! Have I Been Pwned's range API on loopback, answering in its documented
//! format (`SUFFIX:COUNT` lines, padded with count-0 suffixes when asked):
//! what leaves (five hex characters and the padding header), what is refused
//! (`compromised`, on sign-up, reset and change), and what a failing or
//! silent service does (nothing: the person goes on).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use sspr_core::hibp::HibpConfig;
use sspr_tests::TestApp;

/// Strong enough for every offline rule, and "breached" at the stand-in.
const BREACHED: &str = "Quartz-Fennel-Drizzle-48";
/// Listed at the stand-in only as padding (count 0): not breached.
const PADDING_ONLY: &str = "Walnut-Harbor-Sleet-73";
/// Not listed at all.
const CLEAN: &str = "Juniper-Tandem-Osprey-19";

fn sha1_hex(pw: &str) -> String {
    let d = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, pw.as_bytes());
    d.as_ref().iter().map(|b| format!("{b:02X}")).collect()
}

#[derive(Clone, Copy)]
enum Mood {
    /// The range format, padded when `Add-Padding: true` is sent.
    Listing,
    /// A 503.
    Broken,
    /// No answer for ten seconds, then the range format (the breach listed):
    /// a lookup that waited for it would refuse the password, so only the
    /// timeout admits it.
    Silent,
    /// A 200 that is not the range format (a captive portal, a proxy).
    Garbage,
}

/// One request as the stand-in saw it: the path and the padding header.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    padding: Option<String>,
}

struct Stand {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

async fn range_api(mood: Mood) -> Stand {
    // The corpus: each breached hash under its prefix, with a count.
    let mut corpus: BTreeMap<String, Vec<(String, u64)>> = BTreeMap::new();
    let breached = sha1_hex(BREACHED);
    corpus
        .entry(breached[..5].to_owned())
        .or_default()
        .push((breached[5..].to_owned(), 3_861_493));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let app = axum::Router::new().fallback(
        move |uri: axum::http::Uri, headers: axum::http::HeaderMap| {
            let log = log.clone();
            let corpus = corpus.clone();
            async move {
                let padding = headers
                    .get("add-padding")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                if let Ok(mut l) = log.lock() {
                    l.push(Seen {
                        path: uri.path().to_owned(),
                        padding: padding.clone(),
                    });
                }
                let text = |status: u16, body: String| {
                    axum::response::Response::builder()
                        .status(status)
                        .header("content-type", "text/plain")
                        .body(axum::body::Body::from(body))
                        .unwrap_or_default()
                };
                match mood {
                    Mood::Listing | Mood::Silent => {
                        if matches!(mood, Mood::Silent) {
                            tokio::time::sleep(Duration::from_secs(10)).await;
                        }
                        let prefix = uri.path().trim_start_matches("/range/").to_owned();
                        let mut lines: Vec<String> = corpus
                            .get(&prefix)
                            .into_iter()
                            .flatten()
                            .map(|(s, n)| format!("{s}:{n}"))
                            .collect();
                        lines.push("0018A45C4D1DEF81644B54AB7F969B88D65:21".into());
                        if padding.as_deref() == Some("true") {
                            // Padding is count 0, and here it includes the
                            // suffix of PADDING_ONLY when its prefix is asked.
                            let p = sha1_hex(PADDING_ONLY);
                            if prefix == p[..5] {
                                lines.push(format!("{}:0", &p[5..]));
                            }
                            for i in 0..200 {
                                lines.push(format!("{i:035X}:0"));
                            }
                        }
                        text(200, lines.join("\r\n"))
                    }
                    Mood::Broken => text(503, "busy".into()),
                    Mood::Garbage => text(200, "<html>sign in to the wifi</html>".into()),
                }
            }
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/range/", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Stand { url, seen }
}

async fn app_on(stand: &Stand) -> TestApp {
    let url = stand.url.clone();
    TestApp::spawn_with(move |c| {
        c.hibp = Some(HibpConfig {
            range_url: url,
            timeout: Duration::from_millis(300),
        })
    })
    .await
}

fn register_body(user: &str, pw: &str) -> serde_json::Value {
    json!({"username": user, "email": format!("{user}@example.com"), "password": pw})
}

/// The answer refuses the password as weak for one reason: it is breached.
fn refused_as_compromised(r: &sspr_tests::Answer) {
    assert_eq!(
        (r.status, r.code()),
        (400, "weak_password".into()),
        "{}",
        r.text
    );
    assert_eq!(r.json()["reasons"], json!(["compromised"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_breached_password_is_refused_as_compromised_and_only_five_hex_characters_leave() {
    let stand = range_api(Mood::Listing).await;
    let app = app_on(&stand).await;

    let r = app
        .post("/v1/register", register_body("nora", BREACHED))
        .await;
    refused_as_compromised(&r);
    let r = app.post("/v1/register", register_body("nora", CLEAN)).await;
    assert_eq!(r.status, 201, "{}", r.text);

    let seen = stand.seen.lock().map(|s| s.clone()).unwrap_or_default();
    assert_eq!(seen.len(), 2, "{seen:?}");
    for (s, pw) in seen.iter().zip([BREACHED, CLEAN]) {
        let full = sha1_hex(pw);
        assert_eq!(
            s.path,
            format!("/range/{}", &full[..5]),
            "only the prefix leaves"
        );
        assert_eq!(s.padding.as_deref(), Some("true"), "padding is asked for");
        assert!(!s.path.contains(&full[5..]) && !s.path.contains(pw));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_and_change_refuse_a_breached_password_and_the_token_stays_usable() {
    let stand = range_api(Mood::Listing).await;
    let app = app_on(&stand).await;
    let email = app.confirmed_user("olga").await;

    let token = app.reset_token("olga", &email).await;
    let r = app.reset(&token, BREACHED).await;
    refused_as_compromised(&r);
    assert_eq!(
        app.reset(&token, CLEAN).await.status,
        204,
        "the token survived the refusal"
    );
    assert_eq!(app.sign_in("olga", CLEAN).await.status, 200);

    let access = app.access_token("olga", CLEAN).await;
    let change = |new: &str| {
        app.send(
            reqwest::Method::POST,
            "/v1/password/change",
            Some(&access),
            Some(json!({"current_password": CLEAN, "new_password": new})),
        )
    };
    refused_as_compromised(&change(BREACHED).await);
    let r = change("Saffron-Glacier-Minnow-62").await;
    assert_eq!(r.status, 204, "{}", r.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_suffix_listed_only_as_padding_is_not_a_breach() {
    let stand = range_api(Mood::Listing).await;
    let app = app_on(&stand).await;
    let r = app
        .post("/v1/register", register_body("pia", PADDING_ONLY))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let seen = stand.seen.lock().map(|s| s.clone()).unwrap_or_default();
    assert_eq!(seen.len(), 1, "the service was asked: {seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_silent_or_garbled_service_admits_the_password_within_its_timeout_and_is_counted()
{
    let tap = sspr_core::metrics::tap();
    for (i, mood) in [Mood::Broken, Mood::Silent, Mood::Garbage]
        .into_iter()
        .enumerate()
    {
        let stand = range_api(mood).await;
        let app = app_on(&stand).await;
        // Even the "breached" one: the service cannot say so. The silent one
        // would say so after ten seconds: admitted, it was not waited for
        // (and its count below says the timeout is why).
        let user = format!("quinn{i}");
        let r = app
            .post("/v1/register", register_body(&user, BREACHED))
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let seen = stand.seen.lock().map(|s| s.len()).unwrap_or(0);
        assert_eq!(seen, 1, "asked once, not retried");
    }
    // Each failed lookup is one EMF count, by function and by why.
    let reasons: Vec<String> = tap
        .lines()
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v.get("BreachLookupFailures").is_some())
        .map(|v| {
            assert_eq!(v["BreachLookupFailures"], 1);
            assert_eq!(v["function"], "register", "{v}");
            v["Reason"].as_str().unwrap_or("").to_owned()
        })
        .collect();
    assert_eq!(
        reasons,
        [
            "answered an error or nothing readable",
            "no answer in time",
            "answer not in the range format"
        ]
    );
}

/// An app whose breach check is configured as a deployment's is, from its
/// environment: `SSPR_HIBP` as given, and the stand-in's address as
/// `SSPR_HIBP_URL` either way.
async fn app_from_env(stand: &Stand, switch: &str) -> TestApp {
    let url = stand.url.trim_end_matches('/').to_owned();
    let read = sspr_core::config::Config::from_lookup(|k| match k {
        "SSPR_HIBP" => Some(switch.to_owned()),
        "SSPR_HIBP_URL" => Some(url.clone()),
        "SSPR_HIBP_TIMEOUT_MS" => Some("300".to_owned()),
        _ => None,
    })
    .expect("the configuration reads");
    TestApp::spawn_with(move |c| c.hibp = read.hibp).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_check_off_no_request_leaves() {
    let stand = range_api(Mood::Listing).await;
    // Off, though the app knows where the stand-in is: the breached password
    // is only as weak as the offline rules say, and nothing is asked.
    let off = app_from_env(&stand, "off").await;
    let r = off
        .post("/v1/register", register_body("rhea", BREACHED))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let seen = stand.seen.lock().map(|s| s.clone()).expect("the log");
    assert!(
        seen.is_empty(),
        "a request left with the check off: {seen:?}"
    );

    // The same configuration with the check on reaches the stand-in and
    // refuses: the silence above is the switch's, not a wrong address.
    let on = app_from_env(&stand, "on").await;
    let r = on
        .post("/v1/register", register_body("rhea", BREACHED))
        .await;
    refused_as_compromised(&r);
    let seen = stand.seen.lock().map(|s| s.len()).expect("the log");
    assert_eq!(seen, 1, "with the check on, the stand-in was asked once");
}
