//! The audit trail's vocabulary: every kind of audit event, with the three
//! names it goes by. [`AuditKind`] owns them all, so no list of kinds is
//! spelled anywhere else:
//!
//! - its stored name ([`AuditKind::as_str`], [`AuditKind::parse`]): the audit
//!   item's `type`, the same strings the table has always held;
//! - its EventBridge `detail-type` when other systems hear of it
//!   ([`AuditKind::detail_type`], with where the event's `method` comes from,
//!   [`AuditKind::event_method`]); every other kind stays in the trail only;
//! - the counter a committed event of it adds to ([`AuditKind::metric`]).
//!
//! The events function, its stream filter (held by `tests/tests/iam.rs`) and
//! the store's counters all ask the kind; [`AuditKind::ALL`] lets a table or
//! a test go through every kind.

use crate::domain::user::MethodKind;

/// What an audit event records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AuditKind {
    /// A new account (outcome `success`).
    Registered,
    /// A code went out (outcome: its purpose, or the method's kind).
    CodeSent,
    /// A new recovery email asked for its confirming code.
    EmailChangeRequested,
    /// The recovery email moved away from a confirmed one.
    EmailChanged,
    /// The first recovery email confirmed.
    EmailConfirmed,
    /// The reset's last gate proved (outcome: the proof).
    CodeVerified,
    /// A first gate of two proved (outcome: the proof).
    GatePassed,
    /// A wrong code, TOTP or recovery code counted.
    ProofFailed,
    /// The failed proof that blocks the user's resets.
    ResetsBlocked,
    /// An operator cleared the reset block.
    ResetsUnblocked,
    /// One recovery code of the set used (outcome `reset` or `signin`).
    RecoveryCodeUsed,
    /// A reset set the password.
    PasswordReset,
    /// A signed-in change of the password.
    PasswordChanged,
    /// A sign-in got its token (outcome: how it was proved).
    SignedIn,
    /// A wrong password or factor at sign-in (outcome: the refusal).
    SignInFailed,
    /// The wrong password that locks sign-in.
    SignInLocked,
    /// The sign-in lock cleared (an unlock code, or an operator).
    SignInUnlocked,
    /// A method added, pending (outcome: its kind).
    MethodAdded,
    /// A pending method confirmed (outcome: its kind).
    MethodConfirmed,
    /// A method removed (outcome: its kind).
    MethodRemoved,
    /// The user reconfirmed their methods.
    MethodsReconfirmed,
    /// A new set of recovery codes.
    RecoveryCodesCreated,
    /// An operator granted the admin role.
    AdminRoleGranted,
    /// An operator removed the admin role.
    AdminRoleRemoved,
    /// An operator revoked every session.
    SessionsRevoked,
    /// A code could not be delivered and was revoked.
    CodeUndelivered,
    /// A notice could not be delivered.
    MailUndelivered,
    /// A queued mail did not open and was dropped.
    MailUnreadable,
    /// A queued mail was not sent in time and was dropped.
    MailExpired,
}

/// Where a published event's `method` comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventMethod {
    /// The event is of no method.
    None,
    /// The audit item's `outcome` is the method's kind (`method_added`, ...);
    /// the event's outcome is then `success`.
    Outcome,
    /// Always this kind.
    Fixed(MethodKind),
}

impl AuditKind {
    /// Every kind, in declaration order.
    pub const ALL: [Self; 29] = [
        Self::Registered,
        Self::CodeSent,
        Self::EmailChangeRequested,
        Self::EmailChanged,
        Self::EmailConfirmed,
        Self::CodeVerified,
        Self::GatePassed,
        Self::ProofFailed,
        Self::ResetsBlocked,
        Self::ResetsUnblocked,
        Self::RecoveryCodeUsed,
        Self::PasswordReset,
        Self::PasswordChanged,
        Self::SignedIn,
        Self::SignInFailed,
        Self::SignInLocked,
        Self::SignInUnlocked,
        Self::MethodAdded,
        Self::MethodConfirmed,
        Self::MethodRemoved,
        Self::MethodsReconfirmed,
        Self::RecoveryCodesCreated,
        Self::AdminRoleGranted,
        Self::AdminRoleRemoved,
        Self::SessionsRevoked,
        Self::CodeUndelivered,
        Self::MailUndelivered,
        Self::MailUnreadable,
        Self::MailExpired,
    ];

