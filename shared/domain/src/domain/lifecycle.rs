//! Every lifecycle sspr keeps, as pure functions of the stored state and the
//! time, in the manner of kanidm's `credential/softlock.rs`: where a code
//! stands (pending, spent, burned, expired), whether a proof is right, the
//! per-user send limit, the block on resets after failed proofs, the sign-in
//! lock after wrong passwords, the window a counted failure lands in, the
//! reset journey through its gates ([`ResetStage`], [`next`]) and a method's
//! pending -> confirmed ([`confirm_method`]).
//!
//! Nothing here reads or writes: the flows ask these functions what is true,
//! and hand what they return (a [`SendSlot`], a [`Tally`], a [`Transition`],
//! a [`Confirming`]) to the store, whose
//! conditional write re-asserts it at the moment it lands. So the rule is
//! written once, here, and a race can only make a write fail, never break the
//! rule.

use super::policy::{CodePolicy, SignInPolicy};
use super::user::{CodeSlot, Failures, GateGrant, Method, MethodState, ResetGrant, ResetStage};
use super::user::{MethodId, PRIMARY};
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

/// The journey's stage (a [`ResetStage`], held on the user) and a gate token
/// presented to it.
impl ResetStage {
    /// Whether the gate token `presented` is this stage's first gate, alive at `now`.
    pub fn gate_stands(&self, presented: &Presented<'_>, now: i64) -> bool {
        self.gate()
            .is_some_and(|g| g.jti == presented.jti && g.via == presented.via && g.expires_at > now)
    }
}

/// A gate token as presented: the `jti` and the method it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Presented<'a> {
    pub jti: &'a str,
    pub via: MethodId,
}

/// What was proved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proven {
    /// The reset code that was sent: it proves the method it went to.
    SentCode,
    /// A method proved by itself (an authenticator, a recovery code).
    Method(MethodId),
}

/// How long what a proof grants lives, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifetimes {
    pub gate: i64,
    pub reset: i64,
}

/// A step of the journey, as the flow puts it to [`next`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step<'a> {
    /// A reset code is to go to the method `via`; with `gate`, for the
    /// second gate (asked with the first gate's token).
    SendCode {
        via: MethodId,
        gate: Option<Presented<'a>>,
    },
    /// A right proof (the proof itself was judged: `CodeSlot::judge`, the
    /// authenticator, the recovery code), with `gate` for the second.
    Prove {
        proved: Proven,
        gate: Option<Presented<'a>>,
        /// The methods the user holds now (`UserRecord::held`).
        held: &'a [MethodId],
        /// The gates the user must pass (`UserRecord::gates`).
        gates: usize,
        /// The id of the gate or reset token this proof would grant.
        jti: &'a str,
        ttl: Lifetimes,
    },
    /// A reset token `jti` sets a new password.
    Reset { jti: &'a str },
}

/// What a step does, as the write must make it and re-assert it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    /// Record the code's method; with `gate`, only while that gate (its
    /// `jti`) stands at `now`.
    SendCode(ResetCode),
    /// A right proof passes a gate or grants the reset.
    Pass(Passed),
    /// The password write spends the grant `jti`, alive at `now`.
    Reset(GrantSpent),
}

/// Where a reset code goes, and the first gate it needs standing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResetCode {
    pub via: MethodId,
    pub gate: Option<String>,
    pub now: i64,
}

/// What a right proof passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Passed {
    /// The first of two gates: write this gate.
    Gate(GateGrant),
    /// The last gate: write this grant; with `gate`, by spending that first
    /// gate (its `jti`), which must stand at `now`.
    Grant {
        grant: ResetGrant,
        gate: Option<String>,
        now: i64,
    },
}

/// The grant a reset spends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantSpent {
    pub jti: String,
    pub now: i64,
}

/// Why a step cannot be taken. The flows give one answer for all of them
/// (`invalid_code`, `invalid_token`, or the 202 that says nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The gate token presented is not the stage's first gate, or it lapsed.
    GateLapsed,
    /// The method is not one the user holds now (the code's method was
    /// removed, or a phone while SMS is off).
    NotHeld,
    /// The user holds fewer methods than the gates: no reset at all.
    BelowGates,
    /// The second proof is of the method the first gate proved.
    SameMethod,
    /// The reset token is not the stage's grant, or the grant lapsed.
    NoGrant,
}

