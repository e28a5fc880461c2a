//! Counters as CloudWatch embedded-metric-format (EMF) lines on stdout:
//! Lambda ships them to CloudWatch Logs, which turns them into metrics with
//! no API call. Each is one JSON object on a line of its own, printed as it
//! is (never through the logger), so it stays a valid EMF document under
//! Lambda's JSON log format too.
//!
//! Every counter has the dimension `function`: the deployed function's name
//! (`AWS_LAMBDA_FUNCTION_NAME`), else the function whose route table served
//! the request ([`within`]; the local host serves them all in one process).
//!
//! What is counted (namespace `sspr`), and where it is seen:
//!
//! | metric | when | counted by |
//! |---|---|---|
//! | `ResetCompleted` | a reset set the password (`password_reset` committed) | [`CountedStore`] |
//! | `ProofFailed` | a wrong code, TOTP or recovery code was counted (`proof_failed` committed) | [`CountedStore`] |
//! | `ResetsBlocked` | the failed proof that blocks the user's resets (`resets_blocked`) | [`CountedStore`] |
//! | `SignInLocked` | the wrong password that locks sign-in (`signin_locked`) | [`CountedStore`] |
//! | `CodeSent` | a mail or SMS carrying a code went out | [`CountedOutbox`] |
//! | `CodeUndelivered` | a code could not be delivered and was revoked (`code_undelivered`) | [`CountedOutbox`] |
//! | `Throttled` | an answer was `429 too_many_requests` | `http::serve` |
//! | `MailSent`, `MailFailures`, `SmsSent`, `SmsFailures` | SES or SNS took or refused one (with `Kind`, `Reason`) | `mail/ses.rs`, `sms/sns.rs` |
//!
//! The store's counters follow the audit events a write committed (the
//! kind names its metric: `AuditKind::metric`), so a
//! count is a thing that happened, seen where the flows already say so: a
//! block behind dispatch's one answer (`202` whatever happened) is counted
//! all the same, and nothing a client sees changes.

use std::future::Future;
use std::sync::{Arc, Mutex, OnceLock};

use async_trait::async_trait;

use crate::audit::AuditKind;
use crate::domain::{Tallied, UserRecord, Username};
use crate::ports::{Change, Effects, Failure, Outbox, Store, StoreError, StoredMail, Write};

// The counters an audit event adds to are its kind's (`AuditKind::metric`).
pub const RESET_COMPLETED: &str = metric_of(AuditKind::PasswordReset);
pub const PROOF_FAILED: &str = metric_of(AuditKind::ProofFailed);
pub const RESETS_BLOCKED: &str = metric_of(AuditKind::ResetsBlocked);
pub const SIGNIN_LOCKED: &str = metric_of(AuditKind::SignInLocked);
pub const CODE_UNDELIVERED: &str = metric_of(AuditKind::CodeUndelivered);
// Seen elsewhere than in the audit trail.
pub const CODE_SENT: &str = "CodeSent";
pub const THROTTLED: &str = "Throttled";

/// The metric of a counted kind, at compile time (a kind with none does not
/// build).
const fn metric_of(kind: AuditKind) -> &'static str {
    match kind.metric() {
        Some(name) => name,
        None => panic!("an audit kind without a metric"),
    }
}

tokio::task_local! {
    /// The function serving the request this task works on.
    static FUNCTION: &'static str;
}

/// Run `f` as work of `function` (a route table's or the mailer's name):
/// what [`function`] says inside it when the process is no deployed function.
pub async fn within<F: Future>(function: &'static str, f: F) -> F::Output {
    FUNCTION.scope(function, f).await
}