    /// The name the audit item's `type` holds.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Registered => "registered",
            Self::CodeSent => "code_sent",
            Self::EmailChangeRequested => "email_change_requested",
            Self::EmailChanged => "email_changed",
            Self::EmailConfirmed => "email_confirmed",
            Self::CodeVerified => "code_verified",
            Self::GatePassed => "gate_passed",
            Self::ProofFailed => "proof_failed",
            Self::ResetsBlocked => "resets_blocked",
            Self::ResetsUnblocked => "resets_unblocked",
            Self::RecoveryCodeUsed => "recovery_code_used",
            Self::PasswordReset => "password_reset",
            Self::PasswordChanged => "password_changed",
            Self::SignedIn => "signed_in",
            Self::SignInFailed => "signin_failed",
            Self::SignInLocked => "signin_locked",
            Self::SignInUnlocked => "signin_unlocked",
            Self::MethodAdded => "method_added",
            Self::MethodConfirmed => "method_confirmed",
            Self::MethodRemoved => "method_removed",
            Self::MethodsReconfirmed => "methods_reconfirmed",
            Self::RecoveryCodesCreated => "recovery_codes_created",
            Self::AdminRoleGranted => "admin_role_granted",
            Self::AdminRoleRemoved => "admin_role_removed",
            Self::SessionsRevoked => "sessions_revoked",
            Self::CodeUndelivered => "code_undelivered",
            Self::MailUndelivered => "mail_undelivered",
            Self::MailUnreadable => "mail_unreadable",
            Self::MailExpired => "mail_expired",
        }
    }

    /// The kind a stored `type` names, if any.
    pub fn parse(stored: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == stored)
    }

    /// The `detail-type` its EventBridge event goes as, when other systems
    /// hear of this kind; `None` keeps it in the audit trail only.
    pub const fn detail_type(self) -> Option<&'static str> {
        Some(match self {
            Self::PasswordReset => "PasswordReset",
            Self::PasswordChanged => "PasswordChanged",
            Self::MethodAdded | Self::RecoveryCodesCreated => "MethodAdded",
            Self::MethodConfirmed => "MethodConfirmed",
            Self::MethodRemoved => "MethodRemoved",
            Self::SignInLocked => "SignInLocked",
            Self::SignInUnlocked => "SignInUnlocked",
            Self::ResetsBlocked => "ResetsBlocked",
            Self::EmailChanged => "EmailChanged",
            Self::AdminRoleGranted => "AdminRoleGranted",
            Self::AdminRoleRemoved => "AdminRoleRemoved",
            Self::SessionsRevoked => "SessionsRevoked",
            _ => return None,
        })
    }

    /// Where a published event of this kind finds its `method`.
    pub const fn event_method(self) -> EventMethod {
        match self {
            Self::MethodAdded | Self::MethodConfirmed | Self::MethodRemoved => EventMethod::Outcome,
            Self::RecoveryCodesCreated => EventMethod::Fixed(MethodKind::RecoveryCodes),
            _ => EventMethod::None,
        }
    }

    /// Whether other systems hear of this kind.
    pub const fn published(self) -> bool {
        self.detail_type().is_some()
    }

    /// The counter (namespace `sspr`) a committed event of this kind adds one
    /// to, if any.
    pub const fn metric(self) -> Option<&'static str> {
        Some(match self {
            Self::PasswordReset => "ResetCompleted",
            Self::ProofFailed => "ProofFailed",
            Self::ResetsBlocked => "ResetsBlocked",
            Self::SignInLocked => "SignInLocked",
            Self::CodeUndelivered => "CodeUndelivered",
            _ => return None,
        })
    }
}

