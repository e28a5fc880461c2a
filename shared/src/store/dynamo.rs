//! The DynamoDB store: one table, `pk`/`sk` strings, TTL on `expires_at`.
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

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue as Av, BillingMode, Delete, KeySchemaElement, KeyType, Put,
    ReturnValuesOnConditionCheckFailure, ScalarAttributeType, StreamSpecification, StreamViewType,
    TimeToLiveSpecification, TransactWriteItem, Update,
};
use aws_sdk_dynamodb::Client;

use crate::domain::{CodeDigest, Locale, Purpose, Username};
use crate::ports::{
    AuditEvent, ClientCharge, CodeIssue, CodeSlot, Effects, Eligibility, FailedProof, NewUser,
    Outbox, PasswordGuard, PasswordWrite, ProofFailures, QueuedMail, RightCode, SendWindow,
    SignInFailures, Spend, Store, StoreError, StoredMail, Tallied, Tally, UserRecord, Write,
};

/// Attempts at a write that lost a transaction conflict before giving up with 503.
const CONFLICT_RETRIES: u32 = 8;

/// Cancellation reasons that mean "try again": another transaction held an
/// item, or capacity fell short for a moment (an on-demand table scaling up).
/// The SDK retries none of them, since they come inside
/// `TransactionCanceledException`.
const RETRY_REASONS: [&str; 3] = [
    "TransactionConflict",
    "ThrottlingError",
    "ProvisionedThroughputExceeded",
];

/// Counts the DynamoDB round trips (for the budget of two per route) and the
/// IAM actions the calls need (to hold the SAM template's policies to what the
/// code calls).
///
/// Round trips are counted on the wire, by [`CountTrips`], an interceptor on
/// the store's SDK client: a round trip is a stretch of time with at least one
/// HTTP attempt in flight, so calls sent together (the per-client charge beside
/// the first read) share one, and an SDK retry is one more.
#[derive(Debug, Default)]
pub struct RoundTrips {
    calls: AtomicU64,
    attempts: AtomicU64,
    trips: AtomicU64,
    in_flight: AtomicU64,
    actions: std::sync::Mutex<std::collections::BTreeSet<&'static str>>,
}

impl RoundTrips {
    /// Sequential round trips so far, as the SDK sent them.
    pub fn get(&self) -> u64 {
        self.trips.load(Ordering::SeqCst)
    }

    /// HTTP attempts the SDK sent so far (retries included).
    pub fn attempts(&self) -> u64 {
        self.attempts.load(Ordering::SeqCst)
    }

    /// Store calls so far (one per operation, before any retry).
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }

    /// A store call that needs `actions`.
    fn note(&self, actions: &[&'static str]) {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut set) = self.actions.lock() {
            set.extend(actions.iter().copied());
        }
    }

    /// The IAM actions the calls so far needed (`dynamodb:GetItem`, ...).
    pub fn actions(&self) -> Vec<&'static str> {
        self.actions
            .lock()
            .map(|a| a.iter().copied().collect())
            .unwrap_or_default()
    }
}

/// The SDK interceptor behind [`RoundTrips`]: an attempt is in flight from just
/// before it is transmitted until the SDK is done with it (answered, failed or
/// timed out).
#[derive(Debug, Clone)]
pub struct CountTrips(Arc<RoundTrips>);

/// Marks an attempt that [`CountTrips`] saw go out, so that only those end.
#[derive(Debug, Clone)]
struct Transmitted;

impl aws_smithy_types::config_bag::Storable for Transmitted {
    type Storer = aws_smithy_types::config_bag::StoreReplace<Self>;
}

impl aws_sdk_dynamodb::config::Intercept for CountTrips {
    fn name(&self) -> &'static str {
        "CountTrips"
    }

    fn read_before_transmit(
        &self,
        _context: &aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef<'_>,
        _components: &aws_sdk_dynamodb::config::RuntimeComponents,
        cfg: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        let t = &self.0;
        t.attempts.fetch_add(1, Ordering::SeqCst);
        if t.in_flight.fetch_add(1, Ordering::SeqCst) == 0 {
            t.trips.fetch_add(1, Ordering::SeqCst);
        }
        cfg.interceptor_state().store_put(Transmitted);
        Ok(())
    }

    fn read_after_attempt(
        &self,
        _context: &aws_sdk_dynamodb::config::interceptors::FinalizerInterceptorContextRef<'_>,
        _components: &aws_sdk_dynamodb::config::RuntimeComponents,
        cfg: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        if cfg.load::<Transmitted>().is_some() {
            cfg.interceptor_state().unset::<Transmitted>();
            self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
        }
        Ok(())
    }
}

/// `client` with a fresh [`RoundTrips`] counting on it.
fn counted(base: &aws_sdk_dynamodb::Config) -> (Client, Arc<RoundTrips>) {
    let trips = Arc::new(RoundTrips::default());
    let config = base
        .to_builder()
        .interceptor(CountTrips(trips.clone()))
        .build();
    (Client::from_conf(config), trips)
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

fn s(v: impl Into<String>) -> Av {
    Av::S(v.into())
}

fn n(v: impl ToString) -> Av {
    Av::N(v.to_string())
}

fn user_pk(user: &Username) -> String {
    format!("USER#{}", user.as_str())
}

fn prefix(p: Purpose) -> &'static str {
    match p {
        Purpose::VerifyEmail => "ve",
        Purpose::ResetPassword => "rp",
        Purpose::UnlockAccount => "ul",
    }
}

