//! Sign-in: a password for an access token. An unknown user costs the same
//! Argon2 run as a wrong password, and gets the same answer.

use crate::app::App;
use crate::domain::{Password, Username, Verified};

use super::Unavailable;

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

pub async fn sign_in(
    app: &App,
    username: &str,
    password: &str,
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
    if verdict == Verified::No {
        return Err(SignInError::InvalidCredentials);
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
