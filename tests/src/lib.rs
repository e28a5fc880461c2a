//! The test harness: spawn the whole app (local host, embedded dynoxide, outbox
//! in a folder of its own, a clock the test moves) and talk to it over HTTP.
//! Every answer read through [`TestApp`] is held to the OpenAPI document
//! ([`openapi`]): one outside it fails the test.

use sspr_core::store::schema;
use std::path::PathBuf;
use std::sync::Arc;

use base64::Engine as _;
use serde_json::{json, Value};
use sspr_core::config::Config;
use sspr_core::ports::ManualClock;
use sspr_local::{Options, Running};

pub mod consistency;
pub mod events;
pub mod faults;
pub mod host;
pub mod moto;
pub mod openapi;
pub mod rotate;
pub mod walk;

pub use walk::latest_sms_code;

/// A strong password the policy accepts.
pub const PASSWORD: &str = "correct horse battery staple orbit";
/// Another one.
pub const NEW_PASSWORD: &str = "sunlit marmalade quarrel vortex";
/// The `User-Agent` every request of [`TestApp`]'s client carries, as a
/// browser's would: the audit events store it.
pub const USER_AGENT: &str = "sspr-tests/1.0 (harness; +https://example.com/ua)";

/// An answer, read whole.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }

    /// The problem `code`, if this is a problem.
    pub fn code(&self) -> String {
        self.json()["code"].as_str().unwrap_or("").to_owned()
    }

    pub fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    }
}

/// A mail from the outbox.
#[derive(Debug, Clone)]
pub struct Mail {
    pub file: String,
    pub to: String,
    pub from: String,
    pub subject: String,
    /// The text part.
    pub body: String,
    /// The HTML part, if any.
    pub html: Option<String>,
    pub raw: String,
}

impl Mail {
    /// The code: a line of digits alone.
    pub fn code(&self) -> Option<String> {
        self.body
            .lines()
            .map(str::trim)
            .find(|l| l.len() >= 6 && l.bytes().all(|b| b.is_ascii_digit()))
            .map(str::to_owned)
    }
}

fn decode_header(v: &str) -> String {
    match v
        .strip_prefix("=?UTF-8?B?")
        .and_then(|r| r.strip_suffix("?="))
    {
        Some(b64) => base64::engine::general_purpose::STANDARD
            .decode(b64)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .unwrap_or_default(),
        None => v.to_owned(),
    }
}

fn split_head(part: &str) -> (&str, &str) {
    part.split_once("\r\n\r\n").unwrap_or((part, ""))
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(": ")?;
        k.eq_ignore_ascii_case(name).then_some(v)
    })
}

/// Parse a MIME message as sspr writes it (the outbox's `.eml`, SES's raw data):
/// headers, and a text part with an optional HTML part.
pub fn parse_eml(file: String, raw: String) -> Mail {
    let (head, body) = split_head(&raw);
    let get = |name: &str| header(head, name).map(decode_header).unwrap_or_default();
    let ctype = header(head, "Content-Type").unwrap_or("");
    let (text, html) = match ctype.split_once("boundary=\"") {
        Some((_, rest)) => {
            let boundary = rest.trim_end_matches('"');
            let mut text = String::new();
            let mut html = None;
            for part in body.split(&format!("--{boundary}")) {
                let (ph, pb) = split_head(part.trim_start_matches("\r\n"));
                let pb = pb.trim_end_matches("\r\n").replace("\r\n", "\n");
                match header(ph, "Content-Type") {
                    Some(c) if c.starts_with("text/plain") => text = pb,
                    Some(c) if c.starts_with("text/html") => html = Some(pb),
                    _ => {}
                }
            }
            (text, html)
        }
        None => (body.replace("\r\n", "\n"), None),
    };
    Mail {
        to: get("To"),
        from: get("From"),
        subject: get("Subject"),
        body: text,
        html,
        raw: raw.clone(),
        file,
    }
}

