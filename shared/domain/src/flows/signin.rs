//! Sign-in: a password (and, once an authenticator app is confirmed, its
//! code or a recovery code) for an access token. An unknown user costs the
//! same Argon2 run as a wrong password, and gets the same answer; only the
//! right password learns that a second factor is needed (ASVS 6.4.3: no
//! way in around an enabled second factor). A wrong second factor counts
//! as a wrong password, and so does a wrong current password of a password
//! change ([`count_failure`], one counter and one lock for every secret).
//!
//! Every sign-in is audited: a token only after its `signed_in` event (with
//! the method) has committed; every refusal as `signin_failed` (with what was
//! wrong), in the write that counts it. A stranger's failure sends that same
//! write, which finds no profile and stores nothing, so it costs the round
//! trips a known user's does.

use crate::audit::AuditKind;
use crate::domain::lifecycle::signin_lock;
use crate::domain::user::{MethodKind, MethodTarget};
use crate::domain::{Password, RecoveryCode, UserRecord, Username, Verified};
use crate::mail::Message;
use crate::ports::{
    AuditEvent, Change, Effects, Failure, MethodGrant, MethodProof, MethodUse, Rehash, Requester,
    StoreError,
};

use super::{letter, Context, Unavailable};

#[derive(Debug)]
pub struct AccessToken {
    pub token: String,
    pub expires_in: u64,
    /// How many more methods the user should register to meet their gates.
    pub methods_needed: usize,
    /// Whether the user should reconfirm their methods.
    pub reconfirm_due: bool,
}

/// A second factor as given with the password.
#[derive(Debug)]
pub enum SecondFactor {
    Otp(String),
    RecoveryCode(RecoveryCode),
}

#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    #[error("invalid credentials")]
    InvalidCredentials,
    /// The password was right; the authenticator's code (or a recovery
    /// code) is needed too: the proofs the user can give.
    #[error("second factor required")]
    SecondFactorRequired { methods: Vec<&'static str> },
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
}

/// The audit type of a sign-in that got its token, whose outcome is the
/// [`SignInMethod`] that proved it.
pub const SIGNED_IN: AuditKind = AuditKind::SignedIn;
/// The audit type of a wrong password or factor, whose outcome is the
/// [`Refusal`]: carried by the write that counts it (or, while the lock holds,
/// by a write of the audit alone).
pub const SIGNIN_FAILED: AuditKind = AuditKind::SignInFailed;

/// How a sign-in proved itself: the outcome of its `signed_in` audit event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInMethod {
    Password,
    PasswordTotp,
    PasswordRecoveryCode,
}

impl SignInMethod {
    pub const ALL: [Self; 3] = [
        Self::Password,
        Self::PasswordTotp,
        Self::PasswordRecoveryCode,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Password => "password",
            Self::PasswordTotp => "password+totp",
            Self::PasswordRecoveryCode => "password+recovery_code",
        }
    }
}

/// What was wrong with a refused sign-in (or password change): the outcome
/// of its `signin_failed` audit event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// A wrong password at sign-in.
    Password,
    /// A wrong (or replayed) authenticator code after the right password.
    Totp,
    /// A wrong (or spent) recovery code after the right password.
    RecoveryCode,
    /// A wrong current password of `POST /v1/password/change`.
    CurrentPassword,
    /// Any secret while the lock holds: refused unchecked, not counted.
    Locked,
}

impl Refusal {
    pub const ALL: [Self; 5] = [
        Self::Password,
        Self::Totp,
        Self::RecoveryCode,
        Self::CurrentPassword,
        Self::Locked,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Password => "password",
            Self::Totp => "totp",
            Self::RecoveryCode => "recovery_code",
            Self::CurrentPassword => "current_password",
            Self::Locked => "locked",
        }
    }
}

