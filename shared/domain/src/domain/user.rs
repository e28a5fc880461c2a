//! The user entity as the flows see it: a profile with typed fields, the state
//! of each purpose's code and send limit, the counters behind the sign-in lock
//! and the reset block, and where the reset journey stands (its stage, a
//! [`ResetStage`]: the gate and the reset grant proofs leave). The store
//! decodes its items into these types and refuses an item that does not make
//! one; what the states mean and how they move is `lifecycle`'s (the
//! journey's: `lifecycle::next`).

use std::collections::BTreeMap;

use super::{CodeDigest, Email, Locale, Phone, Purpose, Username};

/// The stored state of one purpose's code and its send limit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CodeSlot {
    pub digest: Option<CodeDigest>,
    pub expires_at: i64,
    pub attempts: u32,
    pub spent: bool,
    /// Start of the current send window.
    pub window_start: i64,
    /// Codes sent in the current window.
    pub window_count: u32,
    pub last_sent: i64,
    /// When a code of this purpose last went to each recipient (by its
    /// [`super::CodeKey::recipient`] key): the one-a-minute spacing is kept
    /// per recipient, so a corrected address gets its code at once.
    pub sent_to: BTreeMap<String, i64>,
}

/// A failure counter in its window: failed code proofs (the Entra block
/// rule) or wrong passwords at sign-in (the lockout rule).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Failures {
    pub window_start: i64,
    pub count: u32,
    /// When the latest failure was counted.
    pub last: i64,
}

/// Failed code proofs in the current window.
pub type ProofFailures = Failures;

/// Wrong passwords at sign-in in the current window.
pub type SignInFailures = Failures;

/// The reset a right reset code granted: the `jti` of its token, spent by the
/// one password write it allows, and when it lapses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResetGrant {
    pub jti: String,
    pub expires_at: i64,
}

impl ResetGrant {
    /// Whether a reset token with `jti` may still set a password at `now`.
    pub fn admits(&self, jti: &str, now: i64) -> bool {
        self.jti == jti && self.expires_at > now
    }
}

/// Which recovery method: the primary email, or one of the method items
/// (a user holds one item per kind, so an item goes by its kind). Its name
/// ([`MethodId::as_str`]) is what the API's paths and bodies, the gate
/// token's `via` and the stored `rp_via` and `gate_via` say; a name is read
/// back with [`MethodId::parse`] where it comes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MethodId {
    /// The primary recovery email (it lives on the profile, not in an item
    /// of its own).
    Primary,
    /// The method item of this kind.
    Item(MethodKind),
}

/// The id the primary recovery email goes by among the methods.
pub const PRIMARY: MethodId = MethodId::Primary;

impl MethodId {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Primary => "primary",
            Self::Item(kind) => kind.as_str(),
        }
    }

    /// The method `raw` names, if any.
    pub fn parse(raw: &str) -> Option<Self> {
        if raw == Self::Primary.as_str() {
            return Some(Self::Primary);
        }
        MethodKind::parse(raw).map(Self::Item)
    }
}

impl std::fmt::Display for MethodId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for MethodId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for MethodId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::parse(&raw).ok_or_else(|| serde::de::Error::custom("not a method id"))
    }
}

/// What kind of recovery method (API.md "Recovery methods and gates").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MethodKind {
    Email,
    Phone,
    Totp,
    RecoveryCodes,
}

impl MethodKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Phone => "phone",
            Self::Totp => "totp",
            Self::RecoveryCodes => "recovery_codes",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Email, Self::Phone, Self::Totp, Self::RecoveryCodes]
            .into_iter()
            .find(|k| k.as_str() == raw)
    }

    /// The name a proof of this kind goes by (`next` of a gate token):
    /// one recovery code of the set is a `recovery_code`.
    pub fn proof_name(self) -> &'static str {
        match self {
            Self::RecoveryCodes => "recovery_code",
            other => other.as_str(),
        }
    }

    /// How many a user may hold (the primary email counts as one email).
    pub fn limit(self) -> usize {
        match self {
            Self::Email => 2,
            _ => 1,
        }
    }
}

/// What a method proves control of, and the secret state it keeps.
#[derive(Clone, PartialEq, Eq)]
pub enum MethodTarget {
    Email(Email),
    Phone(Phone),
    /// An authenticator app: its secret sealed under the TOTP key (never in
    /// the clear), and the last time step accepted (a step works once, and
    /// no step before it works after it).
    Totp {
        sealed: Vec<u8>,
        last_step: u64,
    },
    /// The digests of the recovery codes not yet used.
    RecoveryCodes {
        left: Vec<CodeDigest>,
    },
}

impl std::fmt::Debug for MethodTarget {
    /// The kind and the masked label; never a secret or a whole address.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Email(e) => write!(f, "Email({})", e.masked()),
            Self::Phone(p) => write!(f, "Phone({})", p.masked()),
            Self::Totp { last_step, .. } => write!(f, "Totp {{ last_step: {last_step} }}"),
            Self::RecoveryCodes { left } => write!(f, "RecoveryCodes {{ left: {} }}", left.len()),
        }
    }
}