/// The code an authenticator app shows for `secret` (base32) at `at`, made
/// by `totp-rs` (not sspr's own implementation): RFC 6238, SHA-1, 6 digits,
/// 30-second steps.
pub fn otp(secret: &str, at: i64) -> String {
    let bytes = totp_rs::Secret::try_from_base32(secret).expect("a base32 secret");
    totp_rs::Builder::new()
        .with_algorithm(totp_rs::Algorithm::SHA1)
        .with_digits(6)
        .with_step_duration(30)
        .with_secret(bytes)
        .build()
        .expect("a valid configuration")
        .generate(u64::try_from(at).expect("after the epoch"))
        .to_string()
}

/// A reset code for `user` by SMS to `phone`, issued as a flow issues one: the
/// code and its sealed message in one conditional write (`Change::IssueCode`).
/// `cx` seals it with its mail key, so the courier that opens it must share
/// it. Returns the code and the queued message's id.
pub async fn queue_sms_code(
    cx: &sspr_core::App,
    now: i64,
    user: &str,
    phone: &str,
) -> (String, String) {
    use sspr_core::domain::lifecycle::{block_cut, may_send, next, Step, Transition};
    use sspr_core::domain::{Code, Purpose, Username};
    use sspr_core::mail::{Message, QueuedMail};
    use sspr_core::ports::{Change, CodeIssue, Effects, Eligibility};
    let user = Username::parse(user).expect("valid");
    let mut rec = cx
        .store
        .get_user(&user)
        .await
        .expect("read")
        .expect("the user");
    // The phone the code goes to, as a confirmed method of the user's (a
    // reset code proves the method it went to).
    if rec
        .confirmed(sspr_core::domain::user::MethodKind::Phone)
        .is_none()
    {
        let phone_method = Change::AddMethod(sspr_core::ports::NewMethod {
            target: sspr_core::domain::user::MethodTarget::Phone(
                sspr_core::domain::Phone::parse(phone).expect("an E.164 number"),
            ),
            code: None,
            confirmed: true,
            read: sspr_core::ports::MethodsAsRead {
                token_version: rec.token_version,
                revision: rec.methods_revision,
            },
            now,
        });
        let added = cx
            .store
            .write(&user, &phone_method, &Effects::none())
            .await
            .expect("written");
        assert!(added.applied(), "the phone is the user's");
        rec = cx
            .store
            .get_user(&user)
            .await
            .expect("read")
            .expect("the user");
    }
    let c = &cx.rules.codes;
    let purpose = Purpose::ResetPassword;
    let send =
        may_send(rec.slot(purpose), &cx.codes.recipient(phone), c, now).expect("room to send");
    let code = Code::generate(c.length);
    let digest = cx.codes.digest(purpose, &user, &code);
    let expires_at = now + c.ttl.as_secs() as i64;
    let message = Message::SmsCode {
        code: code.expose().to_owned(),
        minutes: c.ttl.as_secs() / 60,
    };
    let mail = QueuedMail::new(&cx.mail_key, &user, phone, rec.locale, message, now).for_code(
        purpose,
        digest.clone(),
        expires_at,
    );
    let id = mail.id.clone();
    let step = Step::SendCode {
        via: sspr_core::domain::user::MethodId::Item(sspr_core::domain::user::MethodKind::Phone),
        gate: None,
    };
    let Ok(Transition::SendCode(to)) = next(&rec.journey, &step, now) else {
        panic!("a code may always start a journey");
    };
    let issue = CodeIssue {
        purpose,
        digest,
        expires_at,
        now,
        send,
        eligibility: Eligibility::ResetPassword {
            max_failed: c.max_failed_proofs,
            block_cut: block_cut(c, now),
            to,
        },
    };
    let written = cx
        .store
        .write(
            &user,
            &Change::IssueCode(issue),
            &Effects::none().with_mail(mail),
        )
        .await
        .expect("written");
    assert!(written.applied(), "the code is issued");
    (code.expose().to_owned(), id)
}

/// Argon2 parameters far below today's (`m=1024,t=1,p=1`): quick to hash
/// with, and outdated for an app on the defaults.
pub const CHEAP_HASH: sspr_core::config::HashParams = sspr_core::config::HashParams {
    m_kib: 1024,
    t: 1,
    p: 1,
};