/// Count a wrong password or factor on the sign-in counter, with its
/// `signin_failed` audit event in the counting write. The write that takes
/// the count to the limit (known from its own condition, not from the count
/// read before Argon2, so in a burst too exactly one is) locks sign-in, and
/// carries the lock's audit event and the mail that tells the user how to
/// unlock.
///
/// `rec` is `None` for a username nobody holds: the very same write is sent
/// (from an empty counter), and its condition (the profile exists) cancels
/// it, so nothing is stored, and a stranger's failure costs the round trip a
/// known user's does (ASVS 6.3.8).
pub(crate) async fn count_failure(
    cx: &Context,
    user: &Username,
    rec: Option<&UserRecord>,
    refusal: Refusal,
    who: &Requester,
    now: i64,
) -> Result<(), StoreError> {
    let p = &cx.rules.signin;
    let start = rec.map_or((0, 0), |r| (r.signin.window_start, r.signin.count));
    let window_len = p.window.as_secs() as i64;
    let failed = AuditEvent::new(SIGNIN_FAILED, refusal.as_str(), now, who);
    super::count_failure(start, p.max_failures, window_len, now, |t| {
        let mut fx = Effects::audit([failed.clone()]);
        if t.reaches {
            fx.audit
                .push(AuditEvent::new(AuditKind::SignInLocked, "locked", now, who));
            if let Some(rec) = rec {
                let msg = Message::SignInLocked {
                    failures: p.max_failures,
                    minutes: p.lock_for.as_secs() / 60,
                };
                fx.mail
                    .push(letter(cx, user, &rec.email, rec.locale, msg, now));
            }
        }
        async move { cx.store.count(user, &Failure::SignIn(t), &fx).await }
    })
    .await?;
    Ok(())
}

/// A secret refused unchecked because the sign-in lock holds: not counted
/// (the lock does not grow while it holds), but audited, in one write of the
/// audit alone, the same one round trip a counted failure costs.
pub(crate) async fn refuse_locked(
    cx: &Context,
    user: &Username,
    who: &Requester,
    now: i64,
) -> Result<(), StoreError> {
    let fx = Effects::audit([AuditEvent::new(
        SIGNIN_FAILED,
        Refusal::Locked.as_str(),
        now,
        who,
    )]);
    cx.store.write(user, &Change::Record, &fx).await?;
    Ok(())
}

pub async fn sign_in(
    cx: &Context,
    username: &str,
    password: &str,
    second: Option<SecondFactor>,
    who: &Requester,
    now: i64,
) -> Result<AccessToken, SignInError> {
    let user = Username::parse(username).ok();
    let password = Password::parse(password);
    let rec = match &user {
        Some(u) => cx.user(u).await?,
        None => None,
    };
    let verdict = cx
        .hasher
        .verify(
            password.as_ref(),
            rec.as_ref().map(|r| r.password_hash.as_str()),
        )
        .await
        .map_err(Unavailable::from)?;
    let (Some(user), Some(password)) = (user, password) else {
        // Nothing to count: a name nobody can hold, or a password nobody can
        // have (the same for a known user and a stranger).
        return Err(SignInError::InvalidCredentials);
    };
    let Some(rec) = rec else {
        // A stranger: the write a known user's wrong password makes, which
        // finds no profile and stores nothing.
        count_failure(cx, &user, None, Refusal::Password, who, now).await?;
        return Err(SignInError::InvalidCredentials);
    };
    // Locked: the same answer as a wrong password, after the same Argon2 run
    // and one write as a wrong password's, which audits the attempt but counts
    // nothing (the lock does not grow while it holds).
    if signin_lock(&rec.signin, &cx.rules.signin, now).holds() {
        refuse_locked(cx, &user, who, now).await?;
        return Err(SignInError::InvalidCredentials);
    }
    if verdict == Verified::No {
        count_failure(cx, &user, Some(&rec), Refusal::Password, who, now).await?;
        return Err(SignInError::InvalidCredentials);
    }
    // A hash made with outdated parameters is replaced in the sign-in's own
    // write (best effort: a failed hashing leaves the old one, which still
    // verifies), so a sign-in is two round trips whatever it upgrades; not
    // for an answer that only asks for the second factor.
    let asks_second = rec.confirmed(MethodKind::Totp).is_some() && second.is_none();
    let rehash = if verdict == Verified::YesRehash && !asks_second {
        match cx.hasher.rehash(&password).await {
            Ok(new) => Some(Rehash {
                old: rec.password_hash.clone(),
                new,
            }),
            Err(e) => {
                tracing::warn!(error = %e, "rehash failed");
                None
            }
        }
    } else {
        None
    };
    if rec.confirmed(MethodKind::Totp).is_some() {
        second_factor(cx, &user, &rec, second, rehash, who, now).await?;
    } else {
        // The sign-in is audited with its method before a token exists; a
        // right password forgets the wrong ones before it in that same write.
        let fx = Effects::audit([AuditEvent::new(
            SIGNED_IN,
            SignInMethod::Password.as_str(),
            now,
            who,
        )]);
        let change = Change::SignedIn {
            clear_failures: rec.signin.count > 0,
            rehash,
        };
        if !cx.store.write(&user, &change, &fx).await?.applied() {
            // The profile is gone since it was read, or its password changed.
            return Err(SignInError::InvalidCredentials);
        }
    }
    let ttl = cx.rules.access_ttl.as_secs();
    let token = cx
        .keys
        .issue_access(user.as_str(), rec.token_version, now, ttl as i64)
        .map_err(Unavailable::from)?;
    let gates = rec.gates(cx.rules.gates);
    Ok(AccessToken {
        token,
        expires_in: ttl,
        methods_needed: rec.methods_needed(gates, cx.rules.sms),
        reconfirm_due: rec.reconfirm_due(cx.rules.reconfirm_days, now),
    })
}

