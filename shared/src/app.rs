//! The state a function builds once per cold start and every request shares.

use std::sync::Arc;

use crate::config::{Config, Secrets};
use crate::domain::{CodeKey, PasswordHasher};
use crate::ports::{Clock, Mailer, Store};
use crate::token::Keys;

/// Everything the flows need: configuration, the ports, keys and the hasher.
#[derive(Clone)]
pub struct App {
    pub config: Arc<Config>,
    pub store: Arc<dyn Store>,
    pub mailer: Arc<dyn Mailer>,
    pub clock: Arc<dyn Clock>,
    pub keys: Arc<Keys>,
    pub codes: Arc<CodeKey>,
    pub hasher: PasswordHasher,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App").field("config", &self.config).finish_non_exhaustive()
    }
}

impl App {
    pub fn new(
        config: Config,
        secrets: Secrets,
        store: Arc<dyn Store>,
        mailer: Arc<dyn Mailer>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let keys = Keys::from_seed(&secrets.signing_seed, &config.issuer);
        let hasher = PasswordHasher::new(config.hash);
        Self {
            codes: Arc::new(CodeKey::new(secrets.hmac_key)),
            keys: Arc::new(keys),
            hasher,
            config: Arc::new(config),
            store,
            mailer,
            clock,
        }
    }

    pub fn now(&self) -> i64 {
        self.clock.now()
    }
}