/// An update expression with its placeholders. Attribute names are written `#name`
/// in the expressions and mapped to `name`, so no reserved word can bite.
#[derive(Default)]
struct Expr {
    update: Vec<String>,
    add: Vec<String>,
    remove: Vec<String>,
    cond: Vec<String>,
    values: HashMap<String, Av>,
}

impl Expr {
    fn set(mut self, e: impl Into<String>) -> Self {
        self.update.push(e.into());
        self
    }
    fn add(mut self, e: impl Into<String>) -> Self {
        self.add.push(e.into());
        self
    }
    fn remove(mut self, e: impl Into<String>) -> Self {
        self.remove.push(e.into());
        self
    }
    fn when(mut self, e: impl Into<String>) -> Self {
        self.cond.push(e.into());
        self
    }
    fn val(mut self, k: &str, v: Av) -> Self {
        self.values.insert(k.to_owned(), v);
        self
    }

    fn update_expression(&self) -> String {
        let mut parts = Vec::new();
        if !self.update.is_empty() {
            parts.push(format!("SET {}", self.update.join(", ")));
        }
        if !self.add.is_empty() {
            parts.push(format!("ADD {}", self.add.join(", ")));
        }
        if !self.remove.is_empty() {
            parts.push(format!("REMOVE {}", self.remove.join(", ")));
        }
        parts.join(" ")
    }

    fn condition(&self) -> String {
        self.cond
            .iter()
            .map(|c| format!("({c})"))
            .collect::<Vec<_>>()
            .join(" AND ")
    }

    /// The placeholder values the expressions use (DynamoDB refuses unused ones).
    fn used_values(&self) -> HashMap<String, Av> {
        let text = format!("{} {}", self.update_expression(), self.condition());
        self.values
            .iter()
            .filter(|(k, _)| {
                text.match_indices(k.as_str()).any(|(i, _)| {
                    let next = text.as_bytes().get(i + k.len());
                    !matches!(next, Some(b) if b.is_ascii_alphanumeric() || *b == b'_')
                })
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    fn names(&self) -> HashMap<String, String> {
        let mut names = HashMap::new();
        let all = [self.update_expression(), self.condition()];
        for text in &all {
            let bytes = text.as_bytes();
            let mut i = 0;
            while i < bytes.len() {
                if bytes[i] == b'#' {
                    let start = i + 1;
                    let mut end = start;
                    while end < bytes.len()
                        && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_')
                    {
                        end += 1;
                    }
                    let name = &text[start..end];
                    names.insert(format!("#{name}"), name.to_owned());
                    i = end;
                } else {
                    i += 1;
                }
            }
        }
        names
    }
}

/// The outcome of a transaction, before it is judged.
enum TxOutcome {
    Applied,
    /// The profile's condition failed; the profile as it stood, when asked for.
    ConditionFailed(Option<Item>),
    Conflict,
}

/// How long a queued mail that nobody sent stays in the table past its send-by time.
const MAIL_TTL_GRACE_SECS: i64 = 86_400;

fn mail_sk(id: &str) -> String {
    format!("MAIL#{id}")
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

    /// Create the table with TTL on `expires_at` if it is missing (local host and
    /// tests; deployed, the SAM template owns the table).
    pub async fn ensure_table(&self) -> Result<(), StoreError> {
        let mut exists = false;
        let mut start: Option<String> = None;
        loop {
            let page = self
                .client
                .list_tables()
                .set_exclusive_start_table_name(start.take())
                .send()
                .await
                .map_err(|e| StoreError::new("list tables", e.into_service_error()))?;
            exists |= page.table_names().iter().any(|t| t == &self.table);
            match page.last_evaluated_table_name() {
                Some(last) if !exists => start = Some(last.to_owned()),
                _ => break,
            }
        }
        let stream = StreamSpecification::builder()
            .stream_enabled(true)
            .stream_view_type(StreamViewType::NewAndOldImages)
            .build()
            .map_err(|e| StoreError::new("stream spec", e))?;
        if exists {
            // A data file from before the outbox: give its table the stream.
            if self.stream_arn().await?.is_none() {
                self.client
                    .update_table()
                    .table_name(&self.table)
                    .stream_specification(stream)
                    .send()
                    .await
                    .map_err(|e| StoreError::new("enable stream", e.into_service_error()))?;
            }
            return Ok(());
        }
        let key = |name: &str, kt: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kt)
                .build()
                .map_err(|e| StoreError::new("table schema", e))
        };
        let attr = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(|e| StoreError::new("table schema", e))
        };
        self.client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(key("pk", KeyType::Hash)?)
            .key_schema(key("sk", KeyType::Range)?)
            .attribute_definitions(attr("pk")?)
            .attribute_definitions(attr("sk")?)
            .stream_specification(stream)
            .send()
            .await
            .map_err(|e| StoreError::new("create table", e.into_service_error()))?;
        let ttl = TimeToLiveSpecification::builder()
            .attribute_name("expires_at")
            .enabled(true)
            .build()
            .map_err(|e| StoreError::new("ttl spec", e))?;
        self.client
            .update_time_to_live()
            .table_name(&self.table)
            .time_to_live_specification(ttl)
            .send()
            .await
            .map_err(|e| StoreError::new("enable ttl", e.into_service_error()))?;
        Ok(())
    }

