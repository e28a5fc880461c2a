//! Sign-in: a password for an access token. An unknown user costs the same
//! Argon2 run as a wrong password, and gets the same answer.

use crate::app::App;
use crate::domain::{Password, Username, Verified};
use crate::mail::Message;
use crate::ports::{AuditEvent, Effects, Requester, UserRecord};

use super::{letter, signin_locked, Unavailable};

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

impl From<crate::ports::StoreError> for SignInError {
    fn from(e: crate::ports::StoreError) -> Self {
        Self::Unavailable(e.into())
    }
}

/// Count a wrong password. The write that takes the count to the limit (known
/// from its own condition, not from the count read before Argon2, so in a
/// burst too exactly one is) locks sign-in, and carries the lock's audit event
/// and the mail that tells the user how to unlock.
async fn count_failure(
    app: &App,
    user: &Username,
    rec: &UserRecord,
    who: &Requester,
    now: i64,
) -> Result<(), SignInError> {
    let p = &app.config.signin;
    let start = (rec.signin.window_start, rec.signin.count);
    let window_len = p.window.as_secs() as i64;
    super::count_failure(start, p.max_failures, window_len, now, |t| {
        let fx = if t.reaches {
            let msg = Message::SignInLocked {
                failures: p.max_failures,
                minutes: p.lock_for.as_secs() / 60,
            };
            Effects::audit([AuditEvent::new("signin_locked", "locked", now, who)])
                .with_mail(letter(app, user, &rec.email, rec.locale, msg, now))
        } else {
            Effects::none()
        };
        async move { app.store.record_signin_failure(user, &t, &fx).await }
    })
    .await?;
    Ok(())
}

pub async fn sign_in(
    app: &App,
    username: &str,
    password: &str,
    who: &Requester,
    now: i64,
) -> Result<AccessToken, SignInError> {
    let user = Username::parse(username).ok();
    let password = Password::parse(password);
    let rec = match &user {
        Some(u) => app.store.get_user(u).await?,
        None => None,
    };
    let verdict = app
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
    let policy = &app.config.signin;
    // Locked: the same answer as a wrong password, after the same Argon2 run,
    // and nothing more is counted (the lock does not grow while it holds).
    if signin_locked(&rec, policy, now) {
        return Err(SignInError::InvalidCredentials);
    }
    if verdict == Verified::No {
        count_failure(app, &user, &rec, who, now).await?;
        return Err(SignInError::InvalidCredentials);
    }
    if rec.signin.count > 0 {
        // A right password forgets the wrong ones before it.
        if let Err(e) = app.store.clear_signin_failures(&user).await {
            tracing::warn!(error = %e, "sign-in failures not cleared");
        }
    }
    if verdict == Verified::YesRehash {
        // Best effort: the sign-in stands even if the upgrade does not.
        match app.hasher.rehash(&password).await {
            Ok(new) => {
                if let Err(e) = app.store.rehash(&user, &rec.password_hash, &new).await {
                    tracing::warn!(error = %e, "rehash not stored");
                }
            }
            Err(e) => tracing::warn!(error = %e, "rehash failed"),
        }
    }
    let ttl = app.config.access_ttl.as_secs();
    let token = app
        .keys
        .issue_access(user.as_str(), rec.token_version, now, ttl as i64)
        .map_err(Unavailable::from)?;
    Ok(AccessToken {
        token,
        expires_in: ttl,
    })
}
