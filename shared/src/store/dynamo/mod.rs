//! The DynamoDB store: one table, `pk`/`sk` strings, TTL on `expires_at`
//! (the names and the item layout are [`schema`]'s).
//!
//! Items:
//! - `USER#<username>` / `PROFILE`: profile, password hash and history, token
//!   version, and the state of the codes (`ve_*` confirm email, `rp_*` reset,
//!   `ul_*` unlock), a pending change of email (`pending_email`, and
//!   `pending_ver`, the token version that asked for it), the granted reset
//!   `jti`, and the failure windows (`pf_*` proofs, `si_*` sign-in).
//! - `USER#<username>` / `AUDIT#<time>#<id>`: audit events, expiring by TTL.
//! - `USER#<username>` / `MAIL#<time>#<id>`: queued mail (the transactional
//!   outbox, `mail/queue.rs`), sealed; the courier sends it from the table's
//!   stream and deletes it; TTL removes what nobody sent.
//!
//! Every write is one `TransactWriteItems` call: the conditional update of the
//! profile that guards the limit or single use, plus its audit events and the
//! mail that tells of it, so an event is recorded and a mail sent if and only
//! if the change it describes happened.
//!
//! The module: [`schema`] (keys, attribute names, reading and writing items),
//! [`expr`] (the update-expression builder), [`tx`] (transactions and their
//! retries), [`trips`] (round trips and IAM actions, counted on the wire),
//! `admin` (creating the table, raw reads: local host and tests only),
//! `operator` (an operator's writes and reads: `sspr-admin`), and
//! here the ports: [`Store`], [`ClientMeter`] and [`Outbox`].

#[cfg(any(test, feature = "embedded"))]
mod admin;
mod expr;
mod keys;
mod methods;
mod operator;
pub mod schema;
mod trips;
mod tx;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue as Av, Put, TransactWriteItem};
use aws_sdk_dynamodb::Client;

use expr::{tally, Expr};
pub use keys::{Census, Held, Page, ResealKeys, Resealed};
pub use operator::{operator_requester, OperatorChange, OPERATOR_AGENT_PREFIX};
use schema::{
    mail_sk, n, new_profile, s, slot_group, user_pk, Item, MailItem, CLIENT_PREFIX, CNT, CODE,
    EMAIL, EMAIL_VERIFIED, EXP, EXPIRES_AT, GATE_EXP, GATE_JTI, GATE_VIA, HITS, LAST, LIMIT_PREFIX,
    METHOD_PREFIX, PENDING_EMAIL, PENDING_VER, PK, PROFILE, PROOFS, PW_CHANGED_AT, PW_HASH,
    PW_HISTORY, RESET, RESET_EXP, RESET_JTI, RESET_VIA, SIGNIN, SK, SPENT, TOKEN_VERSION, TRIES,
    UNLOCK, VERIFY, WIN,
};
use trips::counted;
pub use trips::{CountTrips, RoundTrips};
use tx::truncate;

use crate::domain::lifecycle::Passed;
use crate::domain::{SendSlot, SendWindow, Tallied, Tally, UserRecord, Username};
use crate::ports::{
    Admission, Change, ClientCharge, ClientMeter, CodeIssue, Effects, Eligibility, FailedProof,
    Failure, NewUser, Outbox, PasswordGuard, PasswordWrite, Rehash, RightCode, Spend, Store,
    StoreError, StoredMail, Write,
};

/// The condition that resets are not blocked: fewer than `:maxf` failures, or
/// none since `:bcut`.
fn not_blocked() -> String {
    format!("NOT (#{PROOFS}_{CNT} >= :maxf AND #{PROOFS}_{LAST} > :bcut)")
}