/// The function a count or log line is for: the deployed function's name
/// (`AWS_LAMBDA_FUNCTION_NAME`, read once), else the one [`within`] names,
/// else `sspr`.
pub fn function() -> &'static str {
    static DEPLOYED: OnceLock<Option<Box<str>>> = OnceLock::new();
    let deployed = DEPLOYED.get_or_init(|| {
        std::env::var("AWS_LAMBDA_FUNCTION_NAME")
            .ok()
            .filter(|v| !v.trim().is_empty())
            .map(String::into_boxed_str)
    });
    match deployed.as_deref() {
        Some(name) => name,
        None => FUNCTION.try_with(|f| *f).unwrap_or("sspr"),
    }
}

/// Count what a committed write's audit events tell.
fn count_committed(fx: &Effects) {
    for ev in &fx.audit {
        if let Some(name) = ev.kind.metric() {
            count(name, &[]);
        }
    }
}

/// Count one `name` event for this [`function`], with `dimensions` besides
/// it. The metric is kept by `function` alone, and by `function` with the
/// others when there are any.
pub fn count(name: &str, dimensions: &[(&str, &str)]) {
    let function = function();
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let mut all = vec!["function"];
    all.extend(dimensions.iter().map(|(k, _)| *k));
    let sets = if dimensions.is_empty() {
        serde_json::json!([all])
    } else {
        serde_json::json!([["function"], all])
    };
    let mut line = serde_json::json!({
        "_aws": {
            "Timestamp": ms,
            "CloudWatchMetrics": [{
                "Namespace": "sspr",
                "Dimensions": sets,
                "Metrics": [{"Name": name, "Unit": "Count"}],
            }],
        },
        "function": function,
    });
    if let Some(obj) = line.as_object_mut() {
        obj.insert(name.to_owned(), serde_json::json!(1));
        for (k, v) in dimensions {
            obj.insert((*k).to_owned(), serde_json::json!(v));
        }
    }
    emit(line.to_string());
}

/// The lines a [`tap`] keeps, once one was asked for.
static TAP: OnceLock<Mutex<Vec<String>>> = OnceLock::new();

fn emit(line: String) {
    if let Some(tap) = TAP.get() {
        if let Ok(mut lines) = tap.lock() {
            lines.push(line.clone());
        }
    }
    println!("{line}");
}

/// Every EMF line written from now on, kept in memory as well (for tests;
/// stdout still gets each).
pub fn tap() -> Tap {
    let lines = TAP.get_or_init(Default::default);
    Tap {
        from: lines.lock().map(|l| l.len()).unwrap_or(0),
    }
}

/// Where a [`tap`] began.
#[derive(Debug, Clone, Copy)]
pub struct Tap {
    from: usize,
}

impl Tap {
    /// The EMF lines written since this tap began, oldest first.
    pub fn lines(&self) -> Vec<String> {
        TAP.get()
            .and_then(|t| {
                t.lock()
                    .ok()
                    .map(|l| l.get(self.from..).unwrap_or(&[]).to_vec())
            })
            .unwrap_or_default()
    }
}

/// The flows' store, counting what its committed writes audited.
pub struct CountedStore(pub Arc<dyn Store>);

#[async_trait]
impl Store for CountedStore {
    async fn get_user(&self, user: &Username) -> Result<Option<UserRecord>, StoreError> {
        self.0.get_user(user).await
    }

    async fn write(
        &self,
        user: &Username,
        change: &Change,
        fx: &Effects,
    ) -> Result<Write, StoreError> {
        let w = self.0.write(user, change, fx).await?;
        if w.applied() {
            count_committed(fx);
        }
        Ok(w)
    }

    async fn count(
        &self,
        user: &Username,
        failure: &Failure,
        fx: &Effects,
    ) -> Result<Tallied, StoreError> {
        let t = self.0.count(user, failure, fx).await?;
        if t == Tallied::Applied {
            count_committed(fx);
        }
        Ok(t)
    }
}

/// The courier's queue, counting the codes that went out and the ones that
/// could not.
pub struct CountedOutbox(pub Arc<dyn Outbox>);

#[async_trait]
impl Outbox for CountedOutbox {
    async fn queued(&self, user: &Username, id: &str) -> Result<Option<StoredMail>, StoreError> {
        self.0.queued(user, id).await
    }