    /// The table's stream, if it has one (the SAM template gives the deployed
    /// table one; [`ensure_table`](Self::ensure_table) the local one).
    pub async fn stream_arn(&self) -> Result<Option<String>, StoreError> {
        let t = self
            .client
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
            .map_err(|e| StoreError::new("describe table", e.into_service_error()))?;
        Ok(t.table()
            .filter(|t| t.stream_specification().is_some_and(|s| s.stream_enabled()))
            .and_then(|t| t.latest_stream_arn())
            .map(str::to_owned))
    }

    /// The audit events of a user, oldest first, as attribute maps.
    pub async fn audit_events(
        &self,
        user: &Username,
    ) -> Result<Vec<HashMap<String, String>>, StoreError> {
        self.trips.note(&["dynamodb:Query"]);
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :a)")
            .expression_attribute_values(":pk", s(user_pk(user)))
            .expression_attribute_values(":a", s("AUDIT#"))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::new("query audit", e.into_service_error()))?;
        Ok(out
            .items()
            .iter()
            .map(|item| {
                item.iter()
                    .filter_map(|(k, v)| match v {
                        Av::S(x) | Av::N(x) => Some((k.clone(), x.clone())),
                        _ => None,
                    })
                    .collect()
            })
            .collect())
    }

    /// The raw profile item, for consistency checks in tests.
    pub async fn raw_profile(
        &self,
        user: &Username,
    ) -> Result<Option<HashMap<String, Av>>, StoreError> {
        self.trips.note(&["dynamodb:GetItem"]);
        self.client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(user_pk(user)))
            .key("sk", s("PROFILE"))
            .consistent_read(true)
            .send()
            .await
            .map(|o| o.item)
            .map_err(|e| StoreError::new("get profile", e.into_service_error()))
    }

    fn profile_key(user: &Username) -> HashMap<String, Av> {
        HashMap::from([
            ("pk".to_owned(), s(user_pk(user))),
            ("sk".to_owned(), s("PROFILE")),
        ])
    }

    fn audit_put(&self, user: &Username, ev: &AuditEvent) -> Result<TransactWriteItem, StoreError> {
        let id = uuid::Uuid::new_v4();
        // Within one second of the clock, the wall clock's nanoseconds keep events in order.
        let tick = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let item = HashMap::from([
            ("pk".to_owned(), s(user_pk(user))),
            (
                "sk".to_owned(),
                s(format!("AUDIT#{:012}#{tick:020}#{id}", ev.at)),
            ),
            ("type".to_owned(), s(ev.kind)),
            ("outcome".to_owned(), s(ev.outcome)),
            ("at".to_owned(), n(ev.at)),
            ("client_ip".to_owned(), s(truncate(&ev.requester.ip, 64))),
            (
                "user_agent".to_owned(),
                s(truncate(&ev.requester.user_agent, 256)),
            ),
            (
                "request_id".to_owned(),
                s(truncate(&ev.requester.request_id, 128)),
            ),
            (
                "expires_at".to_owned(),
                n(ev.at + self.audit_retention_secs),
            ),
        ]);
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(|e| StoreError::new("audit item", e))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    fn profile_update(&self, user: &Username, e: &Expr) -> Result<TransactWriteItem, StoreError> {
        let values = e.used_values();
        let values = if values.is_empty() {
            None
        } else {
            Some(values)
        };
        let names = e.names();
        let cond = e.condition();
        let mut b = Update::builder()
            .table_name(&self.table)
            .set_key(Some(Self::profile_key(user)))
            .update_expression(e.update_expression())
            .set_expression_attribute_values(values)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        if !names.is_empty() {
            b = b.set_expression_attribute_names(Some(names));
        }
        if !cond.is_empty() {
            b = b.condition_expression(cond);
        }
        let update = b
            .build()
            .map_err(|e| StoreError::new("profile update", e))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    fn mail_put(&self, user: &Username, m: &QueuedMail) -> Result<TransactWriteItem, StoreError> {
        let mut item = HashMap::from([
            ("pk".to_owned(), s(user_pk(user))),
            ("sk".to_owned(), s(mail_sk(&m.id))),
            ("kind".to_owned(), s(m.kind)),
            (
                "sealed".to_owned(),
                Av::B(aws_sdk_dynamodb::primitives::Blob::new(m.sealed.clone())),
            ),
            ("send_by".to_owned(), n(m.send_by)),
            ("at".to_owned(), n(m.queued_at)),
            ("expires_at".to_owned(), n(m.send_by + MAIL_TTL_GRACE_SECS)),
        ]);
        if let Some((purpose, digest)) = &m.code {
            item.insert("code_purpose".to_owned(), s(purpose.as_str()));
            item.insert("code_digest".to_owned(), s(digest.as_str()));
        }
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(|e| StoreError::new("mail item", e))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    fn mail_delete(&self, m: &StoredMail) -> Result<TransactWriteItem, StoreError> {
        let del = Delete::builder()
            .table_name(&self.table)
            .key("pk", s(user_pk(&m.user)))
            .key("sk", s(mail_sk(&m.id)))
            .build()
            .map_err(|e| StoreError::new("mail delete", e))?;
        Ok(TransactWriteItem::builder().delete(del).build())
    }

    /// The items of a write's effects: its audit events and its mail.
    fn effect_items(
        &self,
        user: &Username,
        fx: &Effects,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let mut items = Vec::with_capacity(fx.audit.len() + fx.mail.len());
        for ev in &fx.audit {
            items.push(self.audit_put(user, ev)?);
        }
        for m in &fx.mail {
            items.push(self.mail_put(user, m)?);
        }
        Ok(items)
    }

    async fn transact_once(
        &self,
        items: Vec<TransactWriteItem>,
        token: &str,
    ) -> Result<TxOutcome, StoreError> {
        // IAM authorises each item of a transaction by its own action.
        let actions: Vec<&'static str> = items
            .iter()
            .map(|i| {
                if i.put().is_some() {
                    "dynamodb:PutItem"
                } else if i.update().is_some() {
                    "dynamodb:UpdateItem"
                } else if i.delete().is_some() {
                    "dynamodb:DeleteItem"
                } else {
                    "dynamodb:ConditionCheckItem"
                }
            })
            .collect();
        self.trips.note(&actions);
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .client_request_token(token)
            .send()
            .await
        {
            Ok(_) => Ok(TxOutcome::Applied),
            Err(err) => {
                let err = match err {
                    SdkError::ServiceError(se) => se.into_err(),
                    other => return Err(StoreError::new("transact write", other)),
                };
                match &err {
                    TransactWriteItemsError::TransactionCanceledException(tc) => {
                        let codes: Vec<&str> = tc
                            .cancellation_reasons()
                            .iter()
                            .map(|r| r.code().unwrap_or("None"))
                            .collect();
                        // The profile write is always first; audit and mail puts never collide.
                        match codes.first().copied() {
                            Some("ConditionalCheckFailed") => Ok(TxOutcome::ConditionFailed(
                                tc.cancellation_reasons()
                                    .first()
                                    .and_then(|r| r.item().cloned()),
                            )),
                            _ if codes.iter().any(|c| RETRY_REASONS.contains(c)) => {
                                Ok(TxOutcome::Conflict)
                            }
                            _ => Err(StoreError::new("transaction cancelled", err)),
                        }
                    }
                    TransactWriteItemsError::TransactionInProgressException(_) => {
                        Ok(TxOutcome::Conflict)
                    }
                    _ => Err(StoreError::new("transact write", err)),
                }
            }
        }
    }

    /// Run a transaction; a conflict with a concurrent one is retried, so a
    /// counted failure is never lost to a race.
    async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<Write, StoreError> {
        Ok(match self.transact_seeing(items).await? {
            None => Write::Applied,
            Some(_) => Write::ConditionFailed,
        })
    }

    /// As [`transact`](Self::transact), telling how the profile stood when its
    /// condition failed: `None` when applied, `Some(None)` when the profile is gone.
    ///
    /// Every attempt carries the same `ClientRequestToken`: DynamoDB runs a
    /// token's transaction again only if it did not apply (a conflict cancelled
    /// it), and answers a token whose transaction did apply with its success.
    /// So the retry after `TransactionInProgressException` (an earlier attempt
    /// still running, which may yet commit) cannot apply the write twice, as a
    /// fresh token per attempt would.
    async fn transact_seeing(
        &self,
        items: Vec<TransactWriteItem>,
    ) -> Result<Option<Option<Item>>, StoreError> {
        let token = uuid::Uuid::new_v4().to_string();
        let mut delay = Duration::from_millis(5);
        for _ in 0..CONFLICT_RETRIES {
            match self.transact_once(items.clone(), &token).await? {
                TxOutcome::Applied => return Ok(None),
                TxOutcome::ConditionFailed(item) => return Ok(Some(item)),
                TxOutcome::Conflict => {
                    let jitter = Duration::from_millis(rand::random::<u64>() % 5);
                    tokio::time::sleep(delay + jitter).await;
                    delay *= 2;
                }
            }
        }
        Err(StoreError::msg("transaction conflicts persisted"))
    }

    async fn write(&self, user: &Username, e: Expr, fx: &Effects) -> Result<Write, StoreError> {
        let mut items = vec![self.profile_update(user, &e)?];
        items.extend(self.effect_items(user, fx)?);
        self.transact(items).await
    }

    /// A write that counts a failure toward a limit (`tally`), on the counter
    /// attributes `#{c}_win`, `#{c}_cnt`: when its condition fails, the counter as
    /// it stood, for the flow to count again where it really is.
    async fn write_tally(
        &self,
        user: &Username,
        e: Expr,
        c: &str,
        fx: &Effects,
    ) -> Result<Tallied, StoreError> {
        let mut items = vec![self.profile_update(user, &e)?];
        items.extend(self.effect_items(user, fx)?);
        Ok(match self.transact_seeing(items).await? {
            None => Tallied::Applied,
            Some(None) => Tallied::Gone,
            Some(Some(item)) => Tallied::Moved {
                window_start: get_i(&item, &format!("{c}_win")),
                count: get_i(&item, &format!("{c}_cnt")).clamp(0, u32::MAX as i64) as u32,
            },
        })
    }
}

/// A single conditional `UpdateItem`'s outcome as a [`Write`].
fn update_outcome<T>(
    r: Result<T, SdkError<aws_sdk_dynamodb::operation::update_item::UpdateItemError>>,
    what: &'static str,
) -> Result<Write, StoreError> {
    match r {
        Ok(_) => Ok(Write::Applied),
        Err(err) => {
            let se = err.into_service_error();
            if se.is_conditional_check_failed_exception() {
                Ok(Write::ConditionFailed)
            } else {
                Err(StoreError::new(what, se))
            }
        }
    }
}

fn truncate(v: &str, max: usize) -> String {
    v.chars().take(max).collect()
}

type Item = HashMap<String, Av>;

fn get_s(item: &Item, k: &str) -> Option<String> {
    match item.get(k) {
        Some(Av::S(v)) => Some(v.clone()),
        _ => None,
    }
}

fn get_i(item: &Item, k: &str) -> i64 {
    match item.get(k) {
        Some(Av::N(v)) => v.parse().unwrap_or(0),
        _ => 0,
    }
}

fn get_b(item: &Item, k: &str) -> bool {
    matches!(item.get(k), Some(Av::Bool(true)))
}

fn slot(item: &Item, p: &str) -> CodeSlot {
    CodeSlot {
        digest: get_s(item, &format!("{p}_code")).map(CodeDigest::from_stored),
        expires_at: get_i(item, &format!("{p}_exp")),
        attempts: get_i(item, &format!("{p}_tries")).clamp(0, u32::MAX as i64) as u32,
        spent: get_b(item, &format!("{p}_spent")),
        window_start: get_i(item, &format!("{p}_win")),
        window_count: get_i(item, &format!("{p}_cnt")).clamp(0, u32::MAX as i64) as u32,
        last_sent: get_i(item, &format!("{p}_last")),
    }
}

fn record(item: &Item) -> Result<UserRecord, StoreError> {
    let username = get_s(item, "username")
        .and_then(|u| Username::parse(&u).ok())
        .ok_or(StoreError::msg("profile without a valid username"))?;
    let history = match item.get("pw_history") {
        Some(Av::L(l)) => l
            .iter()
            .filter_map(|v| match v {
                Av::S(s) => Some(s.clone()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    let reset_grant = get_s(item, "reset_jti").map(|j| (j, get_i(item, "reset_exp")));
    Ok(UserRecord {
        user_id: get_s(item, "user_id").unwrap_or_default(),
        username,
        email: get_s(item, "email").unwrap_or_default(),
        email_verified: get_b(item, "email_verified"),
        pending_email: get_s(item, "pending_email"),
        locale: get_s(item, "locale")
            .and_then(|l| Locale::parse(&l).ok())
            .unwrap_or_default(),
        created_at: get_i(item, "created_at"),
        password_changed_at: get_i(item, "pw_changed_at"),
        password_hash: get_s(item, "pw_hash").unwrap_or_default(),
        password_history: history,
        token_version: get_i(item, "token_version").max(0) as u64,
        is_admin: get_s(item, "role").as_deref() == Some("admin"),
        verify: slot(item, "ve"),
        reset: slot(item, "rp"),
        unlock: slot(item, "ul"),
        signin: SignInFailures {
            window_start: get_i(item, "si_win"),
            count: get_i(item, "si_cnt").clamp(0, u32::MAX as i64) as u32,
            last: get_i(item, "si_last"),
        },
        reset_grant,
        proofs: ProofFailures {
            window_start: get_i(item, "pf_win"),
            count: get_i(item, "pf_cnt").clamp(0, u32::MAX as i64) as u32,
            last: get_i(item, "pf_last"),
        },
    })
}

/// Count one more failure on the counter `#{c}_win` / `#{c}_cnt` / `#{c}_last`,
/// asserting the window and the side of the limit that `t` expects.
fn tally(e: Expr, c: &str, t: &Tally) -> Expr {
    let e = e
        .set(format!("#{c}_last = :tnow"))
        .val(":tnow", n(t.now))
        .val(":tone", n(1))
        .val(":twcut", n(t.window_cut));
    match t.window {
        SendWindow::Current => {
            let e = e
                .add(format!("#{c}_cnt :tone"))
                .when(format!("#{c}_win > :twcut"))
                .val(":tlim1", n(t.limit.saturating_sub(1)));
            if t.reaches {
                e.when(format!("#{c}_cnt = :tlim1"))
            } else {
                e.when(format!("#{c}_cnt <> :tlim1"))
            }
        }
        SendWindow::Fresh => e
            .set(format!("#{c}_win = :tnow"))
            .set(format!("#{c}_cnt = :tone"))
            .when(format!(
                "attribute_not_exists(#{c}_win) OR #{c}_win <= :twcut"
            )),
    }
}

/// The condition that resets are not blocked: fewer than `:maxf` failures, or
/// none since `:bcut`.
const NOT_BLOCKED: &str = "NOT (#pf_cnt >= :maxf AND #pf_last > :bcut)";

#[async_trait]
impl Store for DynamoStore {
    async fn charge_client(&self, c: &ClientCharge) -> Result<Option<u64>, StoreError> {
        self.trips.note(&["dynamodb:UpdateItem"]);
        let window = c.window_secs.max(1);
        let start = c.now - c.now.rem_euclid(window);
        let r = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(format!("CLIENT#{}", truncate(&c.ip, 64))))
            .key("sk", s(format!("LIMIT#{}#{start}", c.route)))
            .update_expression("ADD n :one SET expires_at = :exp")
            .condition_expression("attribute_not_exists(n) OR n < :max")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":max", n(c.max))
            .expression_attribute_values(":exp", n(start + window + 60))
            .send()
            .await;
        match r {
            Ok(_) => Ok(None),
            Err(err) => {
                let se = err.into_service_error();
                if se.is_conditional_check_failed_exception() {
                    Ok(Some((start + window - c.now).max(1) as u64))
                } else {
                    Err(StoreError::new("client limit", se))
                }
            }
        }
    }

    async fn get_user(&self, user: &Username) -> Result<Option<UserRecord>, StoreError> {
        self.raw_profile(user)
            .await?
            .as_ref()
            .map(record)
            .transpose()
    }

    async fn create_user(&self, u: &NewUser, fx: &Effects) -> Result<Write, StoreError> {
        let zero = || n(0);
        let item: Item = HashMap::from([
            ("pk".to_owned(), s(user_pk(&u.username))),
            ("sk".to_owned(), s("PROFILE")),
            ("user_id".to_owned(), s(&u.user_id)),
            ("username".to_owned(), s(u.username.as_str())),
            ("email".to_owned(), s(&u.email)),
            ("email_verified".to_owned(), Av::Bool(false)),
            ("locale".to_owned(), s(u.locale.as_str())),
            ("created_at".to_owned(), n(u.now)),
            ("pw_changed_at".to_owned(), n(u.now)),
            ("pw_hash".to_owned(), s(&u.password_hash)),
            ("pw_history".to_owned(), Av::L(vec![])),
            ("token_version".to_owned(), zero()),
            ("ve_code".to_owned(), s(u.code.as_str())),
            ("ve_exp".to_owned(), n(u.code_expires_at)),
            ("ve_tries".to_owned(), zero()),
            ("ve_spent".to_owned(), Av::Bool(false)),
            ("ve_win".to_owned(), n(u.now)),
            ("ve_cnt".to_owned(), n(1)),
            ("ve_last".to_owned(), n(u.now)),
            ("rp_tries".to_owned(), zero()),
            ("rp_spent".to_owned(), Av::Bool(false)),
            ("rp_win".to_owned(), zero()),
            ("rp_cnt".to_owned(), zero()),
            ("rp_last".to_owned(), zero()),
            ("ul_tries".to_owned(), zero()),
            ("ul_spent".to_owned(), Av::Bool(false)),
            ("ul_win".to_owned(), zero()),
            ("ul_cnt".to_owned(), zero()),
            ("ul_last".to_owned(), zero()),
            ("si_win".to_owned(), zero()),
            ("si_cnt".to_owned(), zero()),
            ("si_last".to_owned(), zero()),
            ("pf_win".to_owned(), zero()),
            ("pf_cnt".to_owned(), zero()),
            ("pf_last".to_owned(), zero()),
        ]);
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(|e| StoreError::new("profile item", e))?;
        let mut items = vec![TransactWriteItem::builder().put(put).build()];
        items.extend(self.effect_items(&u.username, fx)?);
        self.transact(items).await
    }

    async fn issue_code(
        &self,
        user: &Username,
        c: &CodeIssue,
        fx: &Effects,
    ) -> Result<Write, StoreError> {
        let p = prefix(c.purpose);
        let mut e = Expr::default()
            .when("attribute_exists(pk)")
            .set(format!("#{p}_code = :d"))
            .set(format!("#{p}_exp = :exp"))
            .set(format!("#{p}_tries = :zero"))
            .set(format!("#{p}_spent = :false"))
            .set(format!("#{p}_last = :now"))
            .when(format!(
                "attribute_not_exists(#{p}_last) OR #{p}_last <= :icut"
            ))
            .val(":d", s(c.digest.as_str()))
            .val(":exp", n(c.expires_at))
            .val(":zero", n(0))
            .val(":false", Av::Bool(false))
            .val(":now", n(c.now))
            .val(":icut", n(c.interval_cut))
            .val(":wcut", n(c.window_cut))
            .val(":one", n(1));
        e = match c.window {
            SendWindow::Current => e
                .set(format!("#{p}_cnt = #{p}_cnt + :one"))
                .when(format!("#{p}_win > :wcut AND #{p}_cnt < :max"))
                .val(":max", n(c.max_sends)),
            SendWindow::Fresh => e
                .set(format!("#{p}_win = :now"))
                .set(format!("#{p}_cnt = :one"))
                .when(format!(
                    "attribute_not_exists(#{p}_win) OR #{p}_win <= :wcut"
                )),
        };
        e = match &c.eligibility {
            Eligibility::ResetPassword {
                max_failed,
                block_cut,
            } => e
                .when("#email_verified = :true")
                .when(NOT_BLOCKED)
                .val(":true", Av::Bool(true))
                .val(":maxf", n(*max_failed))
                .val(":bcut", n(*block_cut)),
            Eligibility::VerifyEmail {
                pending: Some(addr),
            } => e
                .when("#pending_email = :pe AND #pending_ver = #token_version")
                .val(":pe", s(addr)),
            Eligibility::VerifyEmail { pending: None } => {
                e.when("#email_verified = :false AND attribute_not_exists(#pending_email)")
            }
            Eligibility::UnlockAccount {
                max_failures,
                lock_cut,
            } => e
                .when("#email_verified = :true AND #si_cnt >= :maxs AND #si_last > :lcut")
                .val(":true", Av::Bool(true))
                .val(":maxs", n(*max_failures))
                .val(":lcut", n(*lock_cut)),
            Eligibility::EmailChange {
                new_email,
                token_version,
            } => e
                .set("#pending_email = :pe")
                .set("#pending_ver = :ver")
                .when("#token_version = :ver")
                .val(":pe", s(new_email))
                .val(":ver", n(*token_version)),
        };
        self.write(user, e, fx).await
    }

    async fn record_failed_proof(
        &self,
        user: &Username,
        f: &FailedProof,
        fx: &Effects,
    ) -> Result<Tallied, StoreError> {
        let p = prefix(f.purpose);
        let mut e = Expr::default()
            .when("attribute_exists(pk)")
            .val(":one", n(1));
        if f.against_code.is_some() {
            e = e.add(format!("#{p}_tries :one"));
        }
        if let Some(t) = &f.tally {
            e = tally(e, "pf", t);
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
        self.write_tally(user, e, "pf", fx).await
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
        let p = prefix(*purpose);
        let mut e = Expr::default()
            .when(format!(
                "#{p}_code = :d AND #{p}_spent = :false AND #{p}_tries < :maxa AND #{p}_exp > :now"
            ))
            .set(format!("#{p}_spent = :true"))
            .val(":d", s(digest.as_str()))
            .val(":false", Av::Bool(false))
            .val(":true", Av::Bool(true))
            .val(":maxa", n(*max_attempts))
            .val(":now", n(*now));
        e = match spend {
            Spend::ResetGrant {
                jti,
                expires_at,
                max_failed,
                block_cut,
            } => e
                .set("#reset_jti = :jti")
                .set("#reset_exp = :rexp")
                .when("#email_verified = :true")
                .when(NOT_BLOCKED)
                .val(":jti", s(jti))
                .val(":rexp", n(*expires_at))
                .val(":maxf", n(*max_failed))
                .val(":bcut", n(*block_cut)),
            Spend::Unlock => e
                .set("#si_cnt = :zero")
                .set("#si_win = :zero")
                .set("#si_last = :zero")
                .val(":zero", n(0)),
            Spend::ConfirmEmail { new_email: None } => e
                .set("#email_verified = :true")
                .when("attribute_not_exists(#pending_email)"),
            Spend::ConfirmEmail {
                new_email: Some(addr),
            } => e
                .set("#email_verified = :true")
                .set("#email = :ne")
                .remove("#pending_email")
                .remove("#pending_ver")
                .when("#pending_email = :ne")
                // Asked for by a session that is still alive: a change asked
                // with a token that a reset, a change or a revocation has since
                // ended is not confirmed, whoever holds its code.
                .when("#pending_ver = #token_version")
                .val(":ne", s(addr)),
        };
        self.write(user, e, fx).await
    }

    async fn set_password(
        &self,
        user: &Username,
        w: &PasswordWrite,
        fx: &Effects,
    ) -> Result<Write, StoreError> {
        let history = Av::L(w.history.iter().map(s).collect());
        let mut e = Expr::default()
            .when("#pw_hash = :old")
            .set("#pw_hash = :h")
            .set("#pw_history = :hist")
            .set("#pw_changed_at = :now")
            .set("#token_version = #token_version + :one")
            .set("#pf_cnt = :zero")
            .set("#pf_win = :zero")
            .set("#pf_last = :zero")
            .set("#rp_tries = :zero")
            .set("#si_cnt = :zero")
            .set("#si_win = :zero")
            .set("#si_last = :zero")
            // A new password ends every code and pending change of the account
            // (whoever asked for them may hold the old password or a stolen
            // token): the reset grant and code, the unlock code, the code that
            // confirms an email and the change of email it would confirm.
            .remove("#reset_jti")
            .remove("#reset_exp")
            .remove("#rp_code")
            .remove("#rp_exp")
            .remove("#ul_code")
            .remove("#ul_exp")
            .remove("#ve_code")
            .remove("#ve_exp")
            .remove("#pending_email")
            .remove("#pending_ver")
            .val(":old", s(&w.expected_hash))
            .val(":h", s(&w.hash))
            .val(":hist", history)
            .val(":now", n(w.now))
            .val(":one", n(1))
            .val(":zero", n(0));
        e = match &w.guard {
            PasswordGuard::ResetGrant { jti, now } => e
                .when("#reset_jti = :jti AND #reset_exp > :gnow")
                .val(":jti", s(jti))
                .val(":gnow", n(*now)),
            PasswordGuard::TokenVersion(v) => e.when("#token_version = :ver").val(":ver", n(*v)),
        };
        self.write(user, e, fx).await
    }

    async fn record_signin_failure(
        &self,
        user: &Username,
        t: &Tally,
        fx: &Effects,
    ) -> Result<Tallied, StoreError> {
        let e = tally(Expr::default().when("attribute_exists(pk)"), "si", t);
        self.write_tally(user, e, "si", fx).await
    }

    async fn clear_signin_failures(&self, user: &Username) -> Result<Write, StoreError> {
        self.trips.note(&["dynamodb:UpdateItem"]);
        let r = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::profile_key(user)))
            .update_expression("SET si_cnt = :zero, si_win = :zero, si_last = :zero")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":zero", n(0))
            .send()
            .await;
        update_outcome(r, "clear sign-in failures")
    }

    async fn rehash(&self, user: &Username, old: &str, new: &str) -> Result<Write, StoreError> {
        self.trips.note(&["dynamodb:UpdateItem"]);
        let r = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::profile_key(user)))
            .update_expression("SET pw_hash = :new")
            .condition_expression("pw_hash = :old")
            .expression_attribute_values(":new", s(new))
            .expression_attribute_values(":old", s(old))
            .send()
            .await;
        update_outcome(r, "rehash")
    }
}

