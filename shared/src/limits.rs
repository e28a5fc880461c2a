//! Per-client (IP) limits: every request of a limited route is counted against
//! its client's window in DynamoDB by one conditional write, made beside the
//! request's first read so it costs no extra round trip. Over the limit the
//! request does nothing and the answer is `429 too_many_requests` with
//! `Retry-After`.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::Mutex;

use crate::domain::Username;
use crate::ports::{
    ClientCharge, CodeIssue, Effects, FailedProof, NewUser, PasswordWrite, RightCode, Store,
    StoreError, Tallied, Tally, UserRecord, Write,
};

/// A route's limit: at most `max` requests per client in `window_secs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub max: u32,
    pub window_secs: i64,
}

/// The limits per route key (`codes`, `token`, ...). A route without one is unlimited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientLimits(pub BTreeMap<&'static str, Limit>);

/// Every route key a limit can name.
pub const ROUTES: [&str; 10] = [
    "register", "confirm", "me", "email", "codes", "verify", "reset", "change", "unlock", "token",
];

impl Default for ClientLimits {
    /// Generous enough for many users behind one NAT, tight enough to make
    /// guessing and mail bombing from one address slow.
    fn default() -> Self {
        let l = |max, window_secs| Limit { max, window_secs };
        Self(BTreeMap::from([
            ("register", l(20, 3600)),
            ("confirm", l(30, 600)),
            ("me", l(600, 600)),
            ("email", l(20, 600)),
            ("codes", l(30, 600)),
            ("verify", l(30, 600)),
            ("reset", l(30, 600)),
            ("change", l(20, 600)),
            ("unlock", l(30, 600)),
            ("token", l(60, 600)),
        ]))
    }
}

impl ClientLimits {
    /// Apply `SSPR_CLIENT_LIMITS` overrides: `route=max/seconds` or `route=off`,
    /// comma-separated (`codes=10/600,token=off`).
    pub fn with_overrides(mut self, spec: &str) -> Result<Self, String> {
        for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (route, value) = item
                .split_once('=')
                .ok_or(format!("`{item}` is not route=max/seconds"))?;
            let key = ROUTES
                .iter()
                .copied()
                .find(|r| *r == route.trim())
                .ok_or(format!("`{route}` is not one of {}", ROUTES.join(", ")))?;
            if value.trim() == "off" {
                self.0.remove(key);
                continue;
            }
            let (max, secs) = value
                .split_once('/')
                .ok_or(format!("`{item}` is not route=max/seconds"))?;
            let max: u32 = max
                .trim()
                .parse()
                .map_err(|_| format!("`{item}`: max is not a number"))?;
            let window_secs: i64 = secs
                .trim()
                .parse()
                .map_err(|_| format!("`{item}`: seconds is not a number"))?;
            if max == 0 || !(1..=86_400).contains(&window_secs) {
                return Err(format!(
                    "`{item}`: max must be at least 1 and seconds 1 to 86400"
                ));
            }
            self.0.insert(key, Limit { max, window_secs });
        }
        Ok(self)
    }
}

/// A store for one request: the first call also charges the client's limit
/// (concurrently with a read, before a write), and every call fails with a
/// `limited` error once the client is over it.
pub struct Metered {
    inner: Arc<dyn Store>,
    pending: Mutex<Option<ClientCharge>>,
}

impl Metered {
    pub fn new(inner: Arc<dyn Store>, charge: ClientCharge) -> Self {
        Self {
            inner,
            pending: Mutex::new(Some(charge)),
        }
    }

    fn judge(r: Result<Option<u64>, StoreError>) -> Result<(), StoreError> {
        match r? {
            None => Ok(()),
            Some(secs) => Err(StoreError::client_limited(secs)),
        }
    }

    /// Charge now if no call did yet; `Err` with `limited` when over the limit.
    pub async fn settle(&self) -> Result<(), StoreError> {
        let mut pending = self.pending.lock().await;
        match pending.take() {
            Some(c) => Self::judge(self.inner.charge_client(&c).await),
            None => Ok(()),
        }
    }
}

#[async_trait]
impl Store for Metered {
    async fn charge_client(&self, charge: &ClientCharge) -> Result<Option<u64>, StoreError> {
        self.inner.charge_client(charge).await
    }

    async fn get_user(&self, user: &Username) -> Result<Option<UserRecord>, StoreError> {
        let pending = self.pending.lock().await.take();
        match pending {
            Some(c) => {
                // One round trip: the charge and the read fly together.
                let (charged, read) =
                    tokio::join!(self.inner.charge_client(&c), self.inner.get_user(user));
                Self::judge(charged)?;
                read
            }
            None => self.inner.get_user(user).await,
        }
    }

    async fn create_user(&self, user: &NewUser, fx: &Effects) -> Result<Write, StoreError> {
        self.settle().await?;
        self.inner.create_user(user, fx).await
    }

    async fn issue_code(
        &self,
        user: &Username,
        issue: &CodeIssue,
        fx: &Effects,
    ) -> Result<Write, StoreError> {
        self.settle().await?;
        self.inner.issue_code(user, issue, fx).await
    }

    async fn record_failed_proof(
        &self,
        user: &Username,
        proof: &FailedProof,
        fx: &Effects,
    ) -> Result<Tallied, StoreError> {
        self.settle().await?;
        self.inner.record_failed_proof(user, proof, fx).await
    }

    async fn spend_code(
        &self,
        user: &Username,
        proof: &RightCode,
        fx: &Effects,
    ) -> Result<Write, StoreError> {
        self.settle().await?;
        self.inner.spend_code(user, proof, fx).await
    }

    async fn set_password(
        &self,
        user: &Username,
        write: &PasswordWrite,
        fx: &Effects,
    ) -> Result<Write, StoreError> {
        self.settle().await?;
        self.inner.set_password(user, write, fx).await
    }

    async fn record_signin_failure(
        &self,
        user: &Username,
        tally: &Tally,
        fx: &Effects,
    ) -> Result<Tallied, StoreError> {
        self.settle().await?;
        self.inner.record_signin_failure(user, tally, fx).await
    }

    async fn clear_signin_failures(&self, user: &Username) -> Result<Write, StoreError> {
        self.settle().await?;
        self.inner.clear_signin_failures(user).await
    }

    async fn rehash(&self, user: &Username, old: &str, new: &str) -> Result<Write, StoreError> {
        self.settle().await?;
        self.inner.rehash(user, old, new).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_change_remove_and_refuse() {
        let l = ClientLimits::default()
            .with_overrides("codes=3/60, token=off")
            .expect("valid");
        assert_eq!(
            l.0.get("codes"),
            Some(&Limit {
                max: 3,
                window_secs: 60
            })
        );
        assert!(!l.0.contains_key("token"));
        for bad in [
            "codes",
            "codes=3",
            "nope=1/60",
            "codes=0/60",
            "codes=1/0",
            "codes=x/60",
        ] {
            assert!(
                ClientLimits::default().with_overrides(bad).is_err(),
                "{bad}"
            );
        }
    }
}