    async fn sent(&self, mail: &StoredMail) -> Result<(), StoreError> {
        // Counted before the queue is told: the code went out either way.
        if mail.code.is_some() {
            count(CODE_SENT, &[]);
        }
        self.0.sent(mail).await
    }

    async fn undeliverable(&self, mail: &StoredMail, fx: &Effects) -> Result<(), StoreError> {
        self.0.undeliverable(mail, fx).await?;
        count_committed(fx);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The EMF shape CloudWatch requires: `_aws` with a millisecond
    /// `Timestamp` and one directive naming the namespace, dimension sets
    /// whose every key is a top-level string, and metrics whose every name
    /// is a top-level number.
    fn assert_emf(line: &str) -> serde_json::Value {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let aws = &v["_aws"];
        assert!(aws["Timestamp"]
            .as_u64()
            .is_some_and(|t| t > 1_600_000_000_000));
        let directives = aws["CloudWatchMetrics"].as_array().unwrap();
        assert_eq!(directives.len(), 1);
        let d = &directives[0];
        assert_eq!(d["Namespace"], "sspr");
        for set in d["Dimensions"].as_array().unwrap() {
            let set = set.as_array().unwrap();
            assert!(!set.is_empty() && set.len() <= 30);
            for k in set {
                assert!(v[k.as_str().unwrap()].is_string(), "{k} in {line}");
            }
        }
        for m in d["Metrics"].as_array().unwrap() {
            assert_eq!(m["Unit"], "Count");
            assert!(v[m["Name"].as_str().unwrap()].is_number());
        }
        v
    }

    #[tokio::test]
    async fn a_count_is_one_valid_emf_line_by_function_and_by_its_dimensions() {
        let tap = tap();
        within("mailer", async {
            count("MailSent", &[("Kind", "reset_code")]);
            count(THROTTLED, &[]);
        })
        .await;
        let lines: Vec<String> = tap
            .lines()
            .into_iter()
            .filter(|l| l.contains("\"function\":\"mailer\""))
            .collect();
        assert_eq!(lines.len(), 2, "{lines:?}");
        for l in &lines {
            assert!(!l.contains('\n'));
        }
        let sent = assert_emf(&lines[0]);
        assert_eq!(sent["MailSent"], 1);
        assert_eq!(sent["Kind"], "reset_code");
        assert_eq!(
            sent["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            serde_json::json!([["function"], ["function", "Kind"]])
        );
        let throttled = assert_emf(&lines[1]);
        assert_eq!(
            throttled["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            serde_json::json!([["function"]])
        );
    }

    #[test]
    fn outside_any_function_the_count_is_sspr_s() {
        assert_eq!(function(), "sspr");
    }

    #[test]
    fn the_audited_events_that_count_name_their_metrics() {
        let kind = |name| AuditKind::parse(name).expect("a stored audit type");
        assert_eq!(kind("password_reset").metric(), Some(RESET_COMPLETED));
        assert_eq!(kind("proof_failed").metric(), Some(PROOF_FAILED));
        assert_eq!(kind("resets_blocked").metric(), Some(RESETS_BLOCKED));
        assert_eq!(kind("signin_locked").metric(), Some(SIGNIN_LOCKED));
        assert_eq!(kind("code_undelivered").metric(), Some(CODE_UNDELIVERED));
        assert_eq!(kind("mail_undelivered").metric(), None);
        assert_eq!(kind("code_sent").metric(), None);
        assert_eq!(
            [
                RESET_COMPLETED,
                PROOF_FAILED,
                RESETS_BLOCKED,
                SIGNIN_LOCKED,
                CODE_UNDELIVERED
            ],
            [
                "ResetCompleted",
                "ProofFailed",
                "ResetsBlocked",
                "SignInLocked",
                "CodeUndelivered"
            ]
        );
    }
}
