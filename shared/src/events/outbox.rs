//! The local event sink: each event, as one JSON line (`source`,
//! `detail-type`, `time`, `detail`), appended to the `events` file in the
//! outbox folder beside the mail, and logged. Never used deployed.

use std::path::PathBuf;

use async_trait::async_trait;
use tokio::io::AsyncWriteExt as _;

use super::{Event, Publish};

#[derive(Debug)]
pub struct OutboxEvents {
    file: PathBuf,
}

impl OutboxEvents {
    /// Append to `dir/events` (the folder is created if missing).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            file: dir.into().join("events"),
        }
    }

    pub fn file(&self) -> &std::path::Path {
        &self.file
    }

    async fn append(&self, lines: &str) -> std::io::Result<()> {
        if let Some(dir) = self.file.parent() {
            tokio::fs::create_dir_all(dir).await?;
        }
        let mut f = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.file)
            .await?;
        f.write_all(lines.as_bytes()).await?;
        f.flush().await
    }
}

#[async_trait]
impl Publish for OutboxEvents {
    async fn publish(&self, events: &[Event]) -> Vec<usize> {
        if events.is_empty() {
            return Vec::new();
        }
        let lines: String = events
            .iter()
            .map(|e| format!("{}\n", e.to_json()))
            .collect();
        match self.append(&lines).await {
            Ok(()) => {
                for e in events {
                    tracing::info!(id = %e.id, detail_type = e.detail_type, "event (local: the outbox's events file)");
                }
                Vec::new()
            }
            Err(err) => {
                tracing::warn!(error = %err, "events file not written; the records are read again");
                (0..events.len()).collect()
            }
        }
    }
}