/// The send limit of the code group `p`, as `send` found it: the hourly cap
/// of the user and purpose, and the spacing per recipient.
fn send_limit(e: Expr, p: &str, send: &SendSlot, now: i64) -> Expr {
    let to = schema::sent_to_attr(p, &send.recipient);
    let e = e
        .set(format!("#{p}_{LAST} = :snow"))
        .set(format!("#{to} = :snow"))
        .when(format!("attribute_not_exists(#{to}) OR #{to} <= :icut"))
        .val(":snow", n(now))
        .val(":icut", n(send.interval_cut))
        .val(":wcut", n(send.window_cut))
        .val(":one", n(1));
    match send.window {
        SendWindow::Current => e
            .set(format!("#{p}_{CNT} = #{p}_{CNT} + :one"))
            .when(format!("#{p}_{WIN} > :wcut AND #{p}_{CNT} < :max"))
            .val(":max", n(send.max_sends)),
        SendWindow::Fresh => e
            .set(format!("#{p}_{WIN} = :snow"))
            .set(format!("#{p}_{CNT} = :one"))
            .when(format!(
                "attribute_not_exists(#{p}_{WIN}) OR #{p}_{WIN} <= :wcut"
            )),
    }
}

/// The first gate's grant `jti` is still alive at `now`; the write spends it.
fn gate_alive(e: Expr, jti: &str, now: i64) -> Expr {
    e.when(format!("#{GATE_JTI} = :gjti AND #{GATE_EXP} > :gnow"))
        .val(":gjti", s(jti))
        .val(":gnow", n(now))
}

/// A right sign-in forgets the wrong passwords before it.
fn clear_signin(e: Expr) -> Expr {
    e.set(format!("#{SIGNIN}_{CNT} = :zero"))
        .set(format!("#{SIGNIN}_{WIN} = :zero"))
        .set(format!("#{SIGNIN}_{LAST} = :zero"))
        .val(":zero", n(0))
}

/// A sign-in's upgrade of an outdated hash, in its own write: only over the
/// hash it verified, so a password changed since lands nothing.
fn with_rehash(e: Expr, rehash: Option<&Rehash>) -> Expr {
    match rehash {
        Some(r) => e
            .when(format!("#{PW_HASH} = :rh_old"))
            .set(format!("#{PW_HASH} = :rh_new"))
            .val(":rh_old", s(&r.old))
            .val(":rh_new", s(&r.new)),
        None => e,
    }
}

/// What a right proof of a reset grants, on the profile, as the journey's
/// `next` passed it: a first gate, or a reset token's `jti` (spending a first
/// gate's grant when there is one). Either needs resets unblocked.
fn grant(e: Expr, spend: &Spend) -> Expr {
    let e = e
        .when(format!("#{EMAIL_VERIFIED} = :true"))
        .when(not_blocked())
        .val(":true", Av::Bool(true));
    let Spend::Reset {
        passed,
        max_failed,
        block_cut,
    } = spend
    else {
        return e;
    };
    let e = e.val(":maxf", n(*max_failed)).val(":bcut", n(*block_cut));
    match passed {
        Passed::Grant { grant, gate, now } => {
            let e = e
                .set(format!("#{RESET_JTI} = :jti"))
                .set(format!("#{RESET_EXP} = :rexp"))
                .val(":jti", s(&grant.jti))
                .val(":rexp", n(grant.expires_at));
            match gate {
                Some(g) => gate_alive(e, g, *now)
                    .remove(format!("#{GATE_JTI}"))
                    .remove(format!("#{GATE_VIA}"))
                    .remove(format!("#{GATE_EXP}")),
                None => e,
            }
        }
        Passed::Gate(gate) => e
            .set(format!("#{GATE_JTI} = :gj"))
            .set(format!("#{GATE_VIA} = :gv"))
            .set(format!("#{GATE_EXP} = :gexp"))
            .val(":gj", s(&gate.jti))
            .val(":gv", s(gate.via.as_str()))
            .val(":gexp", n(gate.expires_at)),
    }
}