/// Where a method stands: pending until its first code is proved; a
/// removed method's item is kept a while for the audit trail, but the store
/// never hands it to a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MethodState {
    Pending,
    Confirmed,
}

/// One recovery method of a user, its own item under the user.
#[derive(Debug, Clone)]
pub struct Method {
    pub id: MethodId,
    pub target: MethodTarget,
    pub state: MethodState,
    /// The code that confirms an email or phone method.
    pub code: CodeSlot,
    pub created_at: i64,
    pub confirmed_at: Option<i64>,
    pub last_used_at: Option<i64>,
    /// The token version of the session that added it: confirming it needs
    /// that session alive, so a reset ends every pending method.
    pub added_ver: u64,
}

impl Method {
    pub fn kind(&self) -> MethodKind {
        self.target.kind()
    }

    pub fn confirmed(&self) -> bool {
        self.state == MethodState::Confirmed
    }

    /// The label a list shows: a masked address or number, or the kind.
    pub fn label(&self) -> String {
        self.target.label()
    }
}

impl MethodTarget {
    pub fn kind(&self) -> MethodKind {
        match self {
            Self::Email(_) => MethodKind::Email,
            Self::Phone(_) => MethodKind::Phone,
            Self::Totp { .. } => MethodKind::Totp,
            Self::RecoveryCodes { .. } => MethodKind::RecoveryCodes,
        }
    }

    /// A masked address or number, or the kind.
    pub fn label(&self) -> String {
        match self {
            Self::Email(e) => e.masked(),
            Self::Phone(p) => p.masked(),
            Self::Totp { .. } => "authenticator".to_owned(),
            Self::RecoveryCodes { left } => format!("{} left", left.len()),
        }
    }
}

/// A first gate passed: the `jti` of its gate token, the method it proved,
/// and when it lapses. Spent by the second proof.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateGrant {
    pub jti: String,
    pub via: MethodId,
    pub expires_at: i64,
}

/// A method a reset can prove (API.md "Reset through the gates"): the
/// primary email or a confirmed method item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Held {
    pub id: MethodId,
    pub kind: MethodKind,
}

/// Where a user's reset stands (DESIGN.md "Reset token", API.md "Reset
/// through the gates"), as the profile holds it:
///
/// ```text
///            code sent                 right proof, last gate
///   Idle ─────────────▶ CodeSent ──────────────────────────────▶ Granted
///     │                    │                                     ▲  │
///     │                    │ right proof, first of two gates     │  │ the reset
///     │                    ▼                                     │  │ spends it
///     └──(totp, recovery)▶ GatePassed ── proof of another method ┘  ▼
///                          (second code: code_to)                 Idle
/// ```
///
/// An authenticator or a recovery code proves from any stage (nothing is
/// sent for them). A new attempt may start beside a grant that is still
/// alive: asking for a code, which anyone who knows the name can do, never
/// ends a reset token someone holds (`Granted`'s `code_to` and `gate`); only
/// a new grant replaces it, and only the reset spends it. Whether the code
/// that went out is still pending is the `reset` [`CodeSlot`]'s state; when
/// a gate or a grant lapses is `now`'s.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ResetStage {
    /// No code out, no gate passed, no reset granted.
    #[default]
    Idle,
    /// A reset code went to the method `via`.
    CodeSent { via: MethodId },
    /// The first of two gates passed; `code_to`: the method the last reset
    /// code went to (the one that passed the gate, or one sent since: for
    /// the second gate, or a new start).
    GatePassed {
        gate: GateGrant,
        code_to: Option<MethodId>,
    },
    /// A reset token granted; beside it, the method the last reset code
    /// went to (`code_to`) and a new attempt's first gate (`gate`), if any.
    Granted {
        grant: ResetGrant,
        code_to: Option<MethodId>,
        gate: Option<GateGrant>,
    },
}

impl ResetStage {
    /// The stage the stored parts make: the method the last reset code went
    /// to, a first gate passed, a reset granted. Every combination is a stage
    /// (see the diagram); a stored name that is no method is refused where
    /// it is read ([`MethodId::parse`]).
    pub fn from_parts(
        code_to: Option<MethodId>,
        gate: Option<GateGrant>,
        grant: Option<ResetGrant>,
    ) -> Self {
        match (code_to, gate, grant) {
            (None, None, None) => Self::Idle,
            (Some(via), None, None) => Self::CodeSent { via },
            (code_to, Some(gate), None) => Self::GatePassed { gate, code_to },
            (code_to, gate, Some(grant)) => Self::Granted {
                grant,
                code_to,
                gate,
            },
        }
    }

    /// The method the last reset code went to.
    pub fn code_to(&self) -> Option<MethodId> {
        match self {
            Self::Idle => None,
            Self::CodeSent { via } => Some(*via),
            Self::GatePassed { code_to, .. } | Self::Granted { code_to, .. } => *code_to,
        }
    }

    /// The first gate passed, alive or not.
    pub fn gate(&self) -> Option<&GateGrant> {
        match self {
            Self::GatePassed { gate, .. } => Some(gate),
            Self::Granted { gate, .. } => gate.as_ref(),
            Self::Idle | Self::CodeSent { .. } => None,
        }
    }

