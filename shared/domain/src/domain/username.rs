//! Usernames: the one rule for what a username is (3 to 64 of `a-z 0-9 . _ -
//! @`, case-insensitive, stored lower-cased), so that no two accounts can look
//! alike and every key the store builds from one is well formed.

use super::Invalid;

/// A username: 3 to 64 of `a-z 0-9 . _ - @`, compared case-insensitively
/// (stored lower-cased).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Username(String);

impl Username {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let lower = raw.to_lowercase();
        let len = lower.chars().count();
        if !(3..=64).contains(&len) {
            return Err(Invalid("username must be 3 to 64 characters"));
        }
        if !lower.chars().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-' | '@')
        }) {
            return Err(Invalid(
                "username may hold only a-z, 0-9, '.', '_', '-' and '@'",
            ));
        }
        Ok(Self(lower))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Username {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_case_insensitive() {
        assert_eq!(
            Username::parse("Alice").map(|u| u.0),
            Ok("alice".to_string())
        );
        assert_eq!(
            Username::parse("a.b_c-d@e").map(|u| u.0),
            Ok("a.b_c-d@e".to_string())
        );
    }

    #[test]
    fn bad_usernames_are_refused() {
        for raw in [
            "ab",
            "",
            "al ice",
            "alice\0",
            "ålice",
            "a/b",
            &"x".repeat(65),
            "İstanbul",
        ] {
            assert!(Username::parse(raw).is_err(), "{raw:?} passed");
        }
        assert!(Username::parse(&"x".repeat(64)).is_ok());
    }
}
