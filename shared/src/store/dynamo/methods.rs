//! The writes of recovery methods: each `METHOD#<kind>` item changes in the
//! same transaction as the profile, whose update carries the condition that
//! the set of methods is still the one read (its revision, moved on by the
//! write) and that the session asking is still alive (its token version).
//! A proof of a method (a confirmation code, a TOTP step, a recovery code)
//! is spent by the method item's own condition, in the write that grants
//! what it proves, so no proof works twice, under any concurrency.

use std::collections::HashMap;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue as Av, Delete, Put, TransactWriteItem};

use super::expr::Expr;
use super::schema::{
    attr, method_sk, n, s, user_pk, Item, ADDED_VER, ADDRESS, CODE, CODES, CONFIRMED, CONFIRMED_AT,
    CREATED_AT, EXP, LAST_USED, METHODS_AT, METHOD_CODE, MREV, PENDING, PK, SECRET, SK, SPENT,
    STATE, STEP, TOKEN_VERSION, TRIES, TYPE, VERIFY,
};
use super::{clear_signin, grant, send_limit, with_rehash, DynamoStore};
use crate::domain::user::{MethodKind, MethodTarget};
use crate::domain::{Tallied, Username};
use crate::ports::{
    Effects, MethodGrant, MethodProof, MethodUse, MethodsAsRead, NewMethod, StoreError, Write,
};

/// The key of the method item of `kind`.
fn method_key(user: &Username, kind: MethodKind) -> Item {
    HashMap::from([
        (PK.to_owned(), s(user_pk(user))),
        (SK.to_owned(), s(method_sk(kind))),
    ])
}

/// The profile's side of a change to the set of methods: the session is the
/// one read (a reset or change has not ended it) and the set is as read;
/// the write moves the set's revision on.
fn methods_as_read(e: Expr, read: &MethodsAsRead) -> Expr {
    let same = if read.revision == 0 {
        format!("attribute_not_exists(#{MREV}) OR #{MREV} = :mrev")
    } else {
        format!("#{MREV} = :mrev")
    };
    e.when(format!("#{TOKEN_VERSION} = :mver"))
        .when(same)
        .set(format!("#{MREV} = :mrev1"))
        .val(":mver", n(read.token_version))
        .val(":mrev", n(read.revision))
        .val(":mrev1", n(read.revision.saturating_add(1)))
}

impl DynamoStore {
    pub(super) async fn add_method(
        &self,
        user: &Username,
        m: &NewMethod,
        fx: &Effects,
    ) -> Result<Write, StoreError> {
        let kind = m.target.kind();
        let mut profile = methods_as_read(
            Expr::default().when(format!("attribute_exists({PK})")),
            &m.read,
        );
        let mut item = method_key(user, kind);
        item.insert(TYPE.to_owned(), s(kind.as_str()));
        item.insert(CREATED_AT.to_owned(), n(m.now));
        item.insert(ADDED_VER.to_owned(), n(m.read.token_version));
        let state = if m.confirmed { CONFIRMED } else { PENDING };
        item.insert(STATE.to_owned(), s(state));
        if m.confirmed {
            item.insert(CONFIRMED_AT.to_owned(), n(m.now));
            profile = profile
                .set(format!("#{METHODS_AT} = :mcnow"))
                .val(":mcnow", n(m.now));
        }
        match &m.target {
            MethodTarget::Email(e) => {
                item.insert(ADDRESS.to_owned(), s(e.as_str()));
            }
            MethodTarget::Phone(p) => {
                item.insert(ADDRESS.to_owned(), s(p.as_str()));
            }
            MethodTarget::Totp { sealed, last_step } => {
                item.insert(SECRET.to_owned(), Av::B(Blob::new(sealed.clone())));
                item.insert(STEP.to_owned(), n(*last_step));
            }
            MethodTarget::RecoveryCodes { left } => {
                if !left.is_empty() {
                    let set = left.iter().map(|d| d.as_str().to_owned()).collect();
                    item.insert(CODES.to_owned(), Av::Ss(set));
                }
            }
        }
        if let Some((digest, expires_at, send)) = &m.code {
            let a = |part| attr(METHOD_CODE, part);
            item.insert(a(CODE), s(digest.as_str()));
            item.insert(a(EXP), n(*expires_at));
            item.insert(a(TRIES), n(0));
            item.insert(a(SPENT), Av::Bool(false));
            // A confirmation code counts under the user's hourly cap of
            // confirmation codes, and its recipient's spacing.
            profile = send_limit(profile, VERIFY, send, m.now);
        }
        let mut put = Put::builder().table_name(&self.table).set_item(Some(item));
        if kind != MethodKind::RecoveryCodes {
            // Only a pending method of its kind gives way; a confirmed one must
            // be removed first (a new set of recovery codes replaces the old).
            put = put
                .condition_expression(format!("attribute_not_exists({PK}) OR #st = :pending"))
                .expression_attribute_names("#st", STATE)
                .expression_attribute_values(":pending", s(PENDING));
        }
        let put = put.build().map_err(|e| StoreError::new("method item", e))?;
        let mut items = vec![
            self.profile_update(user, &profile)?,
            TransactWriteItem::builder().put(put).build(),
        ];
        items.extend(self.effect_items(user, fx)?);
        self.transact(items).await
    }

