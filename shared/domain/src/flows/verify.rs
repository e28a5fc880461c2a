//! Proving who one is for a reset, through the gates (API.md "Reset through
//! the gates"): a sent code, an authenticator's code or a recovery code.
//! With one gate, a right proof grants a reset token. With two, the first
//! grants a gate token bound to the method it proved, and the second, of
//! another method and with that token, grants the reset token and spends
//! the gate. A failed proof counts toward the one block of resets when it
//! could have guessed something the user holds (a code outstanding, a
//! confirmed authenticator whose secret opens, recovery codes left); one
//! against nothing is audited and counts nothing, so a stranger cannot block
//! a user's resets by guessing at what is not there. What a right proof
//! passes is the journey's to decide (`lifecycle::next` over the user's
//! `ResetStage`); this flow judges the proof and writes what `next` returned.
//! Either way the write is one, and every answer but success is the one
//! `invalid_code`.

use crate::audit::AuditKind;
use crate::domain::lifecycle::{
    block_cut, next, reset_block, Lifetimes, Passed, Presented, Proven, Refusal, Step, Transition,
};
use crate::domain::user::{MethodId, MethodKind, MethodTarget};
use crate::domain::{Code, CodeDigest, ProofVerdict, Purpose, RecoveryCode, UserRecord, Username};
use crate::ports::{
    AuditEvent, Change, Effects, FailedProof, Failure, MethodGrant, MethodProof, MethodUse,
    Requester, RightCode, Spend,
};

use super::{against_code, Context, Unavailable};

/// A reset token and its lifetime in seconds.
#[derive(Debug)]
pub struct ResetToken {
    pub token: String,
    pub expires_in: u64,
}

/// The first of two gates passed: its token, its lifetime, and the proofs
/// the user can give for the second (`totp`, `phone`, `email`, `recovery_code`).
#[derive(Debug)]
pub struct GateToken {
    pub token: String,
    pub expires_in: u64,
    pub next: Vec<&'static str>,
}

/// What a right proof granted.
#[derive(Debug)]
pub enum Proved {
    Reset(ResetToken),
    Gate(GateToken),
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// Wrong, expired, burned, blocked, unknown, below the gates, the same
    /// method twice or a spent gate: one answer for all.
    #[error("invalid code")]
    InvalidCode,
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
}

