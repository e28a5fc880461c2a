//! Sign-in: a password (and, once an authenticator app is confirmed, its
//! code or a recovery code) for an access token. An unknown user costs the
//! same Argon2 run as a wrong password, and gets the same answer; only the
//! right password learns that a second factor is needed (ASVS 6.4.3: no
//! way in around an enabled second factor). A wrong second factor counts
//! as a wrong password.

use crate::domain::lifecycle::signin_lock;
use crate::domain::user::{MethodKind, MethodTarget};
use crate::domain::{Password, RecoveryCode, UserRecord, Username, Verified};
use crate::mail::Message;
use crate::ports::{
    AuditEvent, Change, Effects, Failure, MethodGrant, MethodProof, MethodUse, Requester,
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

/// Count a wrong password. The write that takes the count to the limit (known
/// from its own condition, not from the count read before Argon2, so in a
/// burst too exactly one is) locks sign-in, and carries the lock's audit event
/// and the mail that tells the user how to unlock.
async fn count_failure(
    cx: &Context,
    user: &Username,
    rec: &UserRecord,
    who: &Requester,
    now: i64,
) -> Result<(), SignInError> {
    let p = &cx.rules.signin;
    let start = (rec.signin.window_start, rec.signin.count);
    let window_len = p.window.as_secs() as i64;
    super::count_failure(start, p.max_failures, window_len, now, |t| {
        let fx = if t.reaches {
            let msg = Message::SignInLocked {
                failures: p.max_failures,
                minutes: p.lock_for.as_secs() / 60,
            };
            Effects::audit([AuditEvent::new("signin_locked", "locked", now, who)])
                .with_mail(letter(cx, user, &rec.email, rec.locale, msg, now))
        } else {
            Effects::none()
        };
        async move { cx.store.count(user, &Failure::SignIn(t), &fx).await }
    })
    .await?;
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
        Some(u) => cx.store.get_user(u).await?,
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
    let (Some(user), Some(rec), Some(password)) = (user, rec, password) else {
        return Err(SignInError::InvalidCredentials);
    };
    // Locked: the same answer as a wrong password, after the same Argon2 run,
    // and nothing more is counted (the lock does not grow while it holds).
    if signin_lock(&rec.signin, &cx.rules.signin, now).holds() {
        return Err(SignInError::InvalidCredentials);
    }
    if verdict == Verified::No {
        count_failure(cx, &user, &rec, who, now).await?;
        return Err(SignInError::InvalidCredentials);
    }
    if rec.confirmed(MethodKind::Totp).is_some() {
        second_factor(cx, &user, &rec, second, who, now).await?;
    } else if rec.signin.count > 0 {
        // A right password forgets the wrong ones before it.
        let fx = Effects::none();
        if let Err(e) = cx
            .store
            .write(&user, &Change::ClearSignInFailures, &fx)
            .await
        {
            tracing::warn!(error = %e, "sign-in failures not cleared");
        }
    }
    if verdict == Verified::YesRehash {
        // Best effort: the sign-in stands even if the upgrade does not.
        match cx.hasher.rehash(&password).await {
            Ok(new) => {
                let change = Change::Rehash {
                    old: rec.password_hash.clone(),
                    new,
                };
                if let Err(e) = cx.store.write(&user, &change, &Effects::none()).await {
                    tracing::warn!(error = %e, "rehash not stored");
                }
            }
            Err(e) => tracing::warn!(error = %e, "rehash failed"),
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
/// in the write that also forgets earlier wrong passwords. Missing: the
/// proofs the user can give. Wrong (or spent meanwhile): counted as a wrong
/// password.
async fn second_factor(
    cx: &Context,
    user: &Username,
    rec: &UserRecord,
    second: Option<SecondFactor>,
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
    let mut fx = Effects::audit([AuditEvent::new("second_factor", "success", now, who)]);
    let used = match &second {
        SecondFactor::Otp(code) => rec
            .confirmed(MethodKind::Totp)
            .and_then(|m| match &m.target {
                MethodTarget::Totp { sealed, last_step } => cx
                    .totp
                    .open(sealed, user, &m.id)
                    .and_then(|secret| secret.check(code, now))
                    .filter(|step| step > last_step)
                    .map(|step| (MethodKind::Totp, MethodProof::TotpStep(step))),
                _ => None,
            }),
        SecondFactor::RecoveryCode(rc) => recovery.and_then(|left| {
            let given = cx.codes.recovery_digest(user, rc);
            let hits = left.iter().filter(|d| d.matches(&given)).count();
            (hits > 0).then(|| {
                let rest = left.len().saturating_sub(1);
                fx.mail
                    .extend(super::methods::recovery_code_used(cx, rec, rest, now));
                fx.audit
                    .push(AuditEvent::new("recovery_code_used", "signin", now, who));
                (MethodKind::RecoveryCodes, MethodProof::RecoveryCode(given))
            })
        }),
    };
    let applied = match used {
        Some((kind, proof)) => {
            let change = Change::UseMethod(MethodUse {
                kind,
                proof,
                grant: MethodGrant::SignIn,
                now,
            });
            cx.store.write(user, &change, &fx).await?.applied()
        }
        None => false,
    };
    if !applied {
        count_failure(cx, user, rec, who, now).await?;
        return Err(SignInError::InvalidCredentials);
    }
    Ok(())
}
