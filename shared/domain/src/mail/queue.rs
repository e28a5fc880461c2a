//! The transactional outbox: a mail is queued as an item written in the same
//! transaction as the change it tells of, and a mailer fed from the table's
//! stream sends it afterwards. So no request waits for a mail service (which
//! would let its answer's time tell who has an account), and no mail goes out
//! for a change that did not commit.
//!
//! A queued mail holds what the message says, the code included, sealed with
//! ChaCha20-Poly1305 under a key derived from the master secret and bound to its
//! user and id: the table holds no readable code, as it holds only HMACs of them
//! beside it, and a sealed mail moved to another user's item does not open.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::Message;
use crate::domain::{CodeDigest, Locale, Purpose, Username};
use crate::keyring::{open, seal, sealed_version, Ring};

/// The keys that seal queued mail: the keyring's mail key of each version,
/// in the one seal of `keyring::seal`.
#[derive(Clone)]
pub struct MailKey(Arc<Ring>);

impl std::fmt::Debug for MailKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MailKey([redacted])")
    }
}

impl MailKey {
    pub fn new(ring: Arc<Ring>) -> Self {
        Self(ring)
    }

    /// Sealed under the current version.
    fn seal(&self, aad: &[u8], plain: &[u8]) -> Vec<u8> {
        let sets = self.0.sets();
        let set = sets.current();
        seal(set.mail.as_ref(), set.version, aad, plain)
    }

    fn open(&self, aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
        let sets = self.0.sets();
        open(|v| sets.get(v).and_then(|s| s.mail.as_ref()), aad, sealed)
    }

    /// The keyring under these keys.
    pub fn ring(&self) -> &Arc<Ring> {
        &self.0
    }
}

/// What a sealed mail says.
#[derive(Serialize, Deserialize)]
struct Letter {
    to: String,
    locale: String,
    message: Message,
}

fn aad(user: &Username, id: &str) -> Vec<u8> {
    format!("sspr/mail/v1\0{}\0{id}", user.as_str()).into_bytes()
}

/// A mail to send once the write that queues it commits.
#[derive(Clone)]
pub struct QueuedMail {
    /// Unique per mail: the item's key and, with the user, what the seal is bound to.
    pub id: String,
    /// The message kind (`reset_code`, ...): for logs, metrics and the outbox file name.
    pub kind: &'static str,
    pub sealed: Vec<u8>,
    /// A code mail: the code to revoke when it cannot be delivered.
    pub code: Option<(Purpose, CodeDigest)>,
    /// Not worth sending after this (a code's expiry).
    pub send_by: i64,
    pub queued_at: i64,
}

impl std::fmt::Debug for QueuedMail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueuedMail")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

/// How long a notice (a mail without a code) stays worth sending.
pub const NOTICE_SEND_BY_SECS: i64 = 86_400;

impl QueuedMail {
    /// Seal `message` to `to`, in `locale`, for `user`, queued at `now`.
    pub fn new(
        key: &MailKey,
        user: &Username,
        to: &str,
        locale: Locale,
        message: Message,
        now: i64,
    ) -> Self {
        let id = format!("{now:012}#{}", uuid::Uuid::new_v4().simple());
        let kind = message.kind();
        let letter = Letter {
            to: to.to_owned(),
            locale: locale.as_str().to_owned(),
            message,
        };
        let plain = serde_json::to_vec(&letter).unwrap_or_default();
        Self {
            sealed: key.seal(&aad(user, &id), &plain),
            id,
            kind,
            code: None,
            send_by: now + NOTICE_SEND_BY_SECS,
            queued_at: now,
        }
    }

    /// A code mail: revoked when it cannot be delivered, dropped once the code expired.
    pub fn for_code(mut self, purpose: Purpose, digest: CodeDigest, expires_at: i64) -> Self {
        self.code = Some((purpose, digest));
        self.send_by = expires_at;
        self
    }
}

/// A queued mail as the store holds it.
#[derive(Clone)]
pub struct StoredMail {
    pub user: Username,
    pub id: String,
    pub kind: String,
    pub sealed: Vec<u8>,
    pub code: Option<(Purpose, CodeDigest)>,
    pub send_by: i64,
    pub queued_at: i64,
}

impl std::fmt::Debug for StoredMail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredMail")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

/// An opened mail: who it goes to, in which language, and what it says.
pub struct Opened {
    pub to: String,
    pub locale: Locale,
    pub message: Message,
}

