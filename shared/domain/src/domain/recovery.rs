//! Recovery codes: the saved single-use codes a user prints or stores when
//! they make a set (NIST SP 800-63B-4's saved recovery codes, the look-up
//! secrets of ASVS 5.0 V6). This module owns what one is, how a set is drawn, how a
//! typed one is read; its digest at rest is `CodeKey::recovery_digest`
//! (`domain/code.rs`), an HMAC like every other code's, so the table holds
//! none of them.
//!
//! - **Entropy**: 16 symbols of Crockford's base32 (`0-9 a-z` without `i l o
//!   u`), uniform from the OS generator: 80 bits each, above the 64 the issue
//!   asks and far past any online guessing the 5-in-24-hours block allows.
//! - **At rest**: HMAC-SHA256 under the server's code key, so a stolen table
//!   without the key tests no guess offline at all; with the key as well,
//!   each guess is one of 2^80. (NIST SP 800-63B and ASVS 5.0 V6.5 ask a
//!   salted password hash for look-up secrets under 112 bits; the keyed MAC
//!   is the choice of this service's design, see SECURITY.md.)
//! - **Reading**: case-insensitive; spaces and dashes are dropped; the
//!   look-alikes Crockford names are read as what they look like (`i`, `l` as
//!   `1`, `o` as `0`); anything else, or the wrong length, is refused. `u` is
//!   not in the alphabet and is refused rather than guessed at.
//! - **Shown** as `xxxx-xxxx-xxxx-xxxx`: four groups a person copies without
//!   losing their place. What is hashed is the 16 symbols alone, so the shown
//!   and the typed forms of one code give one digest.

use rand::RngCore as _;

use super::Invalid;

/// How many codes a set holds.
pub const RECOVERY_CODES: usize = 10;

/// Symbols in a code.
const LEN: usize = 16;

/// Crockford's base32 symbols, lower case: no `i l o u`.
const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// One recovery code: 16 symbols of Crockford base32, lower case. `Debug`
/// hides it; only the answer that makes a set shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct RecoveryCode(String);

impl std::fmt::Debug for RecoveryCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RecoveryCode([redacted])")
    }
}

/// A typed character as a symbol of the alphabet, look-alikes mapped.
fn symbol(c: char) -> Option<char> {
    let c = c.to_ascii_lowercase();
    match c {
        'i' | 'l' => Some('1'),
        'o' => Some('0'),
        _ if c.is_ascii() && ALPHABET.contains(&(c as u8)) => Some(c),
        _ => None,
    }
}

impl RecoveryCode {
    /// A fresh code: 80 bits from the OS CSPRNG, five to a symbol, so every
    /// symbol is uniform (no modulo bias).
    pub fn generate() -> Self {
        let mut bytes = [0u8; LEN * 5 / 8];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let (mut buf, mut bits) = (0u16, 0u32);
        let mut out = String::with_capacity(LEN);
        for b in bytes {
            buf = (buf << 8) | u16::from(b);
            bits += 8;
            while bits >= 5 {
                bits -= 5;
                out.push(char::from(ALPHABET[usize::from((buf >> bits) & 31)]));
            }
            buf &= (1 << bits) - 1;
        }
        Self(out)
    }

    /// A set of [`RECOVERY_CODES`] distinct codes.
    pub fn set() -> Vec<RecoveryCode> {
        let mut codes: Vec<RecoveryCode> = Vec::with_capacity(RECOVERY_CODES);
        while codes.len() < RECOVERY_CODES {
            // Two equal draws of 80 bits do not happen; were they to, the set
            // would hold nine codes a person could tell apart.
            let code = Self::generate();
            if !codes.contains(&code) {
                codes.push(code);
            }
        }
        codes
    }

    /// The code as shown to the user: `xxxx-xxxx-xxxx-xxxx`.
    pub fn display(&self) -> String {
        let mut out = String::with_capacity(LEN + 3);
        for (i, c) in self.0.chars().enumerate() {
            if i > 0 && i % 4 == 0 {
                out.push('-');
            }
            out.push(c);
        }
        out
    }