/// Decide one step of the reset journey from the stage as read, at `now`.
/// A refusal writes nothing of the journey (a wrong proof is counted by the
/// flow with [`tally_from`]); a transition is what the one write must do and
/// find, so the decision and the guard cannot drift apart.
pub fn next(stage: &ResetStage, step: &Step<'_>, now: i64) -> Result<Transition, Refusal> {
    let gate_stands = |presented: &Option<Presented<'_>>| match presented {
        Some(g) if !stage.gate_stands(g, now) => Err(Refusal::GateLapsed),
        Some(g) => Ok(Some(g.jti.to_owned())),
        None => Ok(None),
    };
    match step {
        Step::SendCode { via, gate } => {
            let first = gate_stands(gate)?;
            if gate.is_some_and(|g| g.via == *via) {
                return Err(Refusal::SameMethod);
            }
            Ok(Transition::SendCode(ResetCode {
                via: *via,
                gate: first,
                now,
            }))
        }
        Step::Prove {
            proved,
            gate,
            held,
            gates,
            jti,
            ttl,
        } => {
            let first = gate_stands(gate)?;
            let via = match proved {
                Proven::SentCode => stage.code_to().unwrap_or(PRIMARY),
                Proven::Method(via) => *via,
            };
            if !held.contains(&via) {
                return Err(Refusal::NotHeld);
            }
            if held.len() < *gates {
                return Err(Refusal::BelowGates);
            }
            if gate.is_some_and(|g| g.via == via) {
                return Err(Refusal::SameMethod);
            }
            if first.is_some() || *gates < 2 {
                return Ok(Transition::Pass(Passed::Grant {
                    grant: ResetGrant {
                        jti: (*jti).to_owned(),
                        expires_at: now + ttl.reset,
                    },
                    gate: first,
                    now,
                }));
            }
            Ok(Transition::Pass(Passed::Gate(GateGrant {
                jti: (*jti).to_owned(),
                via,
                expires_at: now + ttl.gate,
            })))
        }
        Step::Reset { jti } => match stage.grant() {
            Some(g) if g.admits(jti, now) => Ok(Transition::Reset(GrantSpent {
                jti: (*jti).to_owned(),
                now,
            })),
            _ => Err(Refusal::NoGrant),
        },
    }
}

/// A method's confirmation as the write must find it: still pending, added
/// by the session of `added_ver`, its code's wrong guesses under `max_attempts`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Confirming {
    pub added_ver: u64,
    pub max_attempts: u32,
}

/// Why a method cannot go from pending to confirmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotConfirmable {
    /// It is confirmed already: there is nothing to confirm.
    Confirmed,
    /// Its code has had `max_attempts` wrong guesses.
    Burned,
    /// It was added by a session that has ended (a reset, a change, a
    /// revocation moved the token version on): its code proves nothing.
    OtherSession,
}

