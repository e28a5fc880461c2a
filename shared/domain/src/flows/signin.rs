//! Sign-in: a password for an access token. An unknown user costs the same
//! Argon2 run as a wrong password, and gets the same answer.

use crate::domain::lifecycle::signin_lock;
use crate::domain::{Password, UserRecord, Username, Verified};
use crate::mail::Message;
use crate::ports::{AuditEvent, Change, Effects, Failure, Requester};

use super::{letter, Context, Unavailable};

#[derive(Debug)]
pub struct AccessToken {
    pub token: String,
    pub expires_in: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    #[error("invalid credentials")]
    InvalidCredentials,
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
    if rec.signin.count > 0 {
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
    Ok(AccessToken {
        token,
        expires_in: ttl,
    })
}