impl StoredMail {
    /// The version its seal was made under.
    pub fn version(&self) -> Option<u32> {
        sealed_version(&self.sealed)
    }

    /// The seal made again under the current version (`None` if it is
    /// current already or does not open): what a reseal writes over it.
    pub fn resealed(&self, key: &MailKey) -> Option<Vec<u8>> {
        if self.version()? == key.0.sets().current().version {
            return None;
        }
        let aad = aad(&self.user, &self.id);
        let plain = key.open(&aad, &self.sealed)?;
        Some(key.seal(&aad, &plain))
    }

    /// Open the seal; `None` when it was sealed under another key (a local host
    /// restarted with throwaway keys), tampered with, or moved.
    pub fn open(&self, key: &MailKey) -> Option<Opened> {
        let plain = key.open(&aad(&self.user, &self.id), &self.sealed)?;
        let letter: Letter = serde_json::from_slice(&plain).ok()?;
        Some(Opened {
            to: letter.to,
            locale: Locale::parse(&letter.locale).unwrap_or_default(),
            message: letter.message,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A key over a keyring of its own (the argument tells two apart).
    fn key(b: u8) -> MailKey {
        MailKey::new(Ring::of_master(
            &char::from(b'a' + b).to_string().repeat(40),
        ))
    }

    fn stored(q: &QueuedMail, user: &Username) -> StoredMail {
        StoredMail {
            user: user.clone(),
            id: q.id.clone(),
            kind: q.kind.into(),
            sealed: q.sealed.clone(),
            code: q.code.clone(),
            send_by: q.send_by,
            queued_at: q.queued_at,
        }
    }

    #[test]
    fn a_queued_code_is_sealed_and_opens_only_with_its_key_user_and_id() {
        let alice = Username::parse("alice").expect("valid");
        let msg = Message::ResetCode {
            code: "493817".into(),
            minutes: 10,
            link: None,
        };
        let q = QueuedMail::new(
            &key(1),
            &alice,
            "a@example.com",
            Locale::parse("de").expect("de"),
            msg,
            1000,
        );
        let text = String::from_utf8_lossy(&q.sealed);
        assert!(!text.contains("493817"), "the code is not in the clear");
        assert!(!text.contains("a@example.com"));

        let opened = stored(&q, &alice).open(&key(1)).expect("opens");
        assert_eq!(opened.to, "a@example.com");
        assert_eq!(opened.locale.as_str(), "de");
        assert_eq!(opened.message.code(), Some("493817"));

        assert!(stored(&q, &alice).open(&key(2)).is_none(), "another key");
        let mallory = Username::parse("mallory").expect("valid");
        assert!(
            stored(&q, &mallory).open(&key(1)).is_none(),
            "moved to another user"
        );
        let mut other_id = stored(&q, &alice);
        other_id.id.push('x');
        assert!(other_id.open(&key(1)).is_none(), "another id");
        let mut tampered = stored(&q, &alice);
        if let Some(b) = tampered.sealed.last_mut() {
            *b ^= 1;
        }
        assert!(tampered.open(&key(1)).is_none(), "tampered");
        let mut short = stored(&q, &alice);
        short.sealed.truncate(5);
        assert!(short.open(&key(1)).is_none(), "cut short");
    }

    #[test]
    fn a_notice_is_worth_a_day_and_a_code_mail_lives_as_long_as_its_code() {
        let alice = Username::parse("alice").expect("valid");
        let notice = Message::SignInLocked {
            failures: 10,
            minutes: 15,
        };
        let q = QueuedMail::new(
            &key(1),
            &alice,
            "a@example.com",
            Locale::default(),
            notice,
            1000,
        );
        assert_eq!(q.send_by, 1000 + NOTICE_SEND_BY_SECS);
        assert!(q.code.is_none());
        let code = QueuedMail::new(
            &key(1),
            &alice,
            "a@example.com",
            Locale::default(),
            Message::UnlockCode {
                code: "111111".into(),
                minutes: 10,
            },
            1000,
        )
        .for_code(
            Purpose::UnlockAccount,
            CodeDigest::from_stored("ab".into()),
            1600,
        );
        assert_eq!(code.send_by, 1600);
        assert!(
            !format!("{code:?}").contains("111111"),
            "Debug hides the code"
        );
    }
}