impl std::fmt::Display for AuditKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_its_stored_name_and_no_two_share_one() {
        for k in AuditKind::ALL {
            assert_eq!(AuditKind::parse(k.as_str()), Some(k), "{k:?}");
        }
        let mut names: Vec<_> = AuditKind::ALL.iter().map(|k| k.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), AuditKind::ALL.len());
        assert_eq!(AuditKind::parse("Password_Reset"), None);
        assert_eq!(AuditKind::parse(""), None);
    }

    #[test]
    fn the_stored_names_are_the_ones_the_table_holds() {
        // The contract: audit items already in the table carry these types.
        let stored = [
            "registered",
            "code_sent",
            "email_change_requested",
            "email_changed",
            "email_confirmed",
            "code_verified",
            "gate_passed",
            "proof_failed",
            "resets_blocked",
            "resets_unblocked",
            "recovery_code_used",
            "password_reset",
            "password_changed",
            "signed_in",
            "signin_failed",
            "signin_locked",
            "signin_unlocked",
            "method_added",
            "method_confirmed",
            "method_removed",
            "methods_reconfirmed",
            "recovery_codes_created",
            "admin_role_granted",
            "admin_role_removed",
            "sessions_revoked",
            "code_undelivered",
            "mail_undelivered",
            "mail_unreadable",
            "mail_expired",
        ];
        let ours: Vec<_> = AuditKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(ours, stored);
    }

    #[test]
    fn the_published_kinds_and_their_detail_types_are_exactly_the_contract() {
        // docs/events.md: (audit type, detail-type, method).
        let contract = [
            ("password_reset", "PasswordReset", EventMethod::None),
            ("password_changed", "PasswordChanged", EventMethod::None),
            ("method_added", "MethodAdded", EventMethod::Outcome),
            (
                "recovery_codes_created",
                "MethodAdded",
                EventMethod::Fixed(MethodKind::RecoveryCodes),
            ),
            ("method_confirmed", "MethodConfirmed", EventMethod::Outcome),
            ("method_removed", "MethodRemoved", EventMethod::Outcome),
            ("signin_locked", "SignInLocked", EventMethod::None),
            ("signin_unlocked", "SignInUnlocked", EventMethod::None),
            ("resets_blocked", "ResetsBlocked", EventMethod::None),
            ("email_changed", "EmailChanged", EventMethod::None),
            ("admin_role_granted", "AdminRoleGranted", EventMethod::None),
            ("admin_role_removed", "AdminRoleRemoved", EventMethod::None),
            ("sessions_revoked", "SessionsRevoked", EventMethod::None),
        ];
        let mut ours: Vec<_> = AuditKind::ALL
            .into_iter()
            .filter_map(|k| Some((k.as_str(), k.detail_type()?, k.event_method())))
            .collect();
        let mut contract = contract.to_vec();
        ours.sort_by_key(|r| r.0);
        contract.sort_by_key(|r| r.0);
        assert_eq!(ours, contract);
        for k in AuditKind::ALL {
            assert_eq!(k.published(), k.detail_type().is_some());
            if !k.published() {
                assert_eq!(k.event_method(), EventMethod::None, "{k:?}");
            }
        }
    }

    #[test]
    fn the_counted_kinds_and_their_metrics_are_exactly_the_contract() {
        let contract = [
            ("password_reset", "ResetCompleted"),
            ("proof_failed", "ProofFailed"),
            ("resets_blocked", "ResetsBlocked"),
            ("signin_locked", "SignInLocked"),
            ("code_undelivered", "CodeUndelivered"),
        ];
        let mut ours: Vec<_> = AuditKind::ALL
            .into_iter()
            .filter_map(|k| Some((k.as_str(), k.metric()?)))
            .collect();
        let mut contract = contract.to_vec();
        ours.sort_unstable();
        contract.sort_unstable();
        assert_eq!(ours, contract);
    }
}