/// Who is proving: a user by name (the first proof), or the holder of a gate
/// token (the second).
#[derive(Debug)]
pub enum Start<'a> {
    User(&'a Username),
    Gate(&'a str),
}

/// A proof as given.
#[derive(Debug)]
pub enum Proof {
    /// A code that was sent (by email or SMS).
    Sent(Code),
    /// An authenticator app's current code.
    Totp(String),
    RecoveryCode(RecoveryCode),
}

/// A proof as judged against the stored state.
enum Judged {
    /// Right: what it shows (the journey's [`next`] says what it passes).
    Right { shown: Proven, spend: SpendOf },
    /// `counts`: the method the proof names exists and holds a live secret
    /// (a pending code, a confirmed authenticator, recovery codes left), so
    /// the guess counts toward the block.
    Wrong {
        against_code: Option<CodeDigest>,
        counts: bool,
    },
}

/// What spends a right proof.
enum SpendOf {
    Code(CodeDigest),
    Totp(MethodProof),
    Recovery { digest: CodeDigest, left: usize },
}

impl SpendOf {
    /// The sent code's digest, when the proof was one.
    fn code(&self) -> Option<CodeDigest> {
        match self {
            Self::Code(d) => Some(d.clone()),
            Self::Totp(_) | Self::Recovery { .. } => None,
        }
    }
}

fn judge(cx: &Context, user: &Username, rec: &UserRecord, proof: &Proof, now: i64) -> Judged {
    // Nothing of the kind to guess: the proof counts nothing.
    let nothing = Judged::Wrong {
        against_code: None,
        counts: false,
    };
    // A guess at a secret the user holds.
    let wrong = Judged::Wrong {
        against_code: None,
        counts: true,
    };
    match proof {
        Proof::Sent(code) => {
            let given = cx.codes.digest_as(
                rec.reset.digest.as_ref(),
                Purpose::ResetPassword,
                user,
                code,
            );
            let verdict = rec.reset.judge(&given, now, cx.rules.codes.max_attempts);
            if verdict != ProofVerdict::Right {
                // Counted exactly when a code was outstanding (pending).
                let against_code = against_code(verdict, given);
                return Judged::Wrong {
                    counts: against_code.is_some(),
                    against_code,
                };
            }
            // The code proves the method it went to, while that method
            // holds: the journey's to decide.
            Judged::Right {
                shown: Proven::SentCode,
                spend: SpendOf::Code(given),
            }
        }
        Proof::Totp(code) => {
            let Some(m) = rec.confirmed(MethodKind::Totp) else {
                return nothing;
            };
            let MethodTarget::Totp { sealed, last_step } = &m.target else {
                return nothing;
            };
            // A secret that does not open can never be proved: nothing to guess.
            let Some(secret) = cx.totp.open(sealed, user, m.id.as_str()) else {
                tracing::warn!("a TOTP secret did not open");
                return nothing;
            };
            match secret.check(code, now) {
                Some(step) if step > *last_step => Judged::Right {
                    shown: Proven::Method(m.id),
                    spend: SpendOf::Totp(super::totp_step(cx, user, m.id.as_str(), sealed, step)),
                },
                _ => wrong,
            }
        }
        Proof::RecoveryCode(rc) => {
            let Some(m) = rec.confirmed(MethodKind::RecoveryCodes) else {
                return nothing;
            };
            let MethodTarget::RecoveryCodes { left } = &m.target else {
                return nothing;
            };
            if left.is_empty() {
                return nothing;
            }
            // Every entry is opened and compared, in constant time each.
            let Some(given) = cx.codes.recovery_find(user, rc, left) else {
                return wrong;
            };
            Judged::Right {
                shown: Proven::Method(m.id),
                spend: SpendOf::Recovery {
                    digest: given,
                    left: left.len().saturating_sub(1),
                },
            }
        }
    }
}

pub async fn verify(
    cx: &Context,
    start: Start<'_>,
    proof: &Proof,
    who: &Requester,
    now: i64,
) -> Result<Proved, VerifyError> {
    let (user, claims) = match start {
        Start::User(u) => (u.clone(), None),
        Start::Gate(token) => {
            cx.keys.ensure(token).await;
            let claims = cx
                .keys
                .verify_gate(token, now)
                .map_err(|_| VerifyError::InvalidCode)?;
            let user = Username::parse(&claims.sub).map_err(|_| VerifyError::InvalidCode)?;
            (user, Some(claims))
        }
    };
    let Some(rec) = cx.user(&user).await? else {
        return Err(VerifyError::InvalidCode);
    };
    let c = &cx.rules.codes;
    if reset_block(&rec.proofs, c, now).holds() {
        return Err(VerifyError::InvalidCode);
    }
    let presented = claims.as_ref().map(|g| Presented {
        jti: &g.jti,
        via: g.via,
    });
    // A gate token that is not the user's first gate, alive: nothing to judge.
    if presented.is_some_and(|g| !rec.journey.gate_stands(&g, now)) {
        return Err(VerifyError::InvalidCode);
    }
    let (shown, spend_of) = match judge(cx, &user, &rec, proof, now) {
        Judged::Right { shown, spend } => (shown, spend),
        Judged::Wrong {
            against_code,
            counts,
        } => return failed(cx, &user, &rec, against_code, counts, who, now).await,
    };
    let held = rec.held(cx.rules.sms);
    let held_ids: Vec<MethodId> = held.iter().map(|h| h.id).collect();
    let jti = uuid::Uuid::new_v4().to_string();
    let ttl = Lifetimes {
        gate: cx.rules.gate_ttl.as_secs() as i64,
        reset: cx.rules.reset_ttl.as_secs() as i64,
    };
    let step = Step::Prove {
        proved: shown,
        gate: presented,
        held: &held_ids,
        gates: rec.gates(cx.rules.gates),
        jti: &jti,
        ttl,
    };
    let passed = match next(&rec.journey, &step, now) {
        Ok(Transition::Pass(passed)) => passed,
        // The code's method no longer holds: a guess at the live code.
        Err(Refusal::NotHeld) => {
            return failed(cx, &user, &rec, spend_of.code(), true, who, now).await
        }
        // Below the gates, or the method the first gate already proved: a
        // failed proof like any other.
        Ok(_) | Err(_) => return failed(cx, &user, &rec, None, true, who, now).await,
    };
    let event = match passed {
        Passed::Grant { .. } => AuditKind::CodeVerified,
        Passed::Gate(_) => AuditKind::GatePassed,
    };
    let spend = Spend::Reset {
        passed: passed.clone(),
        max_failed: c.max_failed_proofs,
        block_cut: block_cut(c, now),
    };
    let mut fx = Effects::audit([AuditEvent::new(event, proof_name(proof), now, who)]);
    let change = match spend_of {
        SpendOf::Code(digest) => Change::SpendCode(RightCode {
            purpose: Purpose::ResetPassword,
            digest,
            now,
            max_attempts: c.max_attempts,
            spend,
        }),
        SpendOf::Totp(proof) => Change::UseMethod(MethodUse {
            kind: MethodKind::Totp,
            proof,
            grant: MethodGrant::Reset(spend),
            now,
        }),
        SpendOf::Recovery { digest, left } => {
            fx.mail
                .extend(super::methods::recovery_code_used(cx, &rec, left, now));
            fx = fx.with_audit(AuditEvent::new(
                AuditKind::RecoveryCodeUsed,
                "reset",
                now,
                who,
            ));
            Change::UseMethod(MethodUse {
                kind: MethodKind::RecoveryCodes,
                proof: MethodProof::RecoveryCode(digest),
                grant: MethodGrant::Reset(spend),
                now,
            })
        }
    };
    if !cx.store.write(&user, &change, &fx).await?.applied() {
        // Another proof of the same code, step or gate won the race.
        return Err(VerifyError::InvalidCode);
    }
    match passed {
        Passed::Grant { grant, .. } => {
            let token = cx
                .keys
                .issue_reset(user.as_str(), &grant.jti, now, ttl.reset)
                .map_err(Unavailable::from)?;
            Ok(Proved::Reset(ResetToken {
                token,
                expires_in: cx.rules.reset_ttl.as_secs(),
            }))
        }
        Passed::Gate(gate) => {
            let token = cx
                .keys
                .issue_gate(user.as_str(), &gate.jti, gate.via, now, ttl.gate)
                .map_err(Unavailable::from)?;
            let mut next: Vec<&'static str> = held
                .iter()
                .filter(|h| h.id != gate.via)
                .map(|h| h.kind.proof_name())
                .collect();
            next.dedup();
            Ok(Proved::Gate(GateToken {
                token,
                expires_in: cx.rules.gate_ttl.as_secs(),
                next,
            }))
        }
    }
}

fn proof_name(proof: &Proof) -> &'static str {
    match proof {
        Proof::Sent(_) => Purpose::ResetPassword.as_str(),
        Proof::Totp(_) => "totp",
        Proof::RecoveryCode(_) => "recovery_code",
    }
}