    /// The reset granted, alive or not.
    pub fn grant(&self) -> Option<&ResetGrant> {
        match self {
            Self::Granted { grant, .. } => Some(grant),
            _ => None,
        }
    }
}

/// A user's profile as stored.
#[derive(Debug, Clone)]
pub struct UserRecord {
    pub user_id: String,
    pub username: Username,
    pub email: Email,
    pub email_verified: bool,
    /// A new recovery email waiting for its code.
    pub pending_email: Option<Email>,
    pub locale: Locale,
    pub created_at: i64,
    pub password_changed_at: i64,
    pub password_hash: String,
    /// Earlier hashes, newest first (the current one is `password_hash`).
    pub password_history: Vec<String>,
    pub token_version: u64,
    /// Holds the admin role (set by operators on the profile item: `role = "admin"`).
    pub is_admin: bool,
    pub verify: CodeSlot,
    pub reset: CodeSlot,
    pub unlock: CodeSlot,
    pub signin: SignInFailures,
    pub proofs: ProofFailures,
    /// Where the reset journey stands: the method the last reset code went
    /// to, a first gate passed, a reset granted (`lifecycle::next` moves it).
    pub journey: ResetStage,
    /// When the user last confirmed their methods (reconfirmation).
    pub methods_confirmed_at: i64,
    /// The method items, pending and confirmed (a removed one is deleted).
    pub methods: Vec<Method>,
    /// Moves on with every change to the set of methods.
    pub methods_revision: u64,
}

impl UserRecord {
    /// Every key version something of this record was sealed or keyed under:
    /// its codes' digests, its methods' seals, codes and recovery codes.
    pub fn key_versions(&self) -> Vec<u32> {
        let mut v: Vec<u32> = [&self.verify, &self.reset, &self.unlock]
            .into_iter()
            .filter_map(|s| s.digest.as_ref().and_then(CodeDigest::version))
            .collect();
        for m in &self.methods {
            v.extend(m.code.digest.as_ref().and_then(CodeDigest::version));
            match &m.target {
                MethodTarget::Totp { sealed, .. } => {
                    v.extend(crate::keyring::sealed_version(sealed));
                }
                MethodTarget::RecoveryCodes { left } => {
                    v.extend(left.iter().filter_map(CodeDigest::version));
                }
                MethodTarget::Email(_) | MethodTarget::Phone(_) => {}
            }
        }
        v.sort_unstable();
        v.dedup();
        v
    }

    pub fn slot(&self, purpose: Purpose) -> &CodeSlot {
        match purpose {
            Purpose::VerifyEmail => &self.verify,
            Purpose::ResetPassword => &self.reset,
            Purpose::UnlockAccount => &self.unlock,
        }
    }

    /// The method item `id`.
    pub fn method(&self, id: MethodId) -> Option<&Method> {
        self.methods.iter().find(|m| m.id == id)
    }

    /// The confirmed method of `kind`, the first if there are several.
    pub fn confirmed(&self, kind: MethodKind) -> Option<&Method> {
        self.methods
            .iter()
            .find(|m| m.confirmed() && m.kind() == kind)
    }

    /// The proofs of a reset need this many different methods: the
    /// configured gates, and always two for an admin.
    pub fn gates(&self, configured: u8) -> usize {
        if self.is_admin {
            2
        } else {
            usize::from(configured.clamp(1, 2))
        }
    }

    /// The methods a reset can prove now: the primary email once confirmed,
    /// and each confirmed item that can prove something (a phone only while
    /// the deployment sends SMS, recovery codes while some are left).
    pub fn held(&self, sms: bool) -> Vec<Held> {
        let primary = self.email_verified.then_some(Held {
            id: PRIMARY,
            kind: MethodKind::Email,
        });
        let items = self
            .methods
            .iter()
            .filter(|m| m.confirmed())
            .filter(|m| match &m.target {
                MethodTarget::Phone(_) => sms,
                MethodTarget::RecoveryCodes { left } => !left.is_empty(),
                _ => true,
            });
        primary
            .into_iter()
            .chain(items.map(|m| Held {
                id: m.id,
                kind: m.kind(),
            }))
            .collect()
    }

    /// How many more methods the user should register to meet `gates`.
    pub fn methods_needed(&self, gates: usize, sms: bool) -> usize {
        gates.saturating_sub(self.held(sms).len())
    }

    /// Whether the methods were last confirmed more than `days` ago (0: never due).
    pub fn reconfirm_due(&self, days: u32, now: i64) -> bool {
        let since = self.methods_confirmed_at.max(self.created_at);
        days > 0 && now - since > i64::from(days) * 86_400
    }

    /// Where a code of `purpose` goes: a confirmation to the pending address
    /// when there is one, everything else to the recovery email.
    pub fn code_recipient(&self, purpose: Purpose) -> &Email {
        match (purpose, &self.pending_email) {
            (Purpose::VerifyEmail, Some(pending)) => pending,
            _ => &self.email,
        }
    }
}
