//! Domain values that validate on construction: a value of one of these types
//! is valid, so the flows never check again.

mod code;
mod email;
mod locale;
pub mod password;
mod username;

pub use code::{Code, CodeDigest, CodeKey, Purpose};
pub use email::Email;
pub use locale::Locale;
pub use password::{NewPassword, Password, PasswordHasher, Verified, WeakReason};
pub use username::Username;

/// Why a raw value was refused; the text is safe to show the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub &'static str);

/// True for characters no identifier or secret should carry: NUL, C0/C1 controls, DEL.
pub(crate) fn is_control(c: char) -> bool {
    c.is_control()
}