/// A failed proof: count it against the code (when it was live) and, when
/// it `counts`, in the failure window that blocks resets; the write that
/// reaches the limit (known from its own condition, so in a burst too
/// exactly one is) also records the block. One that counts nothing is
/// audited all the same, in one write as a counted one is: the two cost the
/// same and answer the same.
#[allow(clippy::too_many_arguments)]
async fn failed(
    cx: &Context,
    user: &Username,
    rec: &UserRecord,
    against_code: Option<CodeDigest>,
    counts: bool,
    who: &Requester,
    now: i64,
) -> Result<Proved, VerifyError> {
    let c = &cx.rules.codes;
    let audit = || {
        Effects::audit([AuditEvent::new(
            AuditKind::ProofFailed,
            Purpose::ResetPassword.as_str(),
            now,
            who,
        )])
    };
    if !counts {
        let proof = FailedProof {
            purpose: Purpose::ResetPassword,
            against_code: None,
            tally: None,
            now,
        };
        cx.store
            .count(user, &Failure::Proof(proof), &audit())
            .await?;
        return Err(VerifyError::InvalidCode);
    }
    let start = (rec.proofs.window_start, rec.proofs.count);
    let window_len = c.block_window.as_secs() as i64;
    super::count_failure(start, c.max_failed_proofs, window_len, now, |t| {
        let mut fx = audit();
        if t.reaches {
            fx = fx.with_audit(AuditEvent::new(
                AuditKind::ResetsBlocked,
                "blocked",
                now,
                who,
            ));
        }
        let proof = FailedProof {
            purpose: Purpose::ResetPassword,
            against_code: against_code.clone(),
            tally: Some(t),
            now,
        };
        async move { cx.store.count(user, &Failure::Proof(proof), &fx).await }
    })
    .await?;
    Err(VerifyError::InvalidCode)
}
