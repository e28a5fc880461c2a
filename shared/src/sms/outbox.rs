//! The local SMS sender: each text message goes, as a `.sms.txt` file with a
//! `To:` line and the text, into the outbox folder beside the mail, and to
//! stdout. Never used deployed.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;

use crate::ports::{MailError, OutgoingSms, SmsSender};

#[derive(Debug)]
pub struct OutboxSmsSender {
    dir: PathBuf,
    echo: bool,
    seq: AtomicU64,
}

impl OutboxSmsSender {
    /// Write into `dir` (created if missing); `echo` prints each message to stdout too.
    pub fn new(dir: impl Into<PathBuf>, echo: bool) -> Self {
        Self {
            dir: dir.into(),
            echo,
            seq: AtomicU64::new(0),
        }
    }

    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }
}

/// The file's contents: the `To:` line, a blank line, the text.
pub fn sms_file(sms: &OutgoingSms) -> String {
    let to: String = sms.to.chars().filter(|c| !c.is_control()).collect();
    format!("To: {to}\n\n{}\n", sms.text)
}

#[async_trait]
impl SmsSender for OutboxSmsSender {
    async fn send(&self, sms: &OutgoingSms) -> Result<(), MailError> {
        let now = time::OffsetDateTime::now_utc();
        let seq = self.seq.fetch_add(1, Ordering::SeqCst);
        // Named by time and kind only: the number stays out of file names
        // (it is in the file). The sequence keeps names apart and in order.
        let name = format!(
            "{}-{seq:06}-{}.sms.txt",
            now.unix_timestamp_nanos(),
            sms.kind
        );
        let err = |what| {
            move |e: std::io::Error| MailError {
                what,
                source: Some(Box::new(e)),
            }
        };
        let body = sms_file(sms);
        tokio::fs::create_dir_all(&self.dir)
            .await
            .map_err(err("outbox folder"))?;
        tokio::fs::write(self.dir.join(name), body.as_bytes())
            .await
            .map_err(err("outbox write"))?;
        if self.echo {
            println!("----- sms -----\n{body}----- end of sms -----");
        }
        Ok(())
    }
}
