//! Every lifecycle sspr keeps, as pure functions of the stored state and the
//! time, in the manner of kanidm's `credential/softlock.rs`: where a code
//! stands (pending, spent, burned, expired), whether a proof is right, the
//! per-user send limit, the block on resets after failed proofs, the sign-in
//! lock after wrong passwords, and the window a counted failure lands in.
//!
//! Nothing here reads or writes: the flows ask these functions what is true,
//! and hand what they return (a [`SendSlot`], a [`Tally`]) to the store, whose
//! conditional write re-asserts it at the moment it lands. So the rule is
//! written once, here, and a race can only make a write fail, never break the
//! rule.

use super::policy::{CodePolicy, SignInPolicy};
use super::user::{CodeSlot, Failures};
use super::CodeDigest;

/// Where a code of one purpose stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeState {
    /// No code was ever sent for this purpose.
    None,
    /// Sent, unexpired, not yet used, guesses left.
    Pending,
    /// Used once; it proves nothing more.
    Spent,
    /// Too many wrong guesses.
    Burned,
    /// Its lifetime is over.
    Expired,
}

impl CodeSlot {
    /// Where this slot's code stands at `now`.
    pub fn state(&self, now: i64, max_attempts: u32) -> CodeState {
        match &self.digest {
            None => CodeState::None,
            Some(_) if self.spent => CodeState::Spent,
            Some(_) if self.attempts >= max_attempts => CodeState::Burned,
            Some(_) if self.expires_at <= now => CodeState::Expired,
            Some(_) => CodeState::Pending,
        }
    }

    /// Judge a proof: the digest of the code given against the slot's.
    pub fn judge(&self, given: &CodeDigest, now: i64, max_attempts: u32) -> ProofVerdict {
        let pending = self.state(now, max_attempts) == CodeState::Pending;
        let right = self.digest.as_ref().is_some_and(|d| d.matches(given));
        match (pending, right) {
            (true, true) => ProofVerdict::Right,
            (true, false) => ProofVerdict::Wrong { against_code: true },
            (false, _) => ProofVerdict::Wrong {
                against_code: false,
            },
        }
    }
}

/// What a proof of a code is worth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProofVerdict {
    /// The code is pending and this is it: spend it.
    Right,
    /// Wrong, or the code is not pending. `against_code`: the code was live,
    /// so the guess counts toward burning it.
    Wrong { against_code: bool },
}

/// Which window a count is made in, as read; the write re-asserts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendWindow {
    /// The current window is still open.
    Current,
    /// The last window has closed; this count opens a new one.
    Fresh,
}

/// Whether a window that started at `start` and lasts `len` seconds is still open at `now`.
pub fn window_at(start: i64, now: i64, len: i64) -> SendWindow {
    if start > now - len {
        SendWindow::Current
    } else {
        SendWindow::Fresh
    }
}

/// Room for one more code under the send limit, as the write must find it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendSlot {
    pub window: SendWindow,
    /// Windows that started at or before this are closed.
    pub window_cut: i64,
    pub max_sends: u32,
    /// The recipient's key ([`super::CodeKey::recipient`]): the spacing is its own.
    pub recipient: String,
    /// The previous code to this recipient must have gone at or before this.
    pub interval_cut: i64,
}

/// The send limit holds: no code until `retry_after` seconds have passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    pub retry_after: u64,
}

/// The per-user send limit of one purpose: at most `max_sends` codes in a
/// `send_window`, and none to the same `recipient` sooner than
/// `min_interval` after the last one that went there (DESIGN.md "Codes": a
/// user who corrects a mistyped address gets the code at once).
pub fn may_send(
    slot: &CodeSlot,
    recipient: &str,
    p: &CodePolicy,
    now: i64,
) -> Result<SendSlot, Limited> {
    let window_len = p.send_window.as_secs() as i64;
    let interval = p.min_interval.as_secs() as i64;
    let window = window_at(slot.window_start, now, window_len);
    let interval_cut = now - interval;
    let full = window == SendWindow::Current && slot.window_count >= p.max_sends;
    let last_here = slot.sent_to.get(recipient).copied().unwrap_or(0);
    if full || last_here > interval_cut {
        let until = if full {
            slot.window_start + window_len
        } else {
            last_here + interval
        };
        return Err(Limited {
            retry_after: (until - now).max(1) as u64,
        });
    }
    Ok(SendSlot {
        window,
        window_cut: now - window_len,
        max_sends: p.max_sends,
        recipient: recipient.to_owned(),
        interval_cut,
    })
}

/// A failure counter's hold: the reset block or the sign-in lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    Open,
    /// Held until this time (unless lifted sooner: an unlock code, a reset).
    Until(i64),
}