/// The store on one DynamoDB table.
#[derive(Debug, Clone)]
pub struct DynamoStore {
    /// The client as given, without the round-trip interceptor.
    base: aws_sdk_dynamodb::Config,
    client: Client,
    table: String,
    audit_retention_secs: i64,
    trips: Arc<RoundTrips>,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>, audit_retention: Duration) -> Self {
        let base = client.config().clone();
        let (client, trips) = counted(&base);
        Self {
            base,
            client,
            table: table.into(),
            audit_retention_secs: audit_retention.as_secs() as i64,
            trips,
        }
    }

    /// The same table and client, counting on a recorder of its own.
    pub fn with_own_recorder(&self) -> Self {
        let (client, trips) = counted(&self.base);
        Self {
            client,
            trips,
            ..self.clone()
        }
    }

    /// The DynamoDB calls this store (and its clones) has made so far.
    pub fn round_trips(&self) -> Arc<RoundTrips> {
        self.trips.clone()
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// The profile and method items of `user` (`METHOD#...` up to
    /// `PROFILE`: neither the audit trail nor the queued mail), in one
    /// consistent query.
    async fn user_items(&self, user: &Username) -> Result<Vec<Item>, StoreError> {
        self.trips.note(&["dynamodb:Query"]);
        self.client
            .query()
            .table_name(&self.table)
            .consistent_read(true)
            .key_condition_expression("#pk = :pk AND #sk BETWEEN :lo AND :hi")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#sk", SK)
            .expression_attribute_values(":pk", s(user_pk(user)))
            .expression_attribute_values(":lo", s(METHOD_PREFIX))
            .expression_attribute_values(":hi", s(PROFILE))
            .send()
            .await
            .map(|o| o.items.unwrap_or_default())
            .map_err(|e| StoreError::new("get profile", e.into_service_error()))
    }

    /// The user and mail id of a queued mail's key, as a stream record names it.
    pub fn mail_key_of(pk: &str, sk: &str) -> Option<(Username, String)> {
        schema::mail_key_of(pk, sk)
    }

    async fn create_user(
        &self,
        user: &Username,
        u: &NewUser,
        fx: &Effects,
    ) -> Result<Write, StoreError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(new_profile(user, u)))
            .condition_expression(format!("attribute_not_exists({PK})"))
            .build()
            .map_err(|e| StoreError::new("profile item", e))?;
        let mut items = vec![TransactWriteItem::builder().put(put).build()];
        items.extend(self.effect_items(user, fx)?);
        self.transact(items).await
    }

    async fn issue_code(
        &self,
        user: &Username,
        c: &CodeIssue,
        fx: &Effects,
    ) -> Result<Write, StoreError> {
        let p = slot_group(c.purpose);
        let e = Expr::default()
            .when(format!("attribute_exists({PK})"))
            .set(format!("#{p}_{CODE} = :d"))
            .set(format!("#{p}_{EXP} = :exp"))
            .set(format!("#{p}_{TRIES} = :zero"))
            .set(format!("#{p}_{SPENT} = :false"))
            .val(":d", s(c.digest.as_str()))
            .val(":exp", n(c.expires_at))
            .val(":zero", n(0))
            .val(":false", Av::Bool(false));
        let mut e = send_limit(e, p, &c.send, c.now);
        e = match &c.eligibility {
            Eligibility::ResetPassword {
                max_failed,
                block_cut,
                to,
            } => {
                let e = e
                    .set(format!("#{RESET_VIA} = :via"))
                    .when(format!("#{EMAIL_VERIFIED} = :true"))
                    .when(not_blocked())
                    .val(":via", s(to.via.as_str()))
                    .val(":true", Av::Bool(true))
                    .val(":maxf", n(*max_failed))
                    .val(":bcut", n(*block_cut));
                match &to.gate {
                    Some(jti) => gate_alive(e, jti, to.now),
                    None => e,
                }
            }
            Eligibility::VerifyEmail {
                pending: Some(addr),
            } => e
                .when(format!("#{PENDING_EMAIL} = :pe AND #{PENDING_VER} = #{TOKEN_VERSION}"))
                .val(":pe", s(addr.as_str())),
            Eligibility::VerifyEmail { pending: None } => {
                e.when(format!("#{EMAIL_VERIFIED} = :false AND attribute_not_exists(#{PENDING_EMAIL})"))
            }
            Eligibility::UnlockAccount {
                max_failures,
                lock_cut,
            } => e
                .when(format!("#{EMAIL_VERIFIED} = :true AND #{SIGNIN}_{CNT} >= :maxs AND #{SIGNIN}_{LAST} > :lcut"))
                .val(":true", Av::Bool(true))
                .val(":maxs", n(*max_failures))
                .val(":lcut", n(*lock_cut)),
            Eligibility::EmailChange {
                new_email,
                token_version,
            } => e
                .set(format!("#{PENDING_EMAIL} = :pe"))
                .set(format!("#{PENDING_VER} = :ver"))
                .when(format!("#{TOKEN_VERSION} = :ver"))
                .val(":pe", s(new_email.as_str()))
                .val(":ver", n(*token_version)),
        };
        self.write_expr(user, e, fx).await
    }

    async fn record_failed_proof(
        &self,
        user: &Username,
        f: &FailedProof,
        fx: &Effects,
    ) -> Result<Tallied, StoreError> {
        let p = slot_group(f.purpose);
        let mut e = Expr::default()
            .when(format!("attribute_exists({PK})"))
            .val(":one", n(1));
        if f.against_code.is_some() {
            e = e.add(format!("#{p}_{TRIES} :one"));
        }
        if let Some(t) = &f.tally {
            e = tally(e, PROOFS, t);
        }
        if e.update.is_empty() && e.add.is_empty() {
            // Nothing to count on the profile (no live code to confirm an email):
            // only the effects are written.
            let items = self.effect_items(user, fx)?;
            if items.is_empty() {
                return Ok(Tallied::Applied);
            }
            self.transact(items).await?;
            return Ok(Tallied::Applied);
        }
        self.write_tally(user, e, PROOFS, fx).await
    }

    async fn spend_code(
        &self,
        user: &Username,
        proof: &RightCode,
        fx: &Effects,
    ) -> Result<Write, StoreError> {
        let RightCode {
            purpose,
            digest,
            now,
            max_attempts,
            spend,
        } = proof;
        let p = slot_group(*purpose);
        let mut e = Expr::default()
            .when(format!(
                "#{p}_{CODE} = :d AND #{p}_{SPENT} = :false AND #{p}_{TRIES} < :maxa AND #{p}_{EXP} > :now"
            ))
            .set(format!("#{p}_{SPENT} = :true"))
            .val(":d", s(digest.as_str()))
            .val(":false", Av::Bool(false))
            .val(":true", Av::Bool(true))
            .val(":maxa", n(*max_attempts))
            .val(":now", n(*now));
        e = match spend {
            Spend::Reset { .. } => grant(e, spend),
            Spend::Unlock => e
                .set(format!("#{SIGNIN}_{CNT} = :zero"))
                .set(format!("#{SIGNIN}_{WIN} = :zero"))
                .set(format!("#{SIGNIN}_{LAST} = :zero"))
                .val(":zero", n(0)),
            Spend::ConfirmEmail { new_email: None } => e
                .set(format!("#{EMAIL_VERIFIED} = :true"))
                .when(format!("attribute_not_exists(#{PENDING_EMAIL})")),
            Spend::ConfirmEmail {
                new_email: Some(addr),
            } => e
                .set(format!("#{EMAIL_VERIFIED} = :true"))
                .set(format!("#{EMAIL} = :ne"))
                .remove(format!("#{PENDING_EMAIL}"))
                .remove(format!("#{PENDING_VER}"))
                .when(format!("#{PENDING_EMAIL} = :ne"))
                // Asked for by a session that is still alive: a change asked
                // with a token that a reset, a change or a revocation has since
                // ended is not confirmed, whoever holds its code.
                .when(format!("#{PENDING_VER} = #{TOKEN_VERSION}"))
                .val(":ne", s(addr.as_str())),
        };
        self.write_expr(user, e, fx).await
    }

    async fn set_password(
        &self,
        user: &Username,
        w: &PasswordWrite,
        fx: &Effects,
    ) -> Result<Write, StoreError> {
        let history = Av::L(w.history.iter().map(s).collect());
        let mut e = Expr::default()
            .when(format!("#{PW_HASH} = :old"))
            .set(format!("#{PW_HASH} = :h"))
            .set(format!("#{PW_HISTORY} = :hist"))
            .set(format!("#{PW_CHANGED_AT} = :now"))
            .set(format!("#{TOKEN_VERSION} = #{TOKEN_VERSION} + :one"))
            .set(format!("#{PROOFS}_{CNT} = :zero"))
            .set(format!("#{PROOFS}_{WIN} = :zero"))
            .set(format!("#{PROOFS}_{LAST} = :zero"))
            .set(format!("#{RESET}_{TRIES} = :zero"))
            .set(format!("#{SIGNIN}_{CNT} = :zero"))
            .set(format!("#{SIGNIN}_{WIN} = :zero"))
            .set(format!("#{SIGNIN}_{LAST} = :zero"))
            // A new password ends every code and pending change of the account
            // (whoever asked for them may hold the old password or a stolen
            // token): the reset grant and code, the unlock code, the code that
            // confirms an email and the change of email it would confirm.
            .remove(format!("#{RESET_JTI}"))
            .remove(format!("#{RESET_EXP}"))
            .remove(format!("#{RESET}_{CODE}"))
            .remove(format!("#{RESET}_{EXP}"))
            .remove(format!("#{UNLOCK}_{CODE}"))
            .remove(format!("#{UNLOCK}_{EXP}"))
            .remove(format!("#{VERIFY}_{CODE}"))
            .remove(format!("#{VERIFY}_{EXP}"))
            .remove(format!("#{PENDING_EMAIL}"))
            .remove(format!("#{PENDING_VER}"))
            .remove(format!("#{RESET_VIA}"))
            .remove(format!("#{GATE_JTI}"))
            .remove(format!("#{GATE_VIA}"))
            .remove(format!("#{GATE_EXP}"))
            .val(":old", s(&w.expected_hash))
            .val(":h", s(&w.hash))
            .val(":hist", history)
            .val(":now", n(w.now))
            .val(":one", n(1))
            .val(":zero", n(0));
        e = match &w.guard {
            PasswordGuard::ResetGrant(spent) => e
                .when(format!("#{RESET_JTI} = :jti AND #{RESET_EXP} > :gnow"))
                .val(":jti", s(&spent.jti))
                .val(":gnow", n(spent.now)),
            PasswordGuard::TokenVersion(v) => e
                .when(format!("#{TOKEN_VERSION} = :ver"))
                .val(":ver", n(*v)),
        };
        self.write_expr(user, e, fx).await
    }

    async fn record_signin_failure(
        &self,
        user: &Username,
        t: &Tally,
        fx: &Effects,
    ) -> Result<Tallied, StoreError> {
        let e = tally(
            Expr::default().when(format!("attribute_exists({PK})")),
            SIGNIN,
            t,
        );
        self.write_tally(user, e, SIGNIN, fx).await
    }

    /// A right sign-in's write: earlier wrong passwords forgotten, an
    /// outdated hash replaced (`pw_hash` as read), both beside the effects.
    async fn signed_in(
        &self,
        user: &Username,
        clear_failures: bool,
        rehash: Option<&Rehash>,
        fx: &Effects,
    ) -> Result<Write, StoreError> {
        if !clear_failures && rehash.is_none() {
            return self.record(user, fx).await;
        }
        let mut e = Expr::default().when(format!("attribute_exists({PK})"));
        if clear_failures {
            e = clear_signin(e);
        }
        self.write_expr(user, with_rehash(e, rehash), fx).await
    }

    /// The effects alone: their items in one transaction (the audit puts
    /// assert their own keys are new), and no call at all when there are none.
    async fn record(&self, user: &Username, fx: &Effects) -> Result<Write, StoreError> {
        let items = self.effect_items(user, fx)?;
        if items.is_empty() {
            return Ok(Write::Applied);
        }
        self.transact(items).await
    }
}

