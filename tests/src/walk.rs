//! The journey of API.md as a client walks it, against any running sspr: the
//! local host, `cargo lambda watch` (function URLs) or a deployed stage. Codes
//! are read from where the mail goes: an outbox folder or moto's SES. Every
//! answer is held to the OpenAPI document (`crate::openapi`).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::{parse_eml, Mail};

/// Where the mail can be read.
#[derive(Debug, Clone)]
pub enum Mailbox {
    Outbox(PathBuf),
    Moto(String),
}

impl Mailbox {
    async fn all(&self) -> Vec<Mail> {
        match self {
            Mailbox::Outbox(dir) => {
                let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
                    .map(|rd| {
                        rd.filter_map(|e| e.ok().map(|e| e.path()))
                            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
                            .collect()
                    })
                    .unwrap_or_default();
                files.sort();
                files
                    .into_iter()
                    .filter_map(|p| {
                        Some(parse_eml(
                            p.display().to_string(),
                            std::fs::read_to_string(&p).ok()?,
                        ))
                    })
                    .collect()
            }
            Mailbox::Moto(url) => {
                let data: Value = match reqwest::get(format!("{url}/moto-api/data.json")).await {
                    Ok(r) => r.json().await.unwrap_or_default(),
                    Err(_) => Value::Null,
                };
                data["ses"]["RawMessage"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .map(|m| {
                                parse_eml(
                                    String::new(),
                                    m["raw_data"].as_str().unwrap_or("").to_owned(),
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default()
            }
        }
    }

    /// Wait for the `n`-th mail (counting from 1) to `to` whose subject
    /// starts with `subject`, up to 10 s (the notices of other steps come in
    /// between, in no order the journey depends on).
    async fn nth_titled(&self, to: &str, subject: &str, n: usize) -> Result<Mail, String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let mut mine: Vec<Mail> = self
                .all()
                .await
                .into_iter()
                .filter(|m| m.to == to && m.subject.starts_with(subject))
                .collect();
            if mine.len() >= n {
                return Ok(mine.swap_remove(n - 1));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "mail {n} to {to} titled {subject:?} never came ({} arrived)",
                    mine.len()
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The code of the newest text message to `phone`: from the outbox
    /// folder ([`latest_sms_code`]) or from moto's SNS, whichever the mail
    /// goes to.
    pub async fn sms_code(&self, phone: &str) -> Option<String> {
        match self {
            Mailbox::Outbox(dir) => latest_sms_code(dir, phone),
            Mailbox::Moto(url) => {
                let data: Value = reqwest::get(format!("{url}/moto-api/data.json"))
                    .await
                    .ok()?
                    .json()
                    .await
                    .ok()?;
                data["sns"]["SMS"]
                    .as_array()?
                    .iter()
                    .rev()
                    .find(|m| m["phone_number"].as_str() == Some(phone))
                    .and_then(|m| code_in(m["message"].as_str()?))
            }
        }
    }

    /// Wait for a text message to `phone` with a code other than `not` (the
    /// one before it), up to 10 s.
    async fn next_sms(&self, phone: &str, not: Option<&str>) -> Result<String, String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self.sms_code(phone).await {
                Some(code) if Some(code.as_str()) != not => return Ok(code),
                _ if Instant::now() > deadline => {
                    return Err(format!("no new text message to {phone} came"))
                }
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// Wait for the `n`-th mail (counting from 1) to `to`, up to 10 s.
    async fn nth(&self, to: &str, n: usize) -> Result<Mail, String> {
        self.nth_titled(to, "", n).await
    }
}

/// The code of the newest text message to `phone` in the outbox folder
/// `outbox` (the `.sms.txt` files `sspr-local`'s SMS sender writes beside the
/// mail, named so that they sort oldest first): its first run of 6 or more
/// digits.
pub fn latest_sms_code(outbox: &Path, phone: &str) -> Option<String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(outbox)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".sms.txt"))
        .collect();
    files.sort();
    files.iter().rev().find_map(|p| {
        let raw = std::fs::read_to_string(p).ok()?;
        let (head, text) = raw.split_once("\n\n")?;
        if head.lines().find_map(|l| l.strip_prefix("To: "))? != phone {
            return None;
        }
        code_in(text)
    })
}

/// The code in a text message: its first run of 6 or more digits.
fn code_in(text: &str) -> Option<String> {
    text.split(|c: char| !c.is_ascii_digit())
        .find(|run| run.len() >= 6)
        .map(str::to_owned)
}

/// How routes map to URLs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Routing {
    /// One base URL serves every route (API Gateway, the local host).
    Api,
    /// `cargo lambda watch`: `/lambda-url/<function binary>/<route>`.
    FunctionUrls,
}

/// The authenticator app's code for `secret` (base32) now, by `totp-rs`.
fn otp_now(secret: &str) -> Result<String, String> {
    if totp_rs::Secret::try_from_base32(secret).is_err() {
        return Err(format!(
            "the authenticator secret is not base32: {} characters",
            secret.len()
        ));
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    Ok(crate::otp(secret, now))
}

pub struct Walk {
    pub base: String,
    pub mailbox: Mailbox,
    pub routing: Routing,
    http: reqwest::Client,
    steps: Vec<String>,
    /// Every secret the walk saw (passwords, codes, tokens, the TOTP secret
    /// and codes, recovery codes), so a caller can prove none reached a log.
    secrets: Vec<String>,
}

fn function_of(path: &str) -> &'static str {
    if path.starts_with("/v1/codes") {
        "sspr-dispatch"
    } else if path.starts_with("/v1/me/methods") || path.starts_with("/v1/me/recovery-codes") {
        "sspr-methods"
    } else if path.starts_with("/v1/password") {
        "sspr-password"
    } else if path.starts_with("/v1/token") || path.starts_with("/.well-known") {
        "sspr-signin"
    } else {
        "sspr-register"
    }
}

impl Walk {
    pub fn new(base: &str, mailbox: Mailbox, routing: Routing) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
            mailbox,
            routing,
            http: reqwest::Client::new(),
            steps: Vec::new(),
            secrets: Vec::new(),
        }
    }

