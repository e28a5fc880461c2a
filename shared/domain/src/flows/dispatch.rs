//! Sending a one-time code. The answer is the same whatever happens here, so
//! this flow reports nothing but infrastructure failure. The code's mail (or
//! SMS) is queued in the very write that issues the code, and the courier
//! sends it after the answer: how long the mail service takes tells nobody
//! anything.
//!
//! A reset code goes by the channel asked for: the primary email, or SMS to
//! a confirmed phone. Asked with a gate token (the first of two gates
//! passed), it goes to a method the first gate did not use, and only while
//! that gate's grant is alive.

use crate::audit::AuditKind;
use crate::domain::lifecycle::{
    block_cut, lock_cut, may_send, next, reset_block, signin_lock, Presented, Step, Transition,
};
use crate::domain::user::{MethodId, MethodKind, MethodTarget, PRIMARY};
use crate::domain::{Email, Phone, Purpose, UserRecord, Username};
use crate::ports::{AuditEvent, Change, Effects, Eligibility, Requester};

use super::{new_code, CodeMail, Context, Unavailable};

/// What happened, for tests and logs only; the client sees none of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dispatched {
    /// The code was issued and its mail queued.
    Queued,
    /// Unknown user, nothing to confirm, unconfirmed email, blocked, below
    /// the gates, or no method on the channel.
    NotEligible,
    /// The hourly or per-minute limit.
    Limited,
}

/// How a code should travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Channel {
    #[default]
    Email,
    Sms,
}

impl Channel {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "email" => Some(Self::Email),
            "sms" => Some(Self::Sms),
            _ => None,
        }
    }
}

/// Where a code goes: the method it proves, and its address.
pub(crate) enum Destination<'a> {
    Mail { via: MethodId, to: &'a Email },
    Sms { via: MethodId, to: &'a Phone },
}

impl Destination<'_> {
    pub(crate) fn via(&self) -> MethodId {
        match self {
            Self::Mail { via, .. } | Self::Sms { via, .. } => *via,
        }
    }

    pub(crate) fn address(&self) -> &str {
        match self {
            Self::Mail { to, .. } => to.as_str(),
            Self::Sms { to, .. } => to.as_str(),
        }
    }
}

/// The method on `channel` that a reset code can go to, other than `not`
/// (the method a first gate already proved).
fn reset_destination<'a>(
    cx: &Context,
    rec: &'a UserRecord,
    channel: Channel,
    not: Option<MethodId>,
) -> Option<Destination<'a>> {
    let free = |id: MethodId| not != Some(id);
    match channel {
        Channel::Email => {
            if rec.email_verified && free(PRIMARY) {
                return Some(Destination::Mail {
                    via: PRIMARY,
                    to: &rec.email,
                });
            }
            match rec.confirmed(MethodKind::Email) {
                Some(m) if free(m.id) => match &m.target {
                    MethodTarget::Email(to) => Some(Destination::Mail { via: m.id, to }),
                    _ => None,
                },
                _ => None,
            }
        }
        Channel::Sms if cx.rules.sms => match rec.confirmed(MethodKind::Phone) {
            Some(m) if free(m.id) => match &m.target {
                MethodTarget::Phone(to) => Some(Destination::Sms { via: m.id, to }),
                _ => None,
            },
            _ => None,
        },
        Channel::Sms => None,
    }
}