impl Hold {
    pub fn holds(self) -> bool {
        matches!(self, Hold::Until(_))
    }
}

/// `max` failures, the last of them less than `lasts` seconds ago, hold.
fn hold(f: &Failures, max: u32, lasts: i64, now: i64) -> Hold {
    if f.count >= max && f.last > now - lasts {
        Hold::Until(f.last + lasts)
    } else {
        Hold::Open
    }
}

/// The block on resets: too many failed proofs, the last of them recent.
pub fn reset_block(proofs: &Failures, p: &CodePolicy, now: i64) -> Hold {
    hold(
        proofs,
        p.max_failed_proofs,
        p.block_for.as_secs() as i64,
        now,
    )
}

/// A block counted before this time has lapsed (what a write re-asserts).
pub fn block_cut(p: &CodePolicy, now: i64) -> i64 {
    now - p.block_for.as_secs() as i64
}

/// The sign-in lock: too many wrong passwords, the last of them recent.
pub fn signin_lock(signin: &Failures, p: &SignInPolicy, now: i64) -> Hold {
    hold(signin, p.max_failures, p.lock_for.as_secs() as i64, now)
}

/// A lock counted before this time has lapsed (what a write re-asserts).
pub fn lock_cut(p: &SignInPolicy, now: i64) -> i64 {
    now - p.lock_for.as_secs() as i64
}

/// One more counted failure (a wrong password at sign-in, a failed reset
/// proof), as the flow expects it to land: in the window as read, and either
/// the one that reaches the limit or not. The write re-asserts both, so of a
/// burst of failures exactly one is the one that reaches the limit (and
/// carries the lock's audit event and notice), whatever order they land in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    pub window: SendWindow,
    /// Windows that started at or before this are closed.
    pub window_cut: i64,
    pub limit: u32,
    /// This failure takes the count from `limit - 1` to `limit`.
    pub reaches: bool,
    pub now: i64,
}

/// What became of a [`Tally`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tallied {
    Applied,
    /// The counter was not as expected; this is where it stood.
    Moved {
        window_start: i64,
        count: u32,
    },
    /// No such user (any more).
    Gone,
}

