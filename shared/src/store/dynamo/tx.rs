//! Writes as DynamoDB transactions: the profile's conditional update first,
//! then the write's effects (audit events, queued mail), all or nothing. A
//! conflict with a concurrent transaction, or a moment short of capacity, is
//! retried under the same `ClientRequestToken`; a failed condition is an
//! answer, with the profile as it stood when the caller wants it.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue as Av, Delete, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
    Update,
};

use super::expr::Expr;
use super::schema::{self, mail_sk, n, number, profile_key, s, user_pk, Item};
use super::schema::{
    AT, AUDIT_PREFIX, CLIENT_IP, CNT, CODE_DIGEST, CODE_PURPOSE, EXPIRES_AT, KIND, OUTCOME, PK,
    REQUEST_ID, SEALED, SEND_BY, SK, TYPE, USER_AGENT, WIN,
};
use super::DynamoStore;
use crate::domain::{Tallied, Username};
use crate::ports::{AuditEvent, Effects, QueuedMail, StoreError, StoredMail, Write};

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

/// The outcome of a transaction, before it is judged.
enum TxOutcome {
    Applied,
    /// The profile's condition failed; the profile as it stood, when asked for.
    ConditionFailed(Option<Item>),
    Conflict,
}

/// How long a queued mail that nobody sent stays in the table past its send-by time.
const MAIL_TTL_GRACE_SECS: i64 = 86_400;

impl DynamoStore {
    fn audit_put(&self, user: &Username, ev: &AuditEvent) -> Result<TransactWriteItem, StoreError> {
        let id = uuid::Uuid::new_v4();
        // Within one second of the clock, the wall clock's nanoseconds keep events in order.
        let tick = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let item = HashMap::from([
            (PK.to_owned(), s(user_pk(user))),
            (
                SK.to_owned(),
                s(format!("{AUDIT_PREFIX}{:012}#{tick:020}#{id}", ev.at)),
            ),
            (TYPE.to_owned(), s(ev.kind.as_str())),
            (OUTCOME.to_owned(), s(ev.outcome)),
            (AT.to_owned(), n(ev.at)),
            (CLIENT_IP.to_owned(), s(truncate(&ev.requester.ip, 64))),
            (
                USER_AGENT.to_owned(),
                s(truncate(&ev.requester.user_agent, 256)),
            ),
            (
                REQUEST_ID.to_owned(),
                s(truncate(&ev.requester.request_id, 128)),
            ),
            (EXPIRES_AT.to_owned(), n(ev.at + self.audit_retention_secs)),
        ]);
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(format!("attribute_not_exists({PK})"))
            .build()
            .map_err(|e| StoreError::new("audit item", e))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    pub(super) fn profile_update(
        &self,
        user: &Username,
        e: &Expr,
    ) -> Result<TransactWriteItem, StoreError> {
        self.keyed_update(profile_key(user), e)
    }

    /// A conditional update of the item at `key`, as one item of a transaction.
    pub(super) fn keyed_update(
        &self,
        key: Item,
        e: &Expr,
    ) -> Result<TransactWriteItem, StoreError> {
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
            .set_key(Some(key))
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
            (PK.to_owned(), s(user_pk(user))),
            (SK.to_owned(), s(mail_sk(&m.id))),
            (KIND.to_owned(), s(m.kind)),
            (
                SEALED.to_owned(),
                Av::B(aws_sdk_dynamodb::primitives::Blob::new(m.sealed.clone())),
            ),
            (SEND_BY.to_owned(), n(m.send_by)),
            (AT.to_owned(), n(m.queued_at)),
            (EXPIRES_AT.to_owned(), n(m.send_by + MAIL_TTL_GRACE_SECS)),
        ]);
        if let Some((purpose, digest)) = &m.code {
            item.insert(CODE_PURPOSE.to_owned(), s(purpose.as_str()));
            item.insert(CODE_DIGEST.to_owned(), s(digest.as_str()));
        }
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(format!("attribute_not_exists({PK})"))
            .build()
            .map_err(|e| StoreError::new("mail item", e))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    pub(super) fn mail_delete(&self, m: &StoredMail) -> Result<TransactWriteItem, StoreError> {
        let del = Delete::builder()
            .table_name(&self.table)
            .key(PK, s(user_pk(&m.user)))
            .key(SK, s(mail_sk(&m.id)))
            .build()
            .map_err(|e| StoreError::new("mail delete", e))?;
        Ok(TransactWriteItem::builder().delete(del).build())
    }

    /// The items of a write's effects: its audit events and its mail.
    pub(super) fn effect_items(
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
                        // The profile write is always first (its item as it
                        // stood comes back); a method item's may follow it;
                        // audit and mail puts never collide.
                        match codes.first().copied() {
                            Some("ConditionalCheckFailed") => Ok(TxOutcome::ConditionFailed(
                                tc.cancellation_reasons()
                                    .first()
                                    .and_then(|r| r.item().cloned()),
                            )),
                            _ if codes.contains(&"ConditionalCheckFailed") => {
                                Ok(TxOutcome::ConditionFailed(None))
                            }
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
    pub(super) async fn transact(
        &self,
        items: Vec<TransactWriteItem>,
    ) -> Result<Write, StoreError> {
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

    pub(super) async fn write_expr(
        &self,
        user: &Username,
        e: Expr,
        fx: &Effects,
    ) -> Result<Write, StoreError> {
        let mut items = vec![self.profile_update(user, &e)?];
        items.extend(self.effect_items(user, fx)?);
        self.transact(items).await
    }

    /// A write that counts a failure toward a limit (`tally`), on the counter
    /// attributes `#{c}_win`, `#{c}_cnt`: when its condition fails, the counter as
    /// it stood, for the flow to count again where it really is.
    pub(super) async fn write_tally(
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
                window_start: number(&item, &schema::attr(c, WIN))?.unwrap_or(0),
                count: u32::try_from(number(&item, &schema::attr(c, CNT))?.unwrap_or(0))
                    .map_err(|_| StoreError::msg("profile count out of range"))?,
            },
        })
    }
}

pub(super) fn truncate(v: &str, max: usize) -> String {
    v.chars().take(max).collect()
}