/// `f(0)` to `f(n - 1)` at once, each on a task of its own: the statuses
/// they answer, in that order (`0` for a task that panicked).
pub async fn in_parallel<F, Fut>(n: usize, f: F) -> Vec<u16>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = u16> + Send + 'static,
{
    let tasks: Vec<_> = (0..n).map(|i| tokio::spawn(f(i))).collect();
    futures::future::join_all(tasks)
        .await
        .into_iter()
        .map(|r| r.unwrap_or(0))
        .collect()
}

/// A running app for one test.
pub struct TestApp {
    pub running: Running,
    pub url: String,
    pub http: reqwest::Client,
    pub outbox: PathBuf,
    pub clock: Arc<ManualClock>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.outbox);
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// Spawn with the default configuration changed by `tweak`.
    pub async fn spawn_with(tweak: impl FnOnce(&mut Config)) -> Self {
        Self::spawn_full(tweak, None).await
    }

    /// Spawn with `mailer` instead of the outbox.
    pub async fn spawn_mailing(
        tweak: impl FnOnce(&mut Config),
        mailer: Arc<dyn sspr_core::ports::Mailer>,
    ) -> Self {
        Self::spawn_full(tweak, Some(mailer)).await
    }

    /// Spawn against a DynamoDB endpoint of the test's own (a fault proxy),
    /// with these attempt and call timeouts.
    pub async fn spawn_on_dynamo(
        endpoint: String,
        timeouts: (std::time::Duration, std::time::Duration),
        tweak: impl FnOnce(&mut Config),
        mailer: Option<Arc<dyn sspr_core::ports::Mailer>>,
    ) -> Self {
        Self::spawn_inner(tweak, mailer, Some((endpoint, timeouts))).await
    }

    /// As [`spawn_on_dynamo`](Self::spawn_on_dynamo), with the courier reading
    /// the stream and the queued mail from `upstream`, the dynoxide behind the
    /// proxy: the faults the test injects hit only the requests' calls.
    pub async fn spawn_behind_proxy(
        proxy: String,
        upstream: String,
        timeouts: (std::time::Duration, std::time::Duration),
        tweak: impl FnOnce(&mut Config),
        mailer: Option<Arc<dyn sspr_core::ports::Mailer>>,
    ) -> Self {
        Self::spawn_opts(tweak, mailer, Some((proxy, timeouts)), Some(upstream), true).await
    }

    /// One of several hosts on one table (the dynoxide at `dynamo`, which the
    /// test started), running on `secrets` (loaded as a deployed function
    /// loads them: `sspr_core::app::load_secrets`) and reading `clock`, which
    /// the test shares between them: two "functions" of one deployment. The
    /// configuration is the default changed by `tweak`.
    pub async fn spawn_keyed(
        dynamo: &str,
        secrets: sspr_core::config::Secrets,
        clock: Arc<ManualClock>,
        courier: bool,
        tweak: impl FnOnce(&mut Config),
    ) -> Self {
        Self::spawn_any(
            tweak,
            None,
            Some((dynamo.to_owned(), sspr_core::store::DYNAMO_TIMEOUTS)),
            None,
            courier,
            Some(secrets),
            Some(clock),
        )
        .await
    }

    /// Spawn without a courier: the test runs its own on the stream.
    pub async fn spawn_without_courier(tweak: impl FnOnce(&mut Config)) -> Self {
        Self::spawn_opts(tweak, None, None, None, false).await
    }

    async fn spawn_full(
        tweak: impl FnOnce(&mut Config),
        mailer: Option<Arc<dyn sspr_core::ports::Mailer>>,
    ) -> Self {
        Self::spawn_inner(tweak, mailer, None).await
    }

    async fn spawn_inner(
        tweak: impl FnOnce(&mut Config),
        mailer: Option<Arc<dyn sspr_core::ports::Mailer>>,
        dynamo: Option<(String, (std::time::Duration, std::time::Duration))>,
    ) -> Self {
        Self::spawn_opts(tweak, mailer, dynamo, None, true).await
    }

    async fn spawn_opts(
        tweak: impl FnOnce(&mut Config),
        mailer: Option<Arc<dyn sspr_core::ports::Mailer>>,
        dynamo: Option<(String, (std::time::Duration, std::time::Duration))>,
        courier_dynamo: Option<String>,
        courier: bool,
    ) -> Self {
        Self::spawn_any(tweak, mailer, dynamo, courier_dynamo, courier, None, None).await
    }

    async fn spawn_any(
        tweak: impl FnOnce(&mut Config),
        mailer: Option<Arc<dyn sspr_core::ports::Mailer>>,
        dynamo: Option<(String, (std::time::Duration, std::time::Duration))>,
        courier_dynamo: Option<String>,
        courier: bool,
        secrets: Option<sspr_core::config::Secrets>,
        clock: Option<Arc<ManualClock>>,
    ) -> Self {
        let outbox = std::env::temp_dir().join(format!("sspr-test-{}", uuid_like()));
        // No answer floor (tests of it set one) and quick mail retries, so the
        // suite does not wait on timers it is not about.
        let mut config = Config {
            outbox_dir: outbox.to_string_lossy().into_owned(),
            // As `sspr-local` runs: text messages to the outbox too.
            sms: sspr_core::config::SmsMode::Outbox,
            answer_floor: std::time::Duration::ZERO,
            mail_retry: sspr_core::mail::courier::MailRetry {
                tries: 3,
                first_delay: std::time::Duration::from_millis(5),
            },
            ..Config::default()
        };
        tweak(&mut config);
        let clock = clock.unwrap_or_else(|| Arc::new(ManualClock::new(now())));
        let opts = Options {
            addr: "127.0.0.1:0".parse().expect("loopback address"),
            data: None,
            config,
            echo_mail: false,
            clock: clock.clone(),
            mailer,
            dynamo,
            courier_dynamo,
            courier,
            events: None,
            secrets,
        };
        let running = sspr_local::start(opts)
            .await
            .expect("the local host starts");
        let url = running.url.clone();
        Self {
            running,
            url,
            http: reqwest::Client::builder()
                .user_agent(USER_AGENT)
                .build()
                .expect("an HTTP client"),
            outbox,
            clock,
        }
    }

    /// Send a request of this app's client and read its answer whole,
    /// holding it to the OpenAPI document (panics when it is outside it).
    pub async fn request(&self, req: reqwest::RequestBuilder) -> Answer {
        let req = req.build().expect("a request");
        let method = req.method().to_string();
        let target = match req.url().query() {
            Some(q) => format!("{}?{q}", req.url().path()),
            None => req.url().path().to_owned(),
        };
        let resp = self
            .http
            .execute(req)
            .await
            .expect("the local host answers");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.unwrap_or_default();
        openapi::assert_in_document(&method, &target, status, &headers, &bytes);
        Answer {
            status,
            headers,
            text: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    pub async fn post(&self, path: &str, body: Value) -> Answer {
        self.send(reqwest::Method::POST, path, None, Some(body))
            .await
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let mut req = self.http.request(method, format!("{}{path}", self.url));
        if let Some(t) = bearer {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        self.request(req).await
    }

    /// A request with a raw body and content type.
    pub async fn raw(
        &self,
        method: reqwest::Method,
        path: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Answer {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.url))
            .body(body);
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        self.request(req).await
    }

    /// Every mail in the outbox, oldest first, once the courier has delivered
    /// everything queued so far.
    pub async fn mails(&self) -> Vec<Mail> {
        self.running.settle_mail().await;
        let Ok(dir) = std::fs::read_dir(&self.outbox) else {
            return Vec::new();
        };
        // The mail only: text messages lie beside it as `.sms.txt`.
        let mut names: Vec<PathBuf> = dir
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .collect();
        names.sort();
        names
            .into_iter()
            .filter_map(|p| {
                let raw = std::fs::read_to_string(&p).ok()?;
                Some(parse_eml(
                    p.file_name()?.to_string_lossy().into_owned(),
                    raw,
                ))
            })
            .collect()
    }

    /// Mails to `to` whose file names carry `kind` (`reset_code`, `confirm_email`, ...).
    pub async fn mails_to(&self, to: &str, kind: &str) -> Vec<Mail> {
        self.mails()
            .await
            .into_iter()
            .filter(|m| m.to == to && m.file.contains(&format!("-{kind}-")))
            .collect()
    }

    /// The code of the newest mail of `kind` to `to`.
    pub async fn last_code(&self, to: &str, kind: &str) -> Option<String> {
        self.mails_to(to, kind).await.last().and_then(Mail::code)
    }

    pub async fn register(&self, username: &str, email: &str, password: &str) -> Answer {
        self.post(
            "/v1/register",
            json!({"username": username, "email": email, "password": password}),
        )
        .await
    }

    /// Register and confirm the email; the user can then reset.
    pub async fn confirmed_user(&self, username: &str) -> String {
        let email = format!("{username}@example.com");
        let r = self.register(username, &email, PASSWORD).await;
        assert_eq!(r.status, 201, "{}", r.text);
        let code = self
            .last_code(&email, "confirm_email")
            .await
            .expect("a confirmation code");
        let r = self
            .post(
                "/v1/register/confirm",
                json!({"username": username, "code": code}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        email
    }

    pub async fn sign_in(&self, username: &str, password: &str) -> Answer {
        self.post(
            "/v1/token",
            json!({"username": username, "password": password}),
        )
        .await
    }

    pub async fn access_token(&self, username: &str, password: &str) -> String {
        let r = self.sign_in(username, password).await;
        assert_eq!(r.status, 200, "{}", r.text);
        r.json()["access_token"]
            .as_str()
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| panic!("a sign-in's answer without an access token: {}", r.text))
            .to_owned()
    }

    pub async fn ask_code(&self, username: &str, purpose: &str) -> Answer {
        self.post(
            "/v1/codes",
            json!({"username": username, "purpose": purpose}),
        )
        .await
    }

    /// Ask for a reset code and read it from the outbox.
    pub async fn reset_code(&self, username: &str, email: &str) -> String {
        let before = self.mails_to(email, "reset_code").await.len();
        let r = self.ask_code(username, "reset_password").await;
        assert_eq!(r.status, 202);
        let mails = self.mails_to(email, "reset_code").await;
        assert_eq!(mails.len(), before + 1, "a reset code was mailed");
        mails
            .last()
            .and_then(Mail::code)
            .expect("the mail holds a code")
    }

    pub async fn verify(&self, username: &str, code: &str) -> Answer {
        self.post(
            "/v1/password/verify",
            json!({"username": username, "code": code}),
        )
        .await
    }

    /// Prove a fresh reset code and return the reset token.
    pub async fn reset_token(&self, username: &str, email: &str) -> String {
        let code = self.reset_code(username, email).await;
        let r = self.verify(username, &code).await;
        assert_eq!(r.status, 200, "{}", r.text);
        r.json()["reset_token"]
            .as_str()
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| panic!("a proof's answer without a reset token: {}", r.text))
            .to_owned()
    }

    pub async fn reset(&self, token: &str, new_password: &str) -> Answer {
        self.post(
            "/v1/password/reset",
            json!({"reset_token": token, "new_password": new_password}),
        )
        .await
    }

    /// `GET url` three times, with `If-None-Match` set to `etag`, to a list
    /// holding it as a weak tag (`"old", W/etag`), and to another tag only
    /// (`"old"`): the answers in that order.
    pub async fn conditional_gets(&self, url: &str, etag: &str) -> [Answer; 3] {
        let get = |tags: String| self.request(self.http.get(url).header("if-none-match", tags));
        [
            get(etag.to_owned()).await,
            get(format!("\"old\", W/{etag}")).await,
            get("\"old\"".to_owned()).await,
        ]
    }

    /// `POST /v1/me/methods/{id}/confirm` with `code`, signed in with `token`.
    pub async fn confirm_method(&self, token: &str, id: &str, code: &str) -> Answer {
        self.send(
            reqwest::Method::POST,
            &format!("/v1/me/methods/{id}/confirm"),
            Some(token),
            Some(json!({"code": code})),
        )
        .await
    }

    /// A new set of recovery codes for the user signed in with `token` (`201`).
    pub async fn recovery_codes(&self, token: &str) -> Vec<String> {
        let r = self
            .send(
                reqwest::Method::POST,
                "/v1/me/recovery-codes",
                Some(token),
                Some(json!({})),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        r.json()["codes"]
            .as_array()
            .expect("codes")
            .iter()
            .filter_map(|c| c.as_str().map(str::to_owned))
            .collect()
    }

    /// `POST /v1/password/change` from `current` to `new`, signed in with `token`.
    pub async fn change_password(&self, token: &str, current: &str, new: &str) -> Answer {
        self.send(
            reqwest::Method::POST,
            "/v1/password/change",
            Some(token),
            Some(json!({"current_password": current, "new_password": new})),
        )
        .await
    }

    /// `PUT /v1/me/email` to `email`, signed in with `token`.
    pub async fn change_email(&self, token: &str, email: &str) -> Answer {
        self.send(
            reqwest::Method::PUT,
            "/v1/me/email",
            Some(token),
            Some(json!({ "email": email })),
        )
        .await
    }

    /// `POST /v1/register/confirm` for `username` with `code`.
    pub async fn confirm_registration(&self, username: &str, code: &str) -> Answer {
        self.post(
            "/v1/register/confirm",
            json!({"username": username, "code": code}),
        )
        .await
    }

    /// The app's clock now.
    pub fn clock_now(&self) -> i64 {
        use sspr_core::ports::Clock as _;
        self.clock.now()
    }

    /// DynamoDB round trips so far (stretches of time with requests in flight).
    pub fn round_trips(&self) -> u64 {
        self.running.store.round_trips().get()
    }

    /// DynamoDB HTTP requests sent so far (the SDK's attempts, retries included).
    pub fn attempts(&self) -> u64 {
        self.running.store.round_trips().attempts()
    }

    /// The stored profile item of a user, attribute by attribute, as it is
    /// in the table; the user must exist.
    pub async fn stored_profile(
        &self,
        username: &str,
    ) -> std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue> {
        self.running
            .store
            .raw_profile(&sspr_core::domain::Username::parse(username).expect("valid"))
            .await
            .expect("read")
            .expect("profile")
    }

    /// The stored password hash of a user (`None`: no profile, or no hash in it).
    pub async fn password_hash(&self, username: &str) -> Option<String> {
        let u = sspr_core::domain::Username::parse(username).expect("valid username");
        match self
            .running
            .store
            .raw_profile(&u)
            .await
            .expect("profile read")
            .and_then(|p| p.get(schema::PW_HASH).cloned())
        {
            Some(aws_sdk_dynamodb::types::AttributeValue::S(h)) => Some(h),
            _ => None,
        }
    }

    /// Whether an audit event of type `kind` was written for a user.
    pub async fn audited(&self, username: &str, kind: &str) -> bool {
        self.audit_types(username).await.iter().any(|t| t == kind)
    }

    /// The audit event types of a user, oldest first.
    pub async fn audit_types(&self, username: &str) -> Vec<String> {
        let u = sspr_core::domain::Username::parse(username).expect("valid username");
        self.running
            .store
            .audit_events(&u)
            .await
            .expect("audit events")
            .into_iter()
            .map(|e| e.get(schema::TYPE).cloned().unwrap_or_default())
            .collect()
    }
}

/// The options of an in-process host on the data file `data`, its outbox in
/// `dir/outbox`, on `clock`, with the courier on and nothing else replaced:
/// what a test that stops a host and opens its file again starts.
pub fn host_on_file(
    dir: &std::path::Path,
    data: &std::path::Path,
    clock: Arc<dyn sspr_core::ports::Clock>,
) -> Options {
    Options {
        addr: "127.0.0.1:0".parse().expect("loopback address"),
        data: Some(data.to_path_buf()),
        config: Config {
            outbox_dir: dir.join("outbox").to_string_lossy().into_owned(),
            ..Config::default()
        },
        echo_mail: false,
        clock,
        mailer: None,
        dynamo: None,
        courier_dynamo: None,
        courier: true,
        events: None,
        secrets: None,
    }
}

fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}-{}",
        std::process::id(),
        now(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}