    pub(super) async fn use_method(
        &self,
        user: &Username,
        u: &MethodUse,
        fx: &Effects,
    ) -> Result<Write, StoreError> {
        let mut m = Expr::default()
            .set(format!("#{LAST_USED} = :now"))
            .val(":now", n(u.now));
        m = match &u.proof {
            MethodProof::Code {
                digest,
                max_attempts,
            } => {
                let c = |part| attr(METHOD_CODE, part);
                m.when(format!(
                    "#{} = :d AND #{} = :false AND #{} < :maxa AND #{} > :now",
                    c(CODE),
                    c(SPENT),
                    c(TRIES),
                    c(EXP)
                ))
                .set(format!("#{} = :true", c(SPENT)))
                .val(":d", s(digest.as_str()))
                .val(":false", Av::Bool(false))
                .val(":true", Av::Bool(true))
                .val(":maxa", n(*max_attempts))
            }
            MethodProof::TotpStep { step, reseal } => {
                let m = m
                    .when(format!("#{STEP} < :step"))
                    .set(format!("#{STEP} = :step"))
                    .val(":step", n(*step));
                match reseal {
                    Some(r) => m
                        .when(format!("#{SECRET} = :sealed_from"))
                        .set(format!("#{SECRET} = :sealed_to"))
                        .val(":sealed_from", Av::B(r.from.clone().into()))
                        .val(":sealed_to", Av::B(r.to.clone().into())),
                    None => m,
                }
            }
            MethodProof::RecoveryCode(digest) => m
                .when(format!("contains(#{CODES}, :d)"))
                .delete(format!("#{CODES} :dset"))
                .val(":d", s(digest.as_str()))
                .val(":dset", Av::Ss(vec![digest.as_str().to_owned()])),
        };
        let mut profile = Expr::default().when(format!("attribute_exists({PK})"));
        match &u.grant {
            MethodGrant::Confirm { read, confirming } => {
                let tries = attr(METHOD_CODE, TRIES);
                m = m
                    .when(format!("#{STATE} = :pending AND #{ADDED_VER} = :mver"))
                    .when(format!(
                        "attribute_not_exists(#{tries}) OR #{tries} < :cmax"
                    ))
                    .val(":cmax", n(confirming.max_attempts))
                    .set(format!("#{STATE} = :confirmed"))
                    .set(format!("#{CONFIRMED_AT} = :now"))
                    .val(":pending", s(PENDING))
                    .val(":confirmed", s(CONFIRMED))
                    .val(":mver", n(confirming.added_ver));
                profile = methods_as_read(profile, read)
                    .set(format!("#{METHODS_AT} = :mcnow"))
                    .val(":mcnow", n(u.now));
            }
            MethodGrant::SignIn { rehash } => {
                m = m
                    .when(format!("#{STATE} = :confirmed"))
                    .val(":confirmed", s(CONFIRMED));
                profile = with_rehash(clear_signin(profile), rehash.as_ref());
            }
            MethodGrant::Reset(spend) => {
                m = m
                    .when(format!("#{STATE} = :confirmed"))
                    .val(":confirmed", s(CONFIRMED));
                profile = grant(profile, spend);
            }
        }
        let mut items = vec![
            self.profile_update(user, &profile)?,
            self.keyed_update(method_key(user, u.kind), &m)?,
        ];
        items.extend(self.effect_items(user, fx)?);
        self.transact(items).await
    }

    pub(super) async fn remove_method(
        &self,
        user: &Username,
        kind: MethodKind,
        read: &MethodsAsRead,
        fx: &Effects,
    ) -> Result<Write, StoreError> {
        let profile = methods_as_read(
            Expr::default().when(format!("attribute_exists({PK})")),
            read,
        );
        let del = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(method_key(user, kind)))
            .condition_expression(format!("attribute_exists({PK})"))
            .build()
            .map_err(|e| StoreError::new("method delete", e))?;
        let mut items = vec![
            self.profile_update(user, &profile)?,
            TransactWriteItem::builder().delete(del).build(),
        ];
        items.extend(self.effect_items(user, fx)?);
        self.transact(items).await
    }

    pub(super) async fn reconfirm(
        &self,
        user: &Username,
        read: &MethodsAsRead,
        now: i64,
        fx: &Effects,
    ) -> Result<Write, StoreError> {
        let e = methods_as_read(
            Expr::default().when(format!("attribute_exists({PK})")),
            read,
        )
        .set(format!("#{METHODS_AT} = :mcnow"))
        .val(":mcnow", n(now));
        self.write_expr(user, e, fx).await
    }

    /// A wrong code for a pending method counts toward burning that code.
    pub(super) async fn record_method_code_failure(
        &self,
        user: &Username,
        kind: MethodKind,
        _now: i64,
        fx: &Effects,
    ) -> Result<Tallied, StoreError> {
        let tries = attr(METHOD_CODE, TRIES);
        let e = Expr::default()
            .when(format!("#{STATE} = :pending"))
            .add(format!("#{tries} :one"))
            .val(":pending", s(PENDING))
            .val(":one", n(1));
        let mut items = vec![self.keyed_update(method_key(user, kind), &e)?];
        items.extend(self.effect_items(user, fx)?);
        if !self.transact(items).await?.applied() {
            // No live code on the method (removed, or confirmed meanwhile):
            // the audit events are written all the same.
            let items = self.effect_items(user, fx)?;
            if !items.is_empty() {
                self.transact(items).await?;
            }
        }
        Ok(Tallied::Applied)
    }
}
