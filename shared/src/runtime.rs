//! The one start of every deployed function: the Tokio runtime
//! `#[tokio::main]` would build, the logs as the environment says (Lambda's
//! JSON format when its `LoggingConfig` asks for it: [`crate::logs`]), the
//! function's state built once per cold start, then the Lambda runtime on the
//! service made of it. The HTTP functions start through
//! [`http::start`](crate::http::start) (their service is the entry point of
//! `http/entry.rs`); the stream functions (`mailer`, `events`) and `rotate`
//! through [`start_handler`], with the state and the handler they name.

use std::future::Future;
use std::sync::Arc;

use lambda_http::lambda_runtime::{self, streaming, Diagnostic, Error, LambdaEvent, Service};
use serde::{Deserialize, Serialize};

/// Start a function: `init` builds its service once per cold start (after the
/// logs are set up, so what it logs is in the function's format), and every
/// invocation goes through that service.
pub fn start<Init, Fut, F, A>(init: Init) -> Result<(), Error>
where
    Init: FnOnce() -> Fut,
    Fut: Future<Output = Result<F, Error>>,
    F: Service<LambdaEvent<A>>,
    F::Future: Future<Output = Result<F::Response, F::Error>>,
    F::Error: Into<Diagnostic> + std::fmt::Debug,
    F::Response: Serialize,
    A: for<'de> Deserialize<'de>,
{
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(async {
            crate::logs::init();
            let service = init().await?;
            lambda_runtime::run::<A, F, F::Response, F::Response, streaming::Body, _, _>(service)
                .await
        })
}

/// Start a function whose state `init` builds once per cold start and whose
/// `handler` takes that state and each invocation's payload (its typed event).
pub fn start_handler<T, Init, InitFut, A, R, H, Fut>(init: Init, handler: H) -> Result<(), Error>
where
    T: Send + Sync + 'static,
    Init: FnOnce() -> InitFut,
    InitFut: Future<Output = Result<T, Error>>,
    A: for<'de> Deserialize<'de>,
    R: Serialize,
    H: Fn(Arc<T>, A) -> Fut,
    Fut: Future<Output = Result<R, Error>>,
{
    start(|| async move {
        let state = Arc::new(init().await?);
        Ok(lambda_runtime::service_fn(move |event: LambdaEvent<A>| {
            handler(state.clone(), event.payload)
        }))
    })
}
