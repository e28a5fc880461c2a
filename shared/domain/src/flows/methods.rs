//! The signed-in user's recovery methods (API.md "Recovery methods and
//! gates"): listing them, adding an authenticator app, a phone or a second
//! email (pending until their first code is proved), confirming, removing
//! (never below the user's gates), a new set of recovery codes, and
//! reconfirming. Adding, removing and new recovery codes need a recent
//! sign-in (`auth_time` within `Rules::recent_auth`): the route's policy,
//! checked by the serving path, which hands each flow the signed-in
//! session it established. Every change tells the
//! primary email, and the admins when the user is one, in the write that
//! makes it.

use crate::audit::AuditKind;
use crate::domain::lifecycle::{confirm_method, may_send, NotConfirmable};
use crate::domain::user::{MethodId, MethodKind, MethodTarget, PRIMARY};
use crate::domain::{
    Code, Email, Phone, ProofVerdict, Purpose, RecoveryCode, TotpSecret, UserRecord, Username,
};
use crate::mail::Message;
use crate::ports::{
    AuditEvent, Change, Effects, Failure, MethodGrant, MethodProof, MethodUse, MethodsAsRead,
    NewMethod, QueuedMail, Requester,
};

use super::account::Session as SignedIn;
use super::{fresh_code, human_time, letter, CodeMail, CodeTo, Context, Unavailable};

