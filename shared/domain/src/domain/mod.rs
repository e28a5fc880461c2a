//! The domain model: values that validate on construction (a value of one of
//! these types is valid, so the flows never check again), the policies as
//! values, the user entity, and the lifecycles of codes, limits and locks.

pub mod banned;
mod code;
pub mod compromised;
mod email;
pub mod lifecycle;
mod locale;
pub mod password;
mod phone;
pub mod policy;
pub mod recovery;
pub mod totp;
pub mod user;
mod username;

pub use lifecycle::{CodeState, Hold, Limited, ProofVerdict, SendSlot, SendWindow, Tallied, Tally};
pub use policy::{CodePolicy, HashParams, PasswordPolicy, Rules, SignInPolicy};
pub use user::{CodeSlot, Failures, ResetGrant, ResetStage, UserRecord};

pub use banned::BannedTerms;
pub use code::{Code, CodeDigest, CodeKey, Purpose};
pub use compromised::CompromisedFilter;
pub use email::{Email, Mailbox};
pub use locale::Locale;
pub use password::{NewPassword, Password, PasswordHasher, Verified, WeakReason};
pub use phone::Phone;
pub use recovery::{RecoveryCode, RECOVERY_CODES};
pub use totp::{TotpSeal, TotpSecret};
pub use username::Username;

/// Why a raw value was refused; the text is safe to show the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub &'static str);

/// True for characters no identifier or secret should carry: NUL, C0/C1 controls, DEL.
pub(crate) fn is_control(c: char) -> bool {
    c.is_control()
}

/// True for characters a reader cannot see or that reorder what is around them:
/// every control (`Cc`), every format character (`Cf`, Unicode 15: soft hyphen,
/// zero-width space and joiners, the bidi embeddings, overrides and isolates,
/// word joiner and invisible operators, BOM, interlinear annotation, tags), the
/// line and paragraph separators, and the other default-ignorable fillers and
/// selectors. An address holding one looks like another address.
pub(crate) fn is_invisible(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            // Cf
            '\u{00AD}'
                | '\u{0600}'..='\u{0605}'
                | '\u{061C}'
                | '\u{06DD}'
                | '\u{070F}'
                | '\u{0890}'..='\u{0891}'
                | '\u{08E2}'
                | '\u{180E}'
                | '\u{200B}'..='\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2060}'..='\u{2064}'
                | '\u{2066}'..='\u{206F}'
                | '\u{FEFF}'
                | '\u{FFF9}'..='\u{FFFB}'
                | '\u{110BD}'
                | '\u{110CD}'
                | '\u{13430}'..='\u{1343F}'
                | '\u{1BCA0}'..='\u{1BCA3}'
                | '\u{1D173}'..='\u{1D17A}'
                | '\u{E0001}'
                | '\u{E0020}'..='\u{E007F}'
                // Zl, Zp
                | '\u{2028}'..='\u{2029}'
                // default-ignorable, not Cf: grapheme joiner, Hangul fillers,
                // Khmer inherent vowels, Mongolian selectors, variation selectors
                | '\u{034F}'
                | '\u{115F}'..='\u{1160}'
                | '\u{17B4}'..='\u{17B5}'
                | '\u{180B}'..='\u{180D}'
                | '\u{180F}'
                | '\u{3164}'
                | '\u{FE00}'..='\u{FE0F}'
                | '\u{FFA0}'
                | '\u{E0100}'..='\u{E01EF}'
        )
}