#[async_trait]
impl Store for DynamoStore {
    async fn get_user(&self, user: &Username) -> Result<Option<UserRecord>, StoreError> {
        schema::user_from_items(&self.user_items(user).await?)
    }

    async fn write(
        &self,
        user: &Username,
        change: &Change,
        fx: &Effects,
    ) -> Result<Write, StoreError> {
        match change {
            Change::Create(u) => self.create_user(user, u, fx).await,
            Change::IssueCode(c) => self.issue_code(user, c, fx).await,
            Change::SpendCode(r) => self.spend_code(user, r, fx).await,
            Change::SetPassword(w) => self.set_password(user, w, fx).await,
            Change::SignedIn {
                clear_failures,
                rehash,
            } => {
                self.signed_in(user, *clear_failures, rehash.as_ref(), fx)
                    .await
            }
            Change::Record => self.record(user, fx).await,
            Change::AddMethod(m) => self.add_method(user, m, fx).await,
            Change::UseMethod(u) => self.use_method(user, u, fx).await,
            Change::RemoveMethod { kind, read } => self.remove_method(user, *kind, read, fx).await,
            Change::Reconfirm { read, now } => self.reconfirm(user, read, *now, fx).await,
        }
    }

    async fn count(
        &self,
        user: &Username,
        failure: &Failure,
        fx: &Effects,
    ) -> Result<Tallied, StoreError> {
        match failure {
            Failure::Proof(f) => self.record_failed_proof(user, f, fx).await,
            Failure::SignIn(t) => self.record_signin_failure(user, t, fx).await,
            Failure::MethodCode { kind, now } => {
                self.record_method_code_failure(user, *kind, *now, fx).await
            }
        }
    }
}