pub async fn dispatch(
    cx: &Context,
    user: &Username,
    purpose: Purpose,
    channel: Channel,
    who: &Requester,
    now: i64,
) -> Result<Dispatched, Unavailable> {
    let Some(rec) = cx.user(user).await? else {
        return Ok(Dispatched::NotEligible);
    };
    let c = &cx.rules.codes;
    let dest = match purpose {
        Purpose::ResetPassword => reset_destination(cx, &rec, channel, None),
        _ if channel == Channel::Email => Some(Destination::Mail {
            via: PRIMARY,
            to: rec.code_recipient(purpose),
        }),
        _ => None,
    };
    let Some(dest) = dest else {
        return Ok(Dispatched::NotEligible);
    };
    let eligibility = match purpose {
        Purpose::ResetPassword => {
            // A user below their gates cannot reset: no code, and the same 202.
            let gates = rec.gates(cx.rules.gates);
            if !rec.email_verified
                || reset_block(&rec.proofs, c, now).holds()
                || rec.held(cx.rules.sms).len() < gates
            {
                return Ok(Dispatched::NotEligible);
            }
            let step = Step::SendCode {
                via: dest.via(),
                gate: None,
            };
            let Ok(Transition::SendCode(to)) = next(&rec.journey, &step, now) else {
                return Ok(Dispatched::NotEligible);
            };
            Eligibility::ResetPassword {
                max_failed: c.max_failed_proofs,
                block_cut: block_cut(c, now),
                to,
            }
        }
        Purpose::VerifyEmail => {
            if rec.email_verified && rec.pending_email.is_none() {
                return Ok(Dispatched::NotEligible);
            }
            Eligibility::VerifyEmail {
                pending: rec.pending_email.clone(),
            }
        }
        Purpose::UnlockAccount => {
            let s = &cx.rules.signin;
            if !rec.email_verified || !signin_lock(&rec.signin, s, now).holds() {
                return Ok(Dispatched::NotEligible);
            }
            Eligibility::UnlockAccount {
                max_failures: s.max_failures,
                lock_cut: lock_cut(s, now),
            }
        }
    };
    send(cx, user, &rec, purpose, dest, eligibility, true, who, now).await
}

/// A code for the second gate of a reset, asked with the first gate's token.
pub async fn dispatch_gate(
    cx: &Context,
    gate_token: &str,
    channel: Channel,
    who: &Requester,
    now: i64,
) -> Result<Dispatched, Unavailable> {
    cx.keys.ensure(gate_token).await;
    let Ok(claims) = cx.keys.verify_gate(gate_token, now) else {
        return Ok(Dispatched::NotEligible);
    };
    let Ok(user) = Username::parse(&claims.sub) else {
        return Ok(Dispatched::NotEligible);
    };
    let Some(rec) = cx.user(&user).await? else {
        return Ok(Dispatched::NotEligible);
    };
    let c = &cx.rules.codes;
    let gate = Presented {
        jti: &claims.jti,
        via: claims.via,
    };
    if !rec.journey.gate_stands(&gate, now) || reset_block(&rec.proofs, c, now).holds() {
        return Ok(Dispatched::NotEligible);
    }
    let Some(dest) = reset_destination(cx, &rec, channel, Some(claims.via)) else {
        return Ok(Dispatched::NotEligible);
    };
    let step = Step::SendCode {
        via: dest.via(),
        gate: Some(gate),
    };
    let Ok(Transition::SendCode(to)) = next(&rec.journey, &step, now) else {
        return Ok(Dispatched::NotEligible);
    };
    let eligibility = Eligibility::ResetPassword {
        max_failed: c.max_failed_proofs,
        block_cut: block_cut(c, now),
        to,
    };
    // No page link: the second gate's page holds the gate token, which a
    // link opened from the mail would not.
    let purpose = Purpose::ResetPassword;
    send(cx, &user, &rec, purpose, dest, eligibility, false, who, now).await
}

#[allow(clippy::too_many_arguments)]
async fn send(
    cx: &Context,
    user: &Username,
    rec: &UserRecord,
    purpose: Purpose,
    dest: Destination<'_>,
    eligibility: Eligibility,
    linked: bool,
    who: &Requester,
    now: i64,
) -> Result<Dispatched, Unavailable> {
    let recipient = cx.codes.recipient(dest.address());
    let Ok(slot) = may_send(rec.slot(purpose), &recipient, &cx.rules.codes, now) else {
        return Ok(Dispatched::Limited);
    };
    let (issue, mail) = new_code(
        cx,
        CodeMail::to(
            user,
            purpose,
            &dest,
            rec.locale,
            who.origin.as_deref(),
            linked,
        ),
        slot,
        eligibility,
        now,
    );
    let fx = Effects::audit([AuditEvent::new(
        AuditKind::CodeSent,
        purpose.as_str(),
        now,
        who,
    )])
    .with_mail(mail);
    if !cx
        .store
        .write(user, &Change::IssueCode(issue), &fx)
        .await?
        .applied()
    {
        // A concurrent request took the slot, or the state changed since the read.
        return Ok(Dispatched::Limited);
    }
    Ok(Dispatched::Queued)
}