#[derive(Debug, thiserror::Error)]
pub enum MethodsError {
    /// Wrong, expired, burned, or no such pending method: one answer for all.
    #[error("invalid code")]
    InvalidCode,
    /// The user holds as many of this kind as they may.
    #[error("method limit")]
    MethodLimit,
    /// Removing it would leave fewer methods than the user's gates.
    #[error("method required")]
    MethodRequired,
    /// No method by that id.
    #[error("not found")]
    NotFound,
    /// The request cannot be served as asked (SMS off, the primary address again).
    #[error("{0}")]
    Refused(&'static str),
    /// The code send limit holds; try again after this many seconds.
    #[error("limited")]
    Limited { retry_after: u64 },
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
}

/// A signed-in session: the user, as read, and the state its changes assert.
struct Session {
    user: Username,
    rec: UserRecord,
    read: MethodsAsRead,
}

/// What the changes of a signed-in `session` assert (established by the
/// serving path, recent where the route needs it).
fn session(s: SignedIn) -> Session {
    let read = MethodsAsRead {
        token_version: s.rec.token_version,
        revision: s.rec.methods_revision,
    };
    Session {
        user: s.user,
        rec: s.rec,
        read,
    }
}

/// One method as the list shows it.
#[derive(Debug, Clone)]
pub struct MethodView {
    pub id: MethodId,
    pub kind: MethodKind,
    pub label: String,
    pub confirmed: bool,
    pub confirmed_at: Option<i64>,
    pub last_used_at: Option<i64>,
    /// For recovery codes: how many are left.
    pub remaining: Option<usize>,
}

/// The user's methods and where they stand against the gates.
#[derive(Debug, Clone)]
pub struct Methods {
    pub methods: Vec<MethodView>,
    pub gates: usize,
    pub methods_needed: usize,
    pub reconfirm_due: bool,
}

/// Where `rec` stands: its methods (the primary email first), its gates,
/// how many more methods it needs and whether reconfirmation is due.
pub fn standing(cx: &Context, rec: &UserRecord, now: i64) -> Methods {
    let primary = MethodView {
        id: PRIMARY,
        kind: MethodKind::Email,
        label: rec.email.masked(),
        confirmed: rec.email_verified,
        confirmed_at: None,
        last_used_at: None,
        remaining: None,
    };
    let items = rec.methods.iter().map(|m| MethodView {
        id: m.id,
        kind: m.kind(),
        label: m.label(),
        confirmed: m.confirmed(),
        confirmed_at: m.confirmed_at,
        last_used_at: m.last_used_at,
        remaining: match &m.target {
            MethodTarget::RecoveryCodes { left } => Some(left.len()),
            _ => None,
        },
    });
    let gates = rec.gates(cx.rules.gates);
    Methods {
        methods: std::iter::once(primary).chain(items).collect(),
        gates,
        methods_needed: rec.methods_needed(gates, cx.rules.sms),
        reconfirm_due: rec.reconfirm_due(cx.rules.reconfirm_days, now),
    }
}

pub async fn list(cx: &Context, signed: SignedIn, now: i64) -> Result<Methods, MethodsError> {
    let s = session(signed);
    Ok(standing(cx, &s.rec, now))
}

/// A method to add.
#[derive(Debug, Clone)]
pub enum Adding {
    Totp,
    Phone(Phone),
    Email(Email),
}

/// A method added, pending its first code.
#[derive(Debug)]
pub enum Added {
    /// The authenticator's secret, shown this once.
    Totp {
        id: MethodId,
        secret: String,
        otpauth_uri: String,
    },
    /// A code went to the new address or number.
    Sent { id: MethodId, kind: MethodKind },
}

/// The notices of a change of methods: to the primary email (`msg`), and
/// to the admins when the user is one.
fn notices(
    cx: &Context,
    rec: &UserRecord,
    msg: Message,
    change: &'static str,
    kind: MethodKind,
    now: i64,
) -> Vec<QueuedMail> {
    let mut mail = vec![letter(cx, &rec.username, &rec.email, rec.locale, msg, now)];
    mail.extend(admin_notices(cx, rec, change, kind, now));
    mail
}

/// The notices that one recovery code was used (`left` remain): to the user,
/// and to the admins when the user is one.
pub(crate) fn recovery_code_used(
    cx: &Context,
    rec: &UserRecord,
    left: usize,
    now: i64,
) -> Vec<QueuedMail> {
    let msg = Message::RecoveryCodeUsed {
        left: u32::try_from(left).unwrap_or(u32::MAX),
        helpdesk: cx.rules.helpdesk_url.clone(),
        at: human_time(now),
    };
    let kind = MethodKind::RecoveryCodes;
    notices(cx, rec, msg, "recovery_code_used", kind, now)
}

/// The admins' notice that an admin's methods changed.
pub(crate) fn admin_notices(
    cx: &Context,
    rec: &UserRecord,
    change: &'static str,
    kind: MethodKind,
    now: i64,
) -> Vec<QueuedMail> {
    if !rec.is_admin {
        return Vec::new();
    }
    cx.rules
        .admin_emails
        .iter()
        .map(|admin| {
            let msg = Message::AdminMethodsNotice {
                username: rec.username.as_str().to_owned(),
                change: change.to_owned(),
                method: kind.as_str().to_owned(),
                at: human_time(now),
            };
            letter(cx, &rec.username, admin, Default::default(), msg, now)
        })
        .collect()
}

/// Whether another method of `kind` fits: the primary email counts as one
/// email, and a pending method of the kind gives way to the new one.
fn has_room(rec: &UserRecord, kind: MethodKind) -> bool {
    let primary = usize::from(kind == MethodKind::Email);
    let confirmed = rec
        .methods
        .iter()
        .filter(|m| m.kind() == kind && m.confirmed())
        .count();
    primary + confirmed < kind.limit()
}

pub async fn add(
    cx: &Context,
    signed: SignedIn,
    adding: Adding,
    who: &Requester,
    now: i64,
) -> Result<Added, MethodsError> {
    let Session { user, rec, read } = session(signed);
    let kind = match &adding {
        Adding::Totp => MethodKind::Totp,
        Adding::Phone(_) => MethodKind::Phone,
        Adding::Email(_) => MethodKind::Email,
    };
    if kind == MethodKind::Phone && !cx.rules.sms {
        return Err(MethodsError::Refused("this deployment does not send SMS"));
    }
    if !has_room(&rec, kind) {
        return Err(MethodsError::MethodLimit);
    }
    let id = MethodId::Item(kind);
    let mut fx = Effects::audit([AuditEvent::new(
        AuditKind::MethodAdded,
        kind.as_str(),
        now,
        who,
    )]);
    let (target, code, added) = match adding {
        Adding::Totp => {
            let secret = TotpSecret::generate();
            let sealed = cx.totp.seal(&secret, &user, id.as_str());
            let added = Added::Totp {
                id,
                secret: secret.base32(),
                otpauth_uri: secret.otpauth_uri(&cx.rules.totp_issuer, user.as_str()),
            };
            let target = MethodTarget::Totp {
                sealed,
                last_step: 0,
            };
            (target, None, added)
        }
        Adding::Phone(phone) => {
            let to = CodeTo::Sms(&phone);
            let code = method_code(cx, &user, &rec, to, who, now, &mut fx)?;
            let added = Added::Sent { id, kind };
            (MethodTarget::Phone(phone.clone()), Some(code), added)
        }
        Adding::Email(email) => {
            if email == rec.email {
                return Err(MethodsError::Refused("this is already the recovery email"));
            }
            let to = CodeTo::Mail(&email);
            let code = method_code(cx, &user, &rec, to, who, now, &mut fx)?;
            let added = Added::Sent { id, kind };
            (MethodTarget::Email(email.clone()), Some(code), added)
        }
    };
    let label = target.label();
    let msg = Message::MethodAdded {
        method: kind.as_str().to_owned(),
        label,
        helpdesk: cx.rules.helpdesk_url.clone(),
        at: human_time(now),
    };
    fx.mail
        .extend(notices(cx, &rec, msg, "method_added", kind, now));
    let change = Change::AddMethod(NewMethod {
        target,
        code,
        confirmed: false,
        read,
        now,
    });
    if !cx.store.write(&user, &change, &fx).await?.applied() {
        // A confirmed method of the kind, or another change, landed first.
        return Err(MethodsError::MethodLimit);
    }
    Ok(added)
}

/// The code that confirms a new email or phone, under the hourly cap of
/// confirmation codes and its recipient's spacing; its mail joins `fx`.
fn method_code(
    cx: &Context,
    user: &Username,
    rec: &UserRecord,
    to: CodeTo<'_>,
    who: &Requester,
    now: i64,
    fx: &mut Effects,
) -> Result<(crate::domain::CodeDigest, i64, crate::domain::SendSlot), MethodsError> {
    let recipient = cx.codes.recipient(to.address());
    let slot = may_send(&rec.verify, &recipient, &cx.rules.codes, now).map_err(|l| {
        MethodsError::Limited {
            retry_after: l.retry_after,
        }
    })?;
    let m = CodeMail {
        user,
        purpose: Purpose::VerifyEmail,
        to,
        locale: rec.locale,
        origin: who.origin.as_deref(),
        linked: false,
        for_method: true,
    };
    let (digest, expires_at, mail) = fresh_code(cx, &m, now);
    fx.mail.push(mail);
    fx.audit.push(AuditEvent::new(
        AuditKind::CodeSent,
        Purpose::VerifyEmail.as_str(),
        now,
        who,
    ));
    Ok((digest, expires_at, slot))
}

/// Confirm the pending method `id` (`None`: the path names no method, so
/// none of the user's: the same answer as a wrong code).
pub async fn confirm(
    cx: &Context,
    signed: SignedIn,
    id: Option<MethodId>,
    code: &str,
    who: &Requester,
    now: i64,
) -> Result<(), MethodsError> {
    let Session { user, rec, read } = session(signed);
    let Some(m) = id.and_then(|id| rec.method(id)) else {
        return Err(MethodsError::InvalidCode);
    };
    let max_attempts = cx.rules.codes.max_attempts;
    let confirming = match confirm_method(m, read.token_version, max_attempts) {
        Err(NotConfirmable::Confirmed) => return Err(MethodsError::InvalidCode),
        other => other,
    };
    let kind = m.kind();
    let proof = match &m.target {
        _ if confirming == Err(NotConfirmable::Burned) => None,
        MethodTarget::Totp { sealed, last_step } => cx
            .totp
            .open(sealed, &user, m.id.as_str())
            .and_then(|secret| secret.check(code, now))
            .filter(|step| step > last_step)
            .map(|step| super::totp_step(cx, &user, m.id.as_str(), sealed, step)),
        MethodTarget::Email(_) | MethodTarget::Phone(_) => {
            Code::parse(code, cx.rules.codes.length).ok().and_then(|c| {
                let given =
                    cx.codes
                        .digest_as(m.code.digest.as_ref(), Purpose::VerifyEmail, &user, &c);
                (m.code.judge(&given, now, max_attempts) == ProofVerdict::Right).then_some(
                    MethodProof::Code {
                        digest: given,
                        max_attempts,
                    },
                )
            })
        }
        MethodTarget::RecoveryCodes { .. } => None,
    };
    let Some(proof) = proof else {
        let fx = Effects::audit([AuditEvent::new(
            AuditKind::ProofFailed,
            kind.as_str(),
            now,
            who,
        )]);
        cx.store
            .count(&user, &Failure::MethodCode { kind, now }, &fx)
            .await?;
        return Err(MethodsError::InvalidCode);
    };
    // Right, but added by a session that has ended: it confirms nothing.
    let Ok(confirming) = confirming else {
        return Err(MethodsError::InvalidCode);
    };
    let msg = Message::MethodConfirmed {
        method: kind.as_str().to_owned(),
        label: m.label(),
        helpdesk: cx.rules.helpdesk_url.clone(),
        at: human_time(now),
    };
    let fx = Effects {
        audit: vec![AuditEvent::new(
            AuditKind::MethodConfirmed,
            kind.as_str(),
            now,
            who,
        )],
        mail: notices(cx, &rec, msg, "method_confirmed", kind, now),
    };
    let change = Change::UseMethod(MethodUse {
        kind,
        proof,
        grant: MethodGrant::Confirm { read, confirming },
        now,
    });
    if !cx.store.write(&user, &change, &fx).await?.applied() {
        // Spent by a concurrent proof, or the session or method changed.
        return Err(MethodsError::InvalidCode);
    }
    Ok(())
}

/// Remove the method `id` (`None`: the path names no method, so none of
/// the user's: not found).
pub async fn remove(
    cx: &Context,
    signed: SignedIn,
    id: Option<MethodId>,
    who: &Requester,
    now: i64,
) -> Result<(), MethodsError> {
    let Session { user, rec, read } = session(signed);
    if id == Some(PRIMARY) {
        // The primary email is where every notice goes: it is changed, never removed.
        return Err(MethodsError::MethodRequired);
    }
    let Some(m) = id.and_then(|id| rec.method(id)) else {
        return Err(MethodsError::NotFound);
    };
    let kind = m.kind();
    let gates = rec.gates(cx.rules.gates);
    let left = rec
        .held(cx.rules.sms)
        .iter()
        .filter(|h| h.id != m.id)
        .count();
    if m.confirmed() && left < gates {
        return Err(MethodsError::MethodRequired);
    }
    let msg = Message::MethodRemoved {
        method: kind.as_str().to_owned(),
        label: m.label(),
        helpdesk: cx.rules.helpdesk_url.clone(),
        at: human_time(now),
    };
    let fx = Effects {
        audit: vec![AuditEvent::new(
            AuditKind::MethodRemoved,
            kind.as_str(),
            now,
            who,
        )],
        mail: notices(cx, &rec, msg, "method_removed", kind, now),
    };
    let change = Change::RemoveMethod { kind, read };
    if !cx.store.write(&user, &change, &fx).await?.applied() {
        // Another change of methods landed since the read: what stood then
        // may no longer leave enough.
        return Err(MethodsError::MethodRequired);
    }
    Ok(())
}

/// A new set of recovery codes, shown this once; the old set dies.
pub async fn recovery_codes(
    cx: &Context,
    signed: SignedIn,
    who: &Requester,
    now: i64,
) -> Result<Vec<String>, MethodsError> {
    let Session { user, rec, read } = session(signed);
    let codes = RecoveryCode::set();
    let left = codes
        .iter()
        .map(|c| cx.codes.recovery_entry(&user, c))
        .collect();
    let kind = MethodKind::RecoveryCodes;
    let msg = Message::RecoveryCodesCreated {
        helpdesk: cx.rules.helpdesk_url.clone(),
        at: human_time(now),
    };
    let fx = Effects {
        audit: vec![AuditEvent::new(
            AuditKind::RecoveryCodesCreated,
            "success",
            now,
            who,
        )],
        mail: notices(cx, &rec, msg, "recovery_codes_created", kind, now),
    };
    let change = Change::AddMethod(NewMethod {
        target: MethodTarget::RecoveryCodes { left },
        code: None,
        confirmed: true,
        read,
        now,
    });
    if !cx.store.write(&user, &change, &fx).await?.applied() {
        return Err(MethodsError::Refused(
            "the methods changed meanwhile; try again",
        ));
    }
    Ok(codes.iter().map(RecoveryCode::display).collect())
}

pub async fn reconfirm(
    cx: &Context,
    signed: SignedIn,
    who: &Requester,
    now: i64,
) -> Result<i64, MethodsError> {
    let Session { user, read, .. } = session(signed);
    let fx = Effects::audit([AuditEvent::new(
        AuditKind::MethodsReconfirmed,
        "success",
        now,
        who,
    )]);
    let change = Change::Reconfirm { read, now };
    if !cx.store.write(&user, &change, &fx).await?.applied() {
        return Err(MethodsError::Refused(
            "the methods changed meanwhile; try again",
        ));
    }
    Ok(now)
}