/// A queued mail item as stored; `None` when it is not one or is corrupt.
fn stored_mail(user: &Username, item: &Item) -> Option<StoredMail> {
    let id = get_s(item, "sk")?.strip_prefix("MAIL#")?.to_owned();
    let sealed = match item.get("sealed") {
        Some(Av::B(b)) => b.as_ref().to_vec(),
        _ => return None,
    };
    let code = match (get_s(item, "code_purpose"), get_s(item, "code_digest")) {
        (Some(p), Some(d)) => Some((Purpose::parse(&p).ok()?, CodeDigest::from_stored(d))),
        (None, None) => None,
        _ => return None,
    };
    Some(StoredMail {
        user: user.clone(),
        id,
        kind: get_s(item, "kind")?,
        sealed,
        code,
        send_by: get_i(item, "send_by"),
        queued_at: get_i(item, "at"),
    })
}

impl DynamoStore {
    /// The user and mail id of a queued mail's key, as a stream record names it.
    pub fn mail_key_of(pk: &str, sk: &str) -> Option<(Username, String)> {
        let user = Username::parse(pk.strip_prefix("USER#")?).ok()?;
        let id = sk.strip_prefix("MAIL#")?;
        (!id.is_empty()).then(|| (user, id.to_owned()))
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
            .key("pk", s(user_pk(user)))
            .key("sk", s(mail_sk(id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::new("get mail", e.into_service_error()))?
            .item;
        match item {
            None => Ok(None),
            Some(item) => stored_mail(user, &item)
                .map(Some)
                .ok_or(StoreError::msg("queued mail item is corrupt")),
        }
    }

    async fn sent(&self, m: &StoredMail) -> Result<(), StoreError> {
        self.trips.note(&["dynamodb:DeleteItem"]);
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(user_pk(&m.user)))
            .key("sk", s(mail_sk(&m.id)))
            .send()
            .await
            .map_err(|e| StoreError::new("delete mail", e.into_service_error()))?;
        Ok(())
    }

    async fn undeliverable(&self, m: &StoredMail, fx: &Effects) -> Result<(), StoreError> {
        let mut rest = vec![self.mail_delete(m)?];
        rest.extend(self.effect_items(&m.user, fx)?);
        if let Some((purpose, digest)) = &m.code {
            let p = prefix(*purpose);
            // Still the live code: revoke it, and give its place in the hour back.
            let revoke = Expr::default()
                .when(format!(
                    "#{p}_code = :d AND #{p}_spent = :false AND #{p}_cnt > :zero"
                ))
                .set(format!("#{p}_spent = :true"))
                .set(format!("#{p}_cnt = #{p}_cnt - :one"))
                .val(":d", s(digest.as_str()))
                .val(":false", Av::Bool(false))
                .val(":true", Av::Bool(true))
                .val(":zero", n(0))
                .val(":one", n(1));
            // Replaced by a newer code meanwhile: nobody received this one
            // either, so its place in the hour (the window it was counted in) is
            // given back all the same.
            let give_back = Expr::default()
                .when(format!("#{p}_cnt > :zero AND #{p}_win <= :at"))
                .set(format!("#{p}_cnt = #{p}_cnt - :one"))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expressions_name_every_attribute_and_join_clauses() {
        let e = Expr::default()
            .set("#a = :x")
            .add("#b_c :one")
            .remove("#d")
            .when("#a <= :x")
            .when("attribute_exists(pk)");
        assert_eq!(e.update_expression(), "SET #a = :x ADD #b_c :one REMOVE #d");
        assert_eq!(e.condition(), "(#a <= :x) AND (attribute_exists(pk))");
        let names = e.names();
        assert_eq!(names.len(), 3);
        assert_eq!(names.get("#b_c").map(String::as_str), Some("b_c"));
    }
}