/// A method's pending -> confirmed, asked by a session of `token_version`:
/// the one transition a method item makes (a removal deletes it).
///
/// ```text
///   Pending ── right proof, its own session, guesses left ──▶ Confirmed
/// ```
pub fn confirm_method(
    m: &Method,
    token_version: u64,
    max_attempts: u32,
) -> Result<Confirming, NotConfirmable> {
    match m.state {
        MethodState::Confirmed => Err(NotConfirmable::Confirmed),
        MethodState::Pending if m.code.attempts >= max_attempts => Err(NotConfirmable::Burned),
        MethodState::Pending if m.added_ver != token_version => Err(NotConfirmable::OtherSession),
        MethodState::Pending => Ok(Confirming {
            added_ver: m.added_ver,
            max_attempts,
        }),
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

    // The reset journey's transition table: each test is one (stage, step)
    // row, with the expiry edges of the gate and the grant.

    const TTL: Lifetimes = Lifetimes {
        gate: 300,
        reset: 900,
    };
    const NOW: i64 = 10_000;

    fn gate(via: MethodId, expires_at: i64) -> GateGrant {
        GateGrant {
            jti: "g1".into(),
            via,
            expires_at,
        }
    }

    fn grant(expires_at: i64) -> ResetGrant {
        ResetGrant {
            jti: "r1".into(),
            expires_at,
        }
    }

    fn code_sent(via: MethodId) -> ResetStage {
        ResetStage::CodeSent { via }
    }

    fn gate_passed(via: MethodId, expires_at: i64) -> ResetStage {
        ResetStage::GatePassed {
            gate: gate(via, expires_at),
            code_to: None,
        }
    }

    fn presented(via: MethodId) -> Option<Presented<'static>> {
        Some(Presented { jti: "g1", via })
    }

    const PHONE: MethodId = MethodId::Item(crate::domain::user::MethodKind::Phone);
    const TOTP: MethodId = MethodId::Item(crate::domain::user::MethodKind::Totp);
    const BOTH: &[MethodId] = &[PRIMARY, TOTP];

    fn prove<'a>(
        proved: Proven,
        gate: Option<Presented<'a>>,
        held: &'a [MethodId],
        gates: usize,
    ) -> Step<'a> {
        Step::Prove {
            proved,
            gate,
            held,
            gates,
            jti: "new",
            ttl: TTL,
        }
    }

    fn granted(gate: Option<&str>) -> Transition {
        Transition::Pass(Passed::Grant {
            grant: ResetGrant {
                jti: "new".into(),
                expires_at: NOW + TTL.reset,
            },
            gate: gate.map(str::to_owned),
            now: NOW,
        })
    }

    #[test]
    fn idle_to_code_sent_records_the_method_the_code_goes_to() {
        let step = Step::SendCode {
            via: PHONE,
            gate: None,
        };
        assert_eq!(
            next(&ResetStage::Idle, &step, NOW),
            Ok(Transition::SendCode(ResetCode {
                via: PHONE,
                gate: None,
                now: NOW,
            }))
        );
    }

    #[test]
    fn a_new_code_may_start_over_from_every_stage_without_a_gate_token() {
        let step = Step::SendCode {
            via: PRIMARY,
            gate: None,
        };
        for stage in [
            code_sent(PHONE),
            gate_passed(PRIMARY, NOW + 1),
            ResetStage::Granted {
                grant: grant(NOW + 1),
                code_to: None,
                gate: None,
            },
        ] {
            assert!(
                matches!(
                    next(&stage, &step, NOW),
                    Ok(Transition::SendCode(ResetCode { gate: None, .. }))
                ),
                "{stage:?}"
            );
        }
    }

    #[test]
    fn gate_passed_to_second_code_needs_the_gate_standing_until_its_expiry() {
        let stage = gate_passed(PRIMARY, NOW + 1);
        let step = Step::SendCode {
            via: PHONE,
            gate: presented(PRIMARY),
        };
        assert_eq!(
            next(&stage, &step, NOW),
            Ok(Transition::SendCode(ResetCode {
                via: PHONE,
                gate: Some("g1".into()),
                now: NOW,
            }))
        );
        assert_eq!(
            next(&stage, &step, NOW + 1),
            Err(Refusal::GateLapsed),
            "a gate lapses at its expiry"
        );
    }

    #[test]
    fn a_second_code_to_the_method_the_first_gate_proved_is_refused() {
        let step = Step::SendCode {
            via: PRIMARY,
            gate: presented(PRIMARY),
        };
        assert_eq!(
            next(&gate_passed(PRIMARY, NOW + 1), &step, NOW),
            Err(Refusal::SameMethod)
        );
    }

    #[test]
    fn a_gate_token_that_is_not_the_stages_gate_is_refused_at_every_step() {
        let other = Some(Presented {
            jti: "g2",
            via: PRIMARY,
        });
        let send = Step::SendCode {
            via: PHONE,
            gate: other,
        };
        let proof = prove(Proven::Method(TOTP), other, BOTH, 2);
        for stage in [
            ResetStage::Idle,
            code_sent(PRIMARY),
            gate_passed(PRIMARY, NOW + 1),
        ] {
            assert_eq!(
                next(&stage, &send, NOW),
                Err(Refusal::GateLapsed),
                "{stage:?}"
            );
            assert_eq!(
                next(&stage, &proof, NOW),
                Err(Refusal::GateLapsed),
                "{stage:?}"
            );
        }
        // The right jti naming another method is not the gate either.
        let renamed = prove(Proven::Method(TOTP), presented(TOTP), BOTH, 2);
        assert_eq!(
            next(&gate_passed(PRIMARY, NOW + 1), &renamed, NOW),
            Err(Refusal::GateLapsed)
        );
    }

    #[test]
    fn code_sent_to_granted_with_one_gate() {
        let step = prove(Proven::SentCode, None, &[PRIMARY], 1);
        assert_eq!(next(&code_sent(PRIMARY), &step, NOW), Ok(granted(None)));
    }

    #[test]
    fn code_sent_to_gate_passed_with_two_gates_bound_to_the_codes_method() {
        let step = prove(Proven::SentCode, None, &[PRIMARY, PHONE], 2);
        assert_eq!(
            next(&code_sent(PHONE), &step, NOW),
            Ok(Transition::Pass(Passed::Gate(GateGrant {
                jti: "new".into(),
                via: PHONE,
                expires_at: NOW + TTL.gate,
            })))
        );
    }

    #[test]
    fn a_code_with_no_method_recorded_proves_the_primary_email() {
        let step = prove(Proven::SentCode, None, BOTH, 2);
        let Ok(Transition::Pass(Passed::Gate(g))) = next(&ResetStage::Idle, &step, NOW) else {
            panic!("a first gate");
        };
        assert_eq!(g.via, PRIMARY);
    }

    #[test]
    fn idle_to_gate_passed_by_an_authenticator_without_a_code() {
        let step = prove(Proven::Method(TOTP), None, BOTH, 2);
        let Ok(Transition::Pass(Passed::Gate(g))) = next(&ResetStage::Idle, &step, NOW) else {
            panic!("a first gate");
        };
        assert_eq!((g.via, g.expires_at), (TOTP, NOW + TTL.gate));
    }

    #[test]
    fn gate_passed_to_granted_by_another_method_spending_the_gate_until_its_expiry() {
        let stage = gate_passed(PRIMARY, NOW + 1);
        let step = prove(Proven::Method(TOTP), presented(PRIMARY), BOTH, 2);
        assert_eq!(next(&stage, &step, NOW), Ok(granted(Some("g1"))));
        assert_eq!(next(&stage, &step, NOW + 1), Err(Refusal::GateLapsed));
    }

    #[test]
    fn gate_passed_to_granted_by_the_second_code() {
        let stage = ResetStage::GatePassed {
            gate: gate(TOTP, NOW + 1),
            code_to: Some(PRIMARY),
        };
        let step = prove(Proven::SentCode, presented(TOTP), BOTH, 2);
        assert_eq!(next(&stage, &step, NOW), Ok(granted(Some("g1"))));
    }

    #[test]
    fn the_second_proof_of_the_method_the_first_gate_proved_is_refused() {
        let stage = ResetStage::GatePassed {
            gate: gate(PRIMARY, NOW + 1),
            code_to: Some(PRIMARY),
        };
        let step = prove(Proven::SentCode, presented(PRIMARY), BOTH, 2);
        assert_eq!(next(&stage, &step, NOW), Err(Refusal::SameMethod));
    }

    #[test]
    fn a_proof_below_the_gates_is_refused_at_every_stage() {
        let step = prove(Proven::SentCode, None, &[PRIMARY], 2);
        for stage in [
            ResetStage::Idle,
            code_sent(PRIMARY),
            gate_passed(TOTP, NOW + 1),
        ] {
            assert_eq!(
                next(&stage, &step, NOW),
                Err(Refusal::BelowGates),
                "{stage:?}"
            );
        }
    }

    #[test]
    fn a_code_whose_method_is_no_longer_held_is_refused() {
        let step = prove(Proven::SentCode, None, &[PRIMARY], 1);
        assert_eq!(next(&code_sent(PHONE), &step, NOW), Err(Refusal::NotHeld));
    }

    #[test]
    fn granted_to_a_new_grant_by_a_later_proof_replaces_the_old_one() {
        let stage = ResetStage::Granted {
            grant: grant(NOW + 500),
            code_to: Some(PRIMARY),
            gate: None,
        };
        let step = prove(Proven::SentCode, None, &[PRIMARY], 1);
        assert_eq!(next(&stage, &step, NOW), Ok(granted(None)));
    }

    #[test]
    fn granted_to_idle_by_the_reset_with_its_token_until_the_grant_lapses() {
        let stage = ResetStage::Granted {
            grant: grant(NOW + 1),
            code_to: Some(PRIMARY),
            gate: None,
        };
        let step = Step::Reset { jti: "r1" };
        assert_eq!(
            next(&stage, &step, NOW),
            Ok(Transition::Reset(GrantSpent {
                jti: "r1".into(),
                now: NOW,
            }))
        );
        assert_eq!(
            next(&stage, &step, NOW + 1),
            Err(Refusal::NoGrant),
            "a grant lapses at its expiry"
        );
        assert_eq!(
            next(&stage, &Step::Reset { jti: "r0" }, NOW),
            Err(Refusal::NoGrant),
            "another token's jti"
        );
    }

    #[test]
    fn a_reset_without_a_grant_is_refused_at_every_other_stage() {
        let step = Step::Reset { jti: "g1" };
        for stage in [
            ResetStage::Idle,
            code_sent(PRIMARY),
            gate_passed(PRIMARY, NOW + 1),
        ] {
            assert_eq!(next(&stage, &step, NOW), Err(Refusal::NoGrant), "{stage:?}");
        }
    }

    #[test]
    fn a_grant_stands_beside_a_new_attempt_until_the_reset() {
        let stage = ResetStage::Granted {
            grant: grant(NOW + 1),
            code_to: Some(PHONE),
            gate: Some(gate(PRIMARY, NOW + 1)),
        };
        assert!(matches!(
            next(&stage, &Step::Reset { jti: "r1" }, NOW),
            Ok(Transition::Reset(_))
        ));
        let second = prove(Proven::SentCode, presented(PRIMARY), &[PRIMARY, PHONE], 2);
        assert_eq!(next(&stage, &second, NOW), Ok(granted(Some("g1"))));
    }

    #[test]
    fn the_stored_parts_make_exactly_one_stage_and_give_it_back() {
        // A stored name that is no method never gets this far: the store's
        // schema refuses it (`MethodId::parse`; schema.rs's journey test).
        let g = || Some(gate(PRIMARY, 1));
        let r = || Some(grant(1));
        let via = || Some(PHONE);
        assert_eq!(ResetStage::from_parts(None, None, None), ResetStage::Idle);
        assert_eq!(ResetStage::from_parts(via(), None, None), code_sent(PHONE));
        assert!(matches!(
            ResetStage::from_parts(via(), g(), None),
            ResetStage::GatePassed {
                code_to: Some(_),
                ..
            }
        ));
        assert!(matches!(
            ResetStage::from_parts(None, g(), r()),
            ResetStage::Granted {
                code_to: None,
                gate: Some(_),
                ..
            }
        ));
        for (code_to, gate, grant) in [(via(), g(), r()), (None, None, r()), (None, g(), None)] {
            let stage = ResetStage::from_parts(code_to, gate.clone(), grant.clone());
            assert_eq!(
                (
                    stage.code_to(),
                    stage.gate().cloned(),
                    stage.grant().cloned()
                ),
                (code_to, gate, grant),
                "a stage gives back the parts it was made of"
            );
        }
    }

    // A method's pending -> confirmed.

    fn method(state: MethodState, attempts: u32, added_ver: u64) -> Method {
        Method {
            id: PHONE,
            target: crate::domain::user::MethodTarget::Phone(
                crate::domain::Phone::parse("+4915112345678").expect("E.164"),
            ),
            state,
            code: CodeSlot {
                attempts,
                ..pending(NOW + 600)
            },
            created_at: NOW,
            confirmed_at: None,
            last_used_at: None,
            added_ver,
        }
    }

    #[test]
    fn pending_to_confirmed_by_its_own_session_with_guesses_left() {
        assert_eq!(
            confirm_method(&method(MethodState::Pending, 4, 3), 3, 5),
            Ok(Confirming {
                added_ver: 3,
                max_attempts: 5,
            })
        );
    }

    #[test]
    fn a_pending_method_whose_code_is_burned_is_not_confirmed() {
        assert_eq!(
            confirm_method(&method(MethodState::Pending, 5, 3), 3, 5),
            Err(NotConfirmable::Burned)
        );
    }

    #[test]
    fn a_pending_method_of_an_ended_session_is_not_confirmed() {
        assert_eq!(
            confirm_method(&method(MethodState::Pending, 0, 3), 4, 5),
            Err(NotConfirmable::OtherSession)
        );
    }

    #[test]
    fn a_confirmed_method_has_nothing_to_confirm() {
        assert_eq!(
            confirm_method(&method(MethodState::Confirmed, 0, 3), 3, 5),
            Err(NotConfirmable::Confirmed)
        );
    }
}
