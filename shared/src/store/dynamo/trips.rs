//! Round trips and IAM actions, counted where they happen: on the wire, by
//! an interceptor on the store's SDK client. The budget of two round trips per
//! route and the IAM test's check of the template's grants read these.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use aws_sdk_dynamodb::Client;

/// Counts the DynamoDB round trips (for the budget of two per route) and the
/// IAM actions the calls need (to hold the SAM template's policies to what the
/// code calls).
///
/// Round trips are counted on the wire, by [`CountTrips`], an interceptor on
/// the store's SDK client: a round trip is a stretch of time with at least one
/// HTTP attempt in flight, so calls sent together (the per-client charge beside
/// the first read) share one, and an SDK retry is one more.
#[derive(Debug, Default)]
pub struct RoundTrips {
    calls: AtomicU64,
    attempts: AtomicU64,
    trips: AtomicU64,
    in_flight: AtomicU64,
    actions: std::sync::Mutex<std::collections::BTreeSet<&'static str>>,
}

impl RoundTrips {
    /// Sequential round trips so far, as the SDK sent them.
    pub fn get(&self) -> u64 {
        self.trips.load(Ordering::SeqCst)
    }

    /// HTTP attempts the SDK sent so far (retries included).
    pub fn attempts(&self) -> u64 {
        self.attempts.load(Ordering::SeqCst)
    }

    /// Store calls so far (one per operation, before any retry).
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }

    /// A store call that needs `actions`.
    pub(super) fn note(&self, actions: &[&'static str]) {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut set) = self.actions.lock() {
            set.extend(actions.iter().copied());
        }
    }

    /// The IAM actions the calls so far needed (`dynamodb:GetItem`, ...).
    pub fn actions(&self) -> Vec<&'static str> {
        self.actions
            .lock()
            .map(|a| a.iter().copied().collect())
            .unwrap_or_default()
    }
}

/// The SDK interceptor behind [`RoundTrips`]: an attempt is in flight from just
/// before it is transmitted until the SDK is done with it (answered, failed or
/// timed out).
#[derive(Debug, Clone)]
pub struct CountTrips(Arc<RoundTrips>);

/// Marks an attempt that [`CountTrips`] saw go out, so that only those end.
#[derive(Debug, Clone)]
struct Transmitted;

impl aws_smithy_types::config_bag::Storable for Transmitted {
    type Storer = aws_smithy_types::config_bag::StoreReplace<Self>;
}

impl aws_sdk_dynamodb::config::Intercept for CountTrips {
    fn name(&self) -> &'static str {
        "CountTrips"
    }

    fn read_before_transmit(
        &self,
        _context: &aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef<'_>,
        _components: &aws_sdk_dynamodb::config::RuntimeComponents,
        cfg: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        let t = &self.0;
        t.attempts.fetch_add(1, Ordering::SeqCst);
        if t.in_flight.fetch_add(1, Ordering::SeqCst) == 0 {
            t.trips.fetch_add(1, Ordering::SeqCst);
        }
        cfg.interceptor_state().store_put(Transmitted);
        Ok(())
    }

    fn read_after_attempt(
        &self,
        _context: &aws_sdk_dynamodb::config::interceptors::FinalizerInterceptorContextRef<'_>,
        _components: &aws_sdk_dynamodb::config::RuntimeComponents,
        cfg: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        if cfg.load::<Transmitted>().is_some() {
            cfg.interceptor_state().unset::<Transmitted>();
            self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
        }
        Ok(())
    }
}

/// `client` with a fresh [`RoundTrips`] counting on it.
pub(super) fn counted(base: &aws_sdk_dynamodb::Config) -> (Client, Arc<RoundTrips>) {
    let trips = Arc::new(RoundTrips::default());
    let config = base
        .to_builder()
        .interceptor(CountTrips(trips.clone()))
        .build();
    (Client::from_conf(config), trips)
}
