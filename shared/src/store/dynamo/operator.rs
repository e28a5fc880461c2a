//! What an operator does to a user outside any request (the `sspr-admin`
//! tool, `tools/admin`): grant or remove the admin role, clear the sign-in
//! lock or the reset block, end every session; and the reads behind its reports (a user's audit
//! trail, a Scan of the table). Each write is one transaction: the
//! conditional update of the profile and the audit event that names the
//! operator, so an operator's change is recorded if and only if it happened.
//! No deployed function calls these.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue as Av;

use super::expr::Expr;
use super::schema::{
    n, s, user_pk, Item, AUDIT_PREFIX, CNT, LAST, PK, PROOFS, ROLE, SIGNIN, SK, TOKEN_VERSION, WIN,
};
use super::DynamoStore;
use crate::audit::AuditKind;
use crate::domain::Username;
use crate::ports::{AuditEvent, Effects, Requester, StoreError, Write};

/// A change an operator makes to one user's profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperatorChange {
    /// Set `role = "admin"` (the reset then needs two gates whatever the
    /// configuration).
    GrantAdmin,
    /// Remove the role.
    RemoveAdmin,
    /// Clear the sign-in failure counter, as a right unlock code does.
    ClearSignInLock,
    /// Clear the failed proofs' counter that blocks resets, as a reset does
    /// (the help desk's way out of a block a stranger's guesses caused).
    ClearResetBlock,
    /// Move the token version on: every access token of the user dies.
    RevokeSessions,
}

impl OperatorChange {
    /// The audit event's type.
    pub fn audit_type(self) -> AuditKind {
        match self {
            Self::GrantAdmin => AuditKind::AdminRoleGranted,
            Self::RemoveAdmin => AuditKind::AdminRoleRemoved,
            Self::ClearSignInLock => AuditKind::SignInUnlocked,
            Self::ClearResetBlock => AuditKind::ResetsUnblocked,
            Self::RevokeSessions => AuditKind::SessionsRevoked,
        }
    }
}

/// How an operator's audit event's user agent begins; the operator's
/// identity follows (the events name the operator from it).
pub const OPERATOR_AGENT_PREFIX: &str = "sspr-admin operator=";

/// The requester of an operator's audit events: no client address, the
/// tool as the user agent with the operator's identity, so the event names
/// who did it.
pub fn operator_requester(operator: &str) -> Requester {
    Requester {
        ip: "operator".to_owned(),
        user_agent: format!("{OPERATOR_AGENT_PREFIX}{operator}"),
        request_id: format!("sspr-admin-{}", uuid::Uuid::new_v4()),
        origin: None,
    }
}

impl DynamoStore {
    /// Apply `change` to `user`'s profile, conditional on the profile
    /// existing, with its audit event (outcome `operator`, the operator in
    /// the user agent) in the same transaction. `ConditionFailed`: no such user.
    pub async fn operator_write(
        &self,
        user: &Username,
        change: OperatorChange,
        operator: &str,
        now: i64,
    ) -> Result<Write, StoreError> {
        let e = Expr::default().when(format!("attribute_exists(#{PK})"));
        let e = match change {
            OperatorChange::GrantAdmin => {
                e.set(format!("#{ROLE} = :admin")).val(":admin", s("admin"))
            }
            OperatorChange::RemoveAdmin => e.remove(format!("#{ROLE}")),
            OperatorChange::ClearSignInLock => e
                .set(format!("#{SIGNIN}_{CNT} = :zero"))
                .set(format!("#{SIGNIN}_{WIN} = :zero"))
                .set(format!("#{SIGNIN}_{LAST} = :zero"))
                .val(":zero", n(0)),
            OperatorChange::ClearResetBlock => e
                .set(format!("#{PROOFS}_{CNT} = :zero"))
                .set(format!("#{PROOFS}_{WIN} = :zero"))
                .set(format!("#{PROOFS}_{LAST} = :zero"))
                .val(":zero", n(0)),
            OperatorChange::RevokeSessions => {
                e.add(format!("#{TOKEN_VERSION} :one")).val(":one", n(1))
            }
        };
        let requester = operator_requester(operator);
        let fx = Effects::audit([AuditEvent::new(
            change.audit_type(),
            "operator",
            now,
            &requester,
        )]);
        self.write_expr(user, e, &fx).await
    }

    /// The audit events of a user, oldest first, as attribute maps (every
    /// page of the query).
    pub async fn audit_events(
        &self,
        user: &Username,
    ) -> Result<Vec<HashMap<String, String>>, StoreError> {
        let mut events = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            self.trips.note(&["dynamodb:Query"]);
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression(format!("{PK} = :pk AND begins_with({SK}, :a)"))
                .expression_attribute_values(":pk", s(user_pk(user)))
                .expression_attribute_values(":a", s(AUDIT_PREFIX))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| StoreError::new("query audit", e.into_service_error()))?;
            events.extend(out.items().iter().map(|item| {
                item.iter()
                    .filter_map(|(k, v)| match v {
                        Av::S(x) | Av::N(x) => Some((k.clone(), x.clone())),
                        _ => None,
                    })
                    .collect()
            }));
            match out.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => break,
            }
        }
        Ok(events)
    }

    /// Every item of the table, page by page, handed to `each` (an
    /// operator's report: a Scan reads the whole table and costs as much).
    pub async fn scan_all(&self, mut each: impl FnMut(&Item)) -> Result<(), StoreError> {
        let mut start: Option<Item> = None;
        loop {
            self.trips.note(&["dynamodb:Scan"]);
            let out = self
                .client
                .scan()
                .table_name(&self.table)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| StoreError::new("scan", e.into_service_error()))?;
            out.items().iter().for_each(&mut each);
            match out.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => break,
            }
        }
        Ok(())
    }
}
