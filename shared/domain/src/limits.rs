//! Per-client (IP) limits: every request of a limited route is counted against
//! its client's window in DynamoDB by one conditional write, made beside the
//! request's first read so it costs no extra round trip. Over the limit the
//! request does nothing (its store calls end in [`StoreError::OverLimit`])
//! and the answer is the meter's verdict, [`Admission::Limited`]: `429
//! too_many_requests` with `Retry-After`, made by the serving path.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::Mutex;

use crate::domain::{Tallied, UserRecord, Username};
use crate::ports::{
    Admission, Change, ClientCharge, ClientMeter, Effects, Failure, Store, StoreError, Write,
};
pub use crate::route_key::RouteKey;

/// A route's limit: at most `max` requests per client in `window_secs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub max: u32,
    pub window_secs: i64,
}

/// The limits per route. A route without one is unlimited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientLimits(pub BTreeMap<RouteKey, Limit>);

impl Default for ClientLimits {
    /// Generous enough for many users behind one NAT, tight enough to make
    /// guessing and mail bombing from one address slow.
    fn default() -> Self {
        let l = |max, window_secs| Limit { max, window_secs };
        Self(BTreeMap::from([
            (RouteKey::Register, l(20, 3600)),
            (RouteKey::Confirm, l(30, 600)),
            (RouteKey::Me, l(600, 600)),
            (RouteKey::Email, l(20, 600)),
            (RouteKey::Codes, l(30, 600)),
            (RouteKey::Verify, l(30, 600)),
            (RouteKey::Reset, l(30, 600)),
            (RouteKey::Change, l(20, 600)),
            (RouteKey::Unlock, l(30, 600)),
            (RouteKey::Token, l(60, 600)),
            (RouteKey::Methods, l(600, 600)),
            (RouteKey::MethodAdd, l(20, 600)),
            (RouteKey::MethodConfirm, l(30, 600)),
            (RouteKey::MethodRemove, l(20, 600)),
            (RouteKey::Reconfirm, l(20, 600)),
            (RouteKey::RecoveryCodes, l(10, 600)),
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
            let key = RouteKey::parse(route.trim()).ok_or_else(|| {
                let names: Vec<&str> = RouteKey::ALL.iter().map(|k| k.as_str()).collect();
                format!("`{route}` is not one of {}", names.join(", "))
            })?;
            if value.trim() == "off" {
                self.0.remove(&key);
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

/// The account store for one request of a limited route: its first call also
/// charges the client (concurrently with a read, before a write), and once
/// the client is found over its limit no call reaches the store. The verdict
/// is kept as a value ([`Metered::settle`]); the flow is only stopped.
pub struct Metered {
    inner: Arc<dyn Store>,
    meter: Arc<dyn ClientMeter>,
    pending: Mutex<Option<ClientCharge>>,
    verdict: std::sync::OnceLock<Admission>,
}

impl Metered {
    pub fn new(inner: Arc<dyn Store>, meter: Arc<dyn ClientMeter>, charge: ClientCharge) -> Self {
        Self {
            inner,
            meter,
            pending: Mutex::new(Some(charge)),
            verdict: std::sync::OnceLock::new(),
        }
    }

    /// Keep the charge's verdict; a client over its limit stops the flow.
    fn judge(&self, r: Result<Admission, StoreError>) -> Result<(), StoreError> {
        let a = *self.verdict.get_or_init(|| match &r {
            Ok(a) => *a,
            // A charge that failed admits the request: the store error stops it anyway.
            Err(_) => Admission::Within,
        });
        r?;
        match a {
            Admission::Within => Ok(()),
            Admission::Limited { .. } => Err(StoreError::OverLimit),
        }
    }

    /// Where the request stands: charged now if no call did it yet.
    pub async fn settle(&self) -> Result<Admission, StoreError> {
        let pending = self.pending.lock().await.take();
        if let Some(c) = pending {
            // An unanswered charge is a store failure (503), not a verdict.
            let a = self.meter.charge(&c).await?;
            let _ = self.judge(Ok(a));
        }
        Ok(self.verdict.get().copied().unwrap_or(Admission::Within))
    }

    async fn before_write(&self) -> Result<(), StoreError> {
        match self.settle().await? {
            Admission::Within => Ok(()),
            Admission::Limited { .. } => Err(StoreError::OverLimit),
        }
    }
}

#[async_trait]
impl Store for Metered {
    async fn get_user(&self, user: &Username) -> Result<Option<UserRecord>, StoreError> {
        let pending = self.pending.lock().await.take();
        match pending {
            Some(c) => {
                // One round trip: the charge and the read fly together.
                let (charged, read) =
                    tokio::join!(self.meter.charge(&c), self.inner.get_user(user));
                self.judge(charged)?;
                read
            }
            None => {
                self.before_write().await?;
                self.inner.get_user(user).await
            }
        }
    }

    async fn write(
        &self,
        user: &Username,
        change: &Change,
        fx: &Effects,
    ) -> Result<Write, StoreError> {
        self.before_write().await?;
        self.inner.write(user, change, fx).await
    }

    async fn count(
        &self,
        user: &Username,
        failure: &Failure,
        fx: &Effects,
    ) -> Result<Tallied, StoreError> {
        self.before_write().await?;
        self.inner.count(user, failure, fx).await
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
            l.0.get(&RouteKey::Codes),
            Some(&Limit {
                max: 3,
                window_secs: 60
            })
        );
        assert!(!l.0.contains_key(&RouteKey::Token));
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