/// The tally of one more failure on a counter that stood at `count` in a
/// window that started at `window_start`: in that window if it is still open
/// (else a fresh one: the window flip), and whether it is the failure that
/// reaches `limit`.
pub fn tally_from(window_start: i64, count: u32, limit: u32, window_len: i64, now: i64) -> Tally {
    let window = window_at(window_start, now, window_len);
    let after = match window {
        SendWindow::Current => count.saturating_add(1),
        SendWindow::Fresh => 1,
    };
    Tally {
        window,
        window_cut: now - window_len,
        limit,
        reaches: after == limit,
        now,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::domain::{Code, CodeKey, Purpose, Username};

    fn digest(code: &str) -> CodeDigest {
        let key = CodeKey::new(crate::keyring::Ring::of_master(&"k".repeat(40)));
        let user = Username::parse("alice").expect("valid");
        let code = Code::parse(code, 6).expect("valid");
        key.digest(Purpose::ResetPassword, &user, &code)
    }

    fn pending(expires_at: i64) -> CodeSlot {
        CodeSlot {
            digest: Some(digest("123456")),
            expires_at,
            ..CodeSlot::default()
        }
    }

    #[test]
    fn a_code_is_pending_until_spent_burned_or_expired() {
        assert_eq!(CodeSlot::default().state(100, 5), CodeState::None);
        let slot = pending(200);
        assert_eq!(slot.state(199, 5), CodeState::Pending);
        assert_eq!(
            slot.state(200, 5),
            CodeState::Expired,
            "expiry is exclusive"
        );
        let spent = CodeSlot {
            spent: true,
            ..slot.clone()
        };
        assert_eq!(spent.state(100, 5), CodeState::Spent);
        let burned = CodeSlot {
            attempts: 5,
            ..slot.clone()
        };
        assert_eq!(burned.state(100, 5), CodeState::Burned);
        // Spent outranks burned and expired: a used code is used.
        let both = CodeSlot {
            spent: true,
            attempts: 9,
            ..slot
        };
        assert_eq!(both.state(300, 5), CodeState::Spent);
    }

    #[test]
    fn only_the_right_code_while_pending_is_right() {
        let slot = pending(200);
        assert_eq!(slot.judge(&digest("123456"), 100, 5), ProofVerdict::Right);
        assert_eq!(
            slot.judge(&digest("654321"), 100, 5),
            ProofVerdict::Wrong { against_code: true }
        );
        // The right code once it has expired: wrong, and nothing left to burn.
        assert_eq!(
            slot.judge(&digest("123456"), 200, 5),
            ProofVerdict::Wrong {
                against_code: false
            }
        );
        assert_eq!(
            CodeSlot::default().judge(&digest("123456"), 100, 5),
            ProofVerdict::Wrong {
                against_code: false
            }
        );
    }

    fn policy() -> CodePolicy {
        CodePolicy {
            max_sends: 3,
            send_window: Duration::from_secs(3600),
            min_interval: Duration::from_secs(60),
            ..CodePolicy::default()
        }
    }

    #[test]
    fn the_send_limit_counts_per_window_and_spaces_codes_per_recipient() {
        let p = policy();
        let first = may_send(&CodeSlot::default(), "a", &p, 10_000).expect("room");
        assert_eq!(first.window, SendWindow::Fresh);
        assert_eq!(first.window_cut, 10_000 - 3600);
        assert_eq!(first.interval_cut, 10_000 - 60);
        assert_eq!(first.recipient, "a");
        let slot = CodeSlot {
            window_start: 10_000,
            window_count: 1,
            last_sent: 10_000,
            sent_to: [("a".to_owned(), 10_000)].into(),
            ..CodeSlot::default()
        };
        assert_eq!(
            may_send(&slot, "a", &p, 10_030),
            Err(Limited { retry_after: 30 }),
            "one a minute to the same recipient"
        );
        assert_eq!(
            may_send(&slot, "b", &p, 10_030).map(|s| s.window),
            Ok(SendWindow::Current),
            "another recipient gets its code at once"
        );
        assert_eq!(
            may_send(&slot, "a", &p, 10_060).map(|s| s.window),
            Ok(SendWindow::Current)
        );
        let full = CodeSlot {
            window_count: 3,
            ..slot
        };
        assert_eq!(
            may_send(&full, "b", &p, 10_600),
            Err(Limited { retry_after: 3000 }),
            "the hourly cap is per user and purpose, whatever the recipient"
        );
        assert_eq!(
            may_send(&full, "a", &p, 13_600).map(|s| s.window),
            Ok(SendWindow::Fresh),
            "a closed window opens a new one"
        );
        assert_eq!(
            may_send(&full, "a", &p, 13_599),
            Err(Limited { retry_after: 1 }),
            "never less than a second"
        );
    }

    #[test]
    fn a_hold_lasts_from_the_last_counted_failure_for_its_time() {
        let (codes, signin) = (CodePolicy::default(), SignInPolicy::default());
        let block = codes.block_for.as_secs() as i64;
        let lock = signin.lock_for.as_secs() as i64;
        let at = |count| Failures {
            window_start: 0,
            count,
            last: 1000,
        };
        // Resets: blocked at five failed proofs, for a day from the last.
        assert_eq!(reset_block(&at(4), &codes, 1000), Hold::Open);
        assert_eq!(reset_block(&at(5), &codes, 1000), Hold::Until(1000 + block));
        assert!(reset_block(&at(5), &codes, 999 + block).holds());
        assert!(!reset_block(&at(5), &codes, 1000 + block).holds());
        assert_eq!(block_cut(&codes, 1000 + block), 1000);
        // Sign-in: locked at ten wrong passwords, for fifteen minutes.
        assert_eq!(signin_lock(&at(9), &signin, 1000), Hold::Open);
        assert_eq!(
            signin_lock(&at(10), &signin, 1000),
            Hold::Until(1000 + lock)
        );
        assert_eq!(signin_lock(&at(10), &signin, 1000 + lock), Hold::Open);
        assert_eq!(lock_cut(&signin, 1000 + lock), 1000);
    }

    #[test]
    fn a_failure_in_an_open_window_counts_on_and_the_limit_is_reached_once() {
        let t = tally_from(100, 3, 5, 60, 120);
        assert_eq!(t.window, SendWindow::Current);
        assert!(!t.reaches);
        assert_eq!(t.window_cut, 60);
        assert!(tally_from(100, 4, 5, 60, 120).reaches, "4 -> 5 reaches");
        assert!(!tally_from(100, 5, 5, 60, 120).reaches, "5 -> 6 is past it");
    }

    #[test]
    fn a_failure_after_the_window_closed_opens_a_fresh_one() {
        let t = tally_from(100, 4, 5, 60, 160);
        assert_eq!(t.window, SendWindow::Fresh, "100 + 60 <= 160");
        assert!(!t.reaches);
        assert!(tally_from(100, 9, 1, 60, 160).reaches, "a limit of one");
        assert_eq!(window_at(100, 159, 60), SendWindow::Current);
        assert_eq!(window_at(100, 160, 60), SendWindow::Fresh);
    }
}
