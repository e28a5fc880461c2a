//! dynoxide served in-process on a loopback port, for the local host and the
//! tests. The store talks to it over HTTP through the very same SDK client
//! code as it does to DynamoDB.

use std::path::Path;

use tokio::sync::oneshot;

/// A running embedded DynamoDB endpoint; dropping it stops the server.
#[derive(Debug)]
pub struct EmbeddedDynamo {
    endpoint: String,
    stop: Option<oneshot::Sender<()>>,
}

impl EmbeddedDynamo {
    /// Start dynoxide on `127.0.0.1` (a free port), in memory or on the SQLite
    /// file at `data`.
    pub async fn start(data: Option<&Path>) -> Result<Self, String> {
        Self::start_on("127.0.0.1:0", data).await
    }

    /// Start dynoxide on `addr` (a loopback address with a port, 0 for any free one).
    pub async fn start_on(addr: &str, data: Option<&Path>) -> Result<Self, String> {
        let db = match data {
            None => dynoxide::Database::memory(),
            Some(p) => dynoxide::Database::new(&p.to_string_lossy()),
        }
        .map_err(|e| format!("dynoxide: {e}"))?;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| format!("bind dynoxide: {e}"))?;
        let addr = listener
            .local_addr()
            .map_err(|e| format!("dynoxide address: {e}"))?;
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let shutdown = async move {
                let _ = stopped.await;
            };
            if let Err(e) = dynoxide::server::serve_with_shutdown(listener, db, shutdown).await {
                tracing::error!(error = %e, "embedded dynoxide stopped");
            }
        });
        Ok(Self {
            endpoint: format!("http://{addr}"),
            stop: Some(stop),
        })
    }

    /// The endpoint URL (`http://127.0.0.1:PORT`).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }
}

impl Drop for EmbeddedDynamo {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