    /// A code as the user typed it.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        const REFUSED: Invalid =
            Invalid("recovery code must be the 16 letters and digits of one of your saved codes");
        let mut out = String::with_capacity(LEN);
        for c in raw.chars().filter(|c| !matches!(c, ' ' | '-')) {
            // Bounded before it grows: a long input is refused, not copied.
            if out.len() >= LEN {
                return Err(REFUSED);
            }
            out.push(symbol(c).ok_or(REFUSED)?);
        }
        if out.len() != LEN {
            return Err(REFUSED);
        }
        Ok(Self(out))
    }

    /// The 16 symbols without dashes: what the digest is taken over.
    pub(crate) fn canonical(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_is_sixteen_symbols_shown_in_four_groups_and_read_back() {
        for _ in 0..200 {
            let c = RecoveryCode::generate();
            assert_eq!(c.0.len(), 16);
            assert!(c.0.bytes().all(|b| ALPHABET.contains(&b)));
            let shown = c.display();
            assert_eq!(shown.len(), 19);
            assert_eq!(shown.split('-').count(), 4);
            assert!(shown.split('-').all(|g| g.len() == 4));
            assert_eq!(RecoveryCode::parse(&shown), Ok(c.clone()));
            assert_eq!(RecoveryCode::parse(&shown.to_uppercase()), Ok(c.clone()));
            assert_eq!(RecoveryCode::parse(&shown.replace('-', " ")), Ok(c.clone()));
            assert_eq!(RecoveryCode::parse(c.canonical()), Ok(c));
        }
    }

    #[test]
    fn look_alikes_are_read_as_the_symbol_they_resemble() {
        let want = RecoveryCode::parse("1100-1100-abcd-efgh").expect("valid");
        for typed in [
            "ilOO-LIoo-ABCD-EFGH",
            "IL00 1ioO abcd efgh",
            "il0o1loOabcdefgh",
            " iloo - 1100 - abcd - efgh ",
        ] {
            assert_eq!(RecoveryCode::parse(typed), Ok(want.clone()), "{typed:?}");
        }
    }

    #[test]
    fn anything_else_or_the_wrong_length_is_refused() {
        for bad in [
            "",
            "abcd-efgh-jkmn-pqr",
            "abcd-efgh-jkmn-pqrst",
            "abcd-efgh-jkmn-pqru",
            "abcd_efgh_jkmn_pqrs",
            "abcd.efgh.jkmn.pqrs",
            "abcd-efgh-jkmn-pqr\u{0442}", // Cyrillic т
            "ａbcd-efgh-jkmn-pqrs",       // full-width a
            "abcd-efgh-jkmn-pqr\u{200B}s",
            "abcd\tefgh-jkmn-pqrs",
            "abcd-efgh-jkmn-pqrs\n",
        ] {
            assert_eq!(
                RecoveryCode::parse(bad),
                Err(Invalid(
                    "recovery code must be the 16 letters and digits of one of your saved codes"
                )),
                "{bad:?}"
            );
        }
        assert!(RecoveryCode::parse(&"a".repeat(100_000)).is_err());
    }

    #[test]
    fn a_set_is_ten_distinct_codes() {
        let set = RecoveryCode::set();
        assert_eq!(set.len(), RECOVERY_CODES);
        for (i, a) in set.iter().enumerate() {
            for b in &set[i + 1..] {
                assert_ne!(a, b);
            }
        }
        assert_ne!(RecoveryCode::set(), set, "each set is new");
    }

    #[test]
    fn generated_symbols_cover_the_alphabet_evenly() {
        let mut seen = [0u32; 32];
        for _ in 0..2000 {
            for b in RecoveryCode::generate().0.bytes() {
                if let Some(i) = ALPHABET.iter().position(|&a| a == b) {
                    seen[i] += 1;
                }
            }
        }
        // 32000 symbols: each near 1000 (sigma about 31); 800..1200 is over 6 sigma.
        assert!(seen.iter().all(|&n| (800..1200).contains(&n)), "{seen:?}");
    }

    #[test]
    fn debug_never_shows_the_code() {
        let c = RecoveryCode::generate();
        assert_eq!(format!("{c:?}"), "RecoveryCode([redacted])");
    }
}