    fn url(&self, path: &str) -> String {
        match self.routing {
            Routing::Api => format!("{}{path}", self.base),
            Routing::FunctionUrls => {
                format!("{}/lambda-url/{}{path}", self.base, function_of(path))
            }
        }
    }

    async fn call(
        &mut self,
        method: reqwest::Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<Value>,
        want: u16,
    ) -> Result<Value, String> {
        self.call_any(method, path, bearer, body, &[want]).await
    }

    /// Send one request, noting its step and the secrets it carries: its
    /// status, its step line and its body.
    async fn exchange(
        &mut self,
        method: reqwest::Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<Value>,
    ) -> Result<(u16, String, String), String> {
        let mut req = self
            .http
            .request(method.clone(), self.url(path))
            .timeout(Duration::from_secs(30));
        if let Some(t) = bearer {
            req = req.bearer_auth(t);
        }
        if let Some(b) = &body {
            self.keep_secrets(b);
            req = req.json(b);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| format!("{method} {path}: {e}"))?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.unwrap_or_default();
        let line = format!("{method} {path} -> {status}");
        self.steps.push(line.clone());
        println!("  {line}");
        // Every answer of the walk is one the OpenAPI document describes.
        crate::openapi::Document::sspr().check(method.as_str(), path, status, &headers, &bytes)?;
        Ok((status, line, String::from_utf8_lossy(&bytes).into_owned()))
    }

    /// As [`call`](Self::call), taking any status of `want`.
    async fn call_any(
        &mut self,
        method: reqwest::Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<Value>,
        want: &[u16],
    ) -> Result<Value, String> {
        let (status, line, text) = self.exchange(method, path, bearer, body).await?;
        if !want.contains(&status) {
            return Err(format!("{line}, wanted one of {want:?}: {text}"));
        }
        let answer = serde_json::from_str(&text).unwrap_or(Value::Null);
        self.keep_secrets(&answer);
        Ok(answer)
    }

