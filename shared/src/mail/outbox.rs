//! The local mailer: each message goes to stdout and, as an `.eml` file, into
//! the outbox folder. Never used deployed.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;

use super::to_eml;
use crate::ports::{MailError, Mailer, OutgoingMail};

#[derive(Debug)]
pub struct OutboxMailer {
    dir: PathBuf,
    from: String,
    echo: bool,
    seq: AtomicU64,
}

impl OutboxMailer {
    /// Write into `dir` (created if missing); `echo` prints each message to stdout too.
    pub fn new(dir: impl Into<PathBuf>, from: impl Into<String>, echo: bool) -> Self {
        Self {
            dir: dir.into(),
            from: from.into(),
            echo,
            seq: AtomicU64::new(0),
        }
    }

    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }
}

#[async_trait]
impl Mailer for OutboxMailer {
    async fn send(&self, mail: &OutgoingMail) -> Result<(), MailError> {
        let now = time::OffsetDateTime::now_utc();
        let date = now
            .format(&time::format_description::well_known::Rfc2822)
            .unwrap_or_default();
        let id = uuid::Uuid::new_v4();
        let eml = to_eml(&self.from, mail, &date, &format!("{id}@sspr.local"))?;
        let seq = self.seq.fetch_add(1, Ordering::SeqCst);
        let safe_to: String = mail
            .to
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '@' | '.' | '-' | '_') {
                    c
                } else {
                    '_'
                }
            })
            .take(80)
            .collect();
        let name = format!(
            "{}-{seq:06}-{}-{safe_to}.eml",
            now.unix_timestamp_nanos(),
            mail.kind
        );
        let err = |what| {
            move |e: std::io::Error| MailError {
                what,
                source: Some(Box::new(e)),
            }
        };
        tokio::fs::create_dir_all(&self.dir)
            .await
            .map_err(err("outbox folder"))?;
        tokio::fs::write(self.dir.join(name), eml.as_bytes())
            .await
            .map_err(err("outbox write"))?;
        if self.echo {
            println!(
                "----- mail to {} -----\n{}----- end of mail -----",
                mail.to,
                eml.replace("\r\n", "\n")
            );
        }
        Ok(())
    }
}