/// The second factor of a user with a confirmed authenticator: spent once,
/// in the write that also forgets earlier wrong passwords (and replaces an
/// outdated hash, `rehash`). Missing: the
/// proofs the user can give. Wrong (or spent meanwhile): counted as a wrong
/// password.
async fn second_factor(
    cx: &Context,
    user: &Username,
    rec: &UserRecord,
    second: Option<SecondFactor>,
    rehash: Option<Rehash>,
    who: &Requester,
    now: i64,
) -> Result<(), SignInError> {
    let recovery = rec
        .confirmed(MethodKind::RecoveryCodes)
        .and_then(|m| match &m.target {
            MethodTarget::RecoveryCodes { left } if !left.is_empty() => Some(left),
            _ => None,
        });
    let Some(second) = second else {
        let mut methods = vec!["totp"];
        if recovery.is_some() {
            methods.push("recovery_code");
        }
        return Err(SignInError::SecondFactorRequired { methods });
    };
    let (method, refusal) = match &second {
        SecondFactor::Otp(_) => (SignInMethod::PasswordTotp, Refusal::Totp),
        SecondFactor::RecoveryCode(_) => {
            (SignInMethod::PasswordRecoveryCode, Refusal::RecoveryCode)
        }
    };
    // An authenticator whose seal does not open here (a key version this
    // function could not read, or a damaged item) cannot be judged: the code
    // may be right, so it is not counted as a wrong secret.
    if let (SecondFactor::Otp(_), Some(m)) = (&second, rec.confirmed(MethodKind::Totp)) {
        if let MethodTarget::Totp { sealed, .. } = &m.target {
            if cx.totp.open(sealed, user, m.id.as_str()).is_none() {
                tracing::warn!("a TOTP secret did not open at sign-in");
                return Err(Unavailable("an authenticator's seal did not open".into()).into());
            }
        }
    }
    let mut fx = Effects::audit([AuditEvent::new(SIGNED_IN, method.as_str(), now, who)]);
    let used = match &second {
        SecondFactor::Otp(code) => rec
            .confirmed(MethodKind::Totp)
            .and_then(|m| match &m.target {
                MethodTarget::Totp { sealed, last_step } => cx
                    .totp
                    .open(sealed, user, m.id.as_str())
                    .and_then(|secret| secret.check(code, now))
                    .filter(|step| step > last_step)
                    .map(|step| {
                        let proof = super::totp_step(cx, user, m.id.as_str(), sealed, step);
                        (MethodKind::Totp, proof)
                    }),
                _ => None,
            }),
        SecondFactor::RecoveryCode(rc) => recovery.and_then(|left| {
            cx.codes.recovery_find(user, rc, left).map(|given| {
                let rest = left.len().saturating_sub(1);
                fx.mail
                    .extend(super::methods::recovery_code_used(cx, rec, rest, now));
                fx.audit.push(AuditEvent::new(
                    AuditKind::RecoveryCodeUsed,
                    "signin",
                    now,
                    who,
                ));
                (MethodKind::RecoveryCodes, MethodProof::RecoveryCode(given))
            })
        }),
    };
    let applied = match used {
        Some((kind, proof)) => {
            let change = Change::UseMethod(MethodUse {
                kind,
                proof,
                grant: MethodGrant::SignIn { rehash },
                now,
            });
            cx.store.write(user, &change, &fx).await?.applied()
        }
        None => false,
    };
    if !applied {
        count_failure(cx, user, Some(rec), refusal, who, now).await?;
        return Err(SignInError::InvalidCredentials);
    }
    Ok(())
}