    /// Note the secrets a request or answer carries.
    fn keep_secrets(&mut self, v: &Value) {
        const SECRET: [&str; 11] = [
            "password",
            "new_password",
            "current_password",
            "code",
            "otp",
            "recovery_code",
            "access_token",
            "reset_token",
            "gate_token",
            "secret",
            "codes",
        ];
        let Some(map) = v.as_object() else { return };
        // A problem's `code` is its stable name (`weak_password`), which the
        // access line gives as its outcome: no secret.
        let problem = map
            .get("type")
            .and_then(Value::as_str)
            .is_some_and(|t| t.starts_with("urn:sspr:problem:"));
        for (k, v) in map {
            if problem && k == "code" {
                continue;
            }
            if !SECRET.contains(&k.as_str()) {
                continue;
            }
            match v {
                Value::String(s) if s.len() >= 6 => self.secrets.push(s.clone()),
                Value::Array(a) => self
                    .secrets
                    .extend(a.iter().filter_map(|c| c.as_str().map(str::to_owned))),
                _ => {}
            }
        }
    }

    /// Walk the whole journey; `Err` names the first step that went wrong.
    pub async fn run(&mut self) -> Result<(), String> {
        use reqwest::Method as M;
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let user = format!("walker.{stamp}");
        let email = format!("walker.{stamp}@example.com");
        let first = "correct horse battery staple orbit";
        let second = "sunlit marmalade quarrel vortex";

        let r = self
            .call(
                M::POST,
                "/v1/register",
                None,
                Some(json!({"username": user, "email": email, "password": first, "locale": "de"})),
                201,
            )
            .await?;
        if r["email_verified"] != json!(false) {
            return Err(format!("register answered {r}"));
        }
        let mail = self.mailbox.nth(&email, 1).await?;
        if !mail.subject.starts_with("Bestätigen") {
            return Err(format!(
                "the confirmation is not in German: {}",
                mail.subject
            ));
        }
        let code = mail.code().ok_or("no code in the confirmation mail")?;
        self.call(
            M::POST,
            "/v1/register/confirm",
            None,
            Some(json!({"username": user, "code": code})),
            200,
        )
        .await?;
        let t = self
            .call(
                M::POST,
                "/v1/token",
                None,
                Some(json!({"username": user, "password": first})),
                200,
            )
            .await?;
        let old_access = t["access_token"].as_str().unwrap_or("").to_owned();
        self.call(M::GET, "/v1/me", Some(&old_access), None, 200)
            .await?;

        // The recovery methods: an authenticator app (its code made by
        // totp-rs, not by sspr) and a set of recovery codes. With two gates
        // (SSPR_RESET_GATES=2) the user needs them to reset at all.
        let m = self
            .call(M::GET, "/v1/me/methods", Some(&old_access), None, 200)
            .await?;
        let gates = m["gates"].as_u64().unwrap_or(1);
        if m["methods_needed"] != json!(gates - 1) {
            return Err(format!("with only the email, methods needed: {m}"));
        }
        let totp = self
            .call(
                M::POST,
                "/v1/me/methods",
                Some(&old_access),
                Some(json!({"type": "totp"})),
                201,
            )
            .await?;
        let secret = totp["secret"].as_str().unwrap_or("").to_owned();
        self.call(
            M::POST,
            "/v1/me/methods/totp/confirm",
            Some(&old_access),
            Some(json!({"code": otp_now(&secret)?})),
            200,
        )
        .await?;
        let rc = self
            .call(
                M::POST,
                "/v1/me/recovery-codes",
                Some(&old_access),
                Some(json!({})),
                201,
            )
            .await?;
        let rc: Vec<String> = rc["codes"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|c| c.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        if rc.len() != 10 {
            return Err(format!("recovery codes: {rc:?}"));
        }
        // A phone, when the deployment sends SMS (`400 invalid_request` when not).
        let phone = format!("+4915{:09}", stamp % 1_000_000_000);
        let added = self
            .call_any(
                M::POST,
                "/v1/me/methods",
                Some(&old_access),
                Some(json!({"type": "phone", "phone": phone})),
                &[201, 400],
            )
            .await?;
        let sms = added["type"] == "phone";
        let mut last_sms = None;
        if sms {
            let code = self.mailbox.next_sms(&phone, None).await?;
            self.call(
                M::POST,
                "/v1/me/methods/phone/confirm",
                Some(&old_access),
                Some(json!({"code": code})),
                200,
            )
            .await?;
            last_sms = Some(code);
        }

        self.call(
            M::POST,
            "/v1/codes",
            None,
            Some(json!({"username": user, "purpose": "reset_password"})),
            202,
        )
        .await?;
        let code = self
            .mailbox
            .nth_titled(&email, "Ihr Code zum Zurücksetzen", 1)
            .await?
            .code()
            .ok_or("no reset code")?;
        let v = self
            .call(
                M::POST,
                "/v1/password/verify",
                None,
                Some(json!({"username": user, "code": code})),
                200,
            )
            .await?;
        // Two gates: the mailed code was the first; the second is a code by
        // SMS when the deployment sends SMS, else a recovery code.
        let v = if gates == 2 {
            let next = v["next"].as_array().cloned().unwrap_or_default();
            if v["expires_in"] != 300 || !next.contains(&json!("recovery_code")) {
                return Err(format!("the first gate answered {v}"));
            }
            let second = if sms {
                self.call(
                    M::POST,
                    "/v1/codes",
                    None,
                    Some(json!({"gate_token": v["gate_token"], "channel": "sms"})),
                    202,
                )
                .await?;
                let code = self.mailbox.next_sms(&phone, last_sms.as_deref()).await?;
                self.secrets.push(code.clone());
                json!({"gate_token": v["gate_token"], "method": "phone", "code": code})
            } else {
                json!({"gate_token": v["gate_token"], "method": "recovery_code", "code": rc[0]})
            };
            self.call(M::POST, "/v1/password/verify", None, Some(second), 200)
                .await?
        } else {
            v
        };
        let reset = v["reset_token"].as_str().unwrap_or("").to_owned();
        let weak = self
            .call(
                M::POST,
                "/v1/password/reset",
                None,
                Some(json!({"reset_token": reset, "new_password": "password1"})),
                400,
            )
            .await?;
        if weak["code"] != "weak_password" || !weak["reasons"].is_array() {
            return Err(format!("weak password answer: {weak}"));
        }
        self.call(
            M::POST,
            "/v1/password/reset",
            None,
            Some(json!({"reset_token": reset, "new_password": second})),
            204,
        )
        .await?;
        self.call(
            M::POST,
            "/v1/password/reset",
            None,
            Some(json!({"reset_token": reset, "new_password": second})),
            401,
        )
        .await?;
        self.call(
            M::POST,
            "/v1/token",
            None,
            Some(json!({"username": user, "password": first})),
            401,
        )
        .await?;
        // The right password alone is not enough once an authenticator is confirmed.
        let need = self
            .call(
                M::POST,
                "/v1/token",
                None,
                Some(json!({"username": user, "password": second})),
                401,
            )
            .await?;
        if need["code"] != "second_factor_required" {
            return Err(format!("sign-in without the second factor: {need}"));
        }
        self.call(
            M::POST,
            "/v1/token",
            None,
            Some(json!({"username": user, "password": second, "recovery_code": rc[1]})),
            200,
        )
        .await?;
        self.call(M::GET, "/v1/me", Some(&old_access), None, 401)
            .await?;
        self.mailbox
            .nth_titled(&email, "Ihr Passwort wurde geändert", 1)
            .await?;
        let unknown = self
            .call(
                M::POST,
                "/v1/codes",
                None,
                Some(json!({"username": format!("nobody.{stamp}"), "purpose": "reset_password"})),
                202,
            )
            .await?;
        if unknown != json!({"status": "accepted", "expires_in": 600}) {
            return Err(format!("unknown user answered {unknown}"));
        }
        self.call(M::GET, "/.well-known/jwks.json", None, None, 200)
            .await?;
        Ok(())
    }

    pub fn steps(&self) -> &[String] {
        &self.steps
    }

    /// The secrets the walk saw, each once.
    pub fn secrets(&self) -> Vec<String> {
        let mut s = self.secrets.clone();
        s.sort();
        s.dedup();
        s
    }
}