#[async_trait]
impl ClientMeter for DynamoStore {
    async fn charge(&self, c: &ClientCharge) -> Result<Admission, StoreError> {
        self.trips.note(&["dynamodb:UpdateItem"]);
        let window = c.window_secs.max(1);
        let start = c.now - c.now.rem_euclid(window);
        let r = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(format!("{CLIENT_PREFIX}{}", truncate(&c.ip, 64))))
            .key(SK, s(format!("{LIMIT_PREFIX}{}#{start}", c.route)))
            .update_expression(format!("ADD {HITS} :one SET {EXPIRES_AT} = :exp"))
            .condition_expression(format!("attribute_not_exists({HITS}) OR {HITS} < :max"))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":max", n(c.max))
            .expression_attribute_values(":exp", n(start + window + 60))
            .send()
            .await;
        match r {
            Ok(_) => Ok(Admission::Within),
            Err(err) => {
                let se = err.into_service_error();
                if se.is_conditional_check_failed_exception() {
                    Ok(Admission::Limited {
                        retry_after: (start + window - c.now).max(1) as u64,
                    })
                } else {
                    Err(StoreError::new("client limit", se))
                }
            }
        }
    }
}

#[async_trait]
impl Outbox for DynamoStore {
    async fn queued(&self, user: &Username, id: &str) -> Result<Option<StoredMail>, StoreError> {
        self.trips.note(&["dynamodb:GetItem"]);
        let item = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PK, s(user_pk(user)))
            .key(SK, s(mail_sk(id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::new("get mail", e.into_service_error()))?
            .item;
        match item {
            None => Ok(None),
            Some(item) => StoredMail::try_from(MailItem { user, item: &item }).map(Some),
        }
    }

    async fn sent(&self, m: &StoredMail) -> Result<(), StoreError> {
        self.trips.note(&["dynamodb:DeleteItem"]);
        self.client
            .delete_item()
            .table_name(&self.table)
            .key(PK, s(user_pk(&m.user)))
            .key(SK, s(mail_sk(&m.id)))
            .send()
            .await
            .map_err(|e| StoreError::new("delete mail", e.into_service_error()))?;
        Ok(())
    }

    async fn undeliverable(&self, m: &StoredMail, fx: &Effects) -> Result<(), StoreError> {
        let mut rest = vec![self.mail_delete(m)?];
        rest.extend(self.effect_items(&m.user, fx)?);
        if let Some((purpose, digest)) = &m.code {
            let p = slot_group(*purpose);
            // Still the live code: revoke it, and give its place in the hour back.
            let revoke = Expr::default()
                .when(format!(
                    "#{p}_{CODE} = :d AND #{p}_{SPENT} = :false AND #{p}_{CNT} > :zero"
                ))
                .set(format!("#{p}_{SPENT} = :true"))
                .set(format!("#{p}_{CNT} = #{p}_{CNT} - :one"))
                .val(":d", s(digest.as_str()))
                .val(":false", Av::Bool(false))
                .val(":true", Av::Bool(true))
                .val(":zero", n(0))
                .val(":one", n(1));
            // Replaced by a newer code meanwhile: nobody received this one
            // either, so its place in the hour (the window it was counted in) is
            // given back all the same.
            let give_back = Expr::default()
                .when(format!("#{p}_{CNT} > :zero AND #{p}_{WIN} <= :at"))
                .set(format!("#{p}_{CNT} = #{p}_{CNT} - :one"))
                .val(":zero", n(0))
                .val(":one", n(1))
                .val(":at", n(m.queued_at));
            for e in [revoke, give_back] {
                let mut items = vec![self.profile_update(&m.user, &e)?];
                items.extend(rest.iter().cloned());
                if self.transact(items).await?.applied() {
                    return Ok(());
                }
            }
            // Spent, or its window is over: nothing left to give back.
        }
        self.transact(rest).await.map(|_| ())
    }
}
