use super::{is_control, Invalid};

/// A recovery email address: one `@`, a local part of 1 to 64 characters, a
/// domain of dot-separated labels with a dot in it; 254 characters at most. The
/// domain is lower-cased; the local part is kept as given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let raw = raw.trim();
        if raw.is_empty() || raw.len() > 254 {
            return Err(Invalid("email must be 1 to 254 characters"));
        }
        if raw.chars().any(|c| is_control(c) || c.is_whitespace()) {
            return Err(Invalid("email may not hold spaces or control characters"));
        }
        let (local, domain) = raw.rsplit_once('@').ok_or(Invalid("email needs an '@'"))?;
        if local.is_empty() || local.len() > 64 || local.contains('@') {
            return Err(Invalid(
                "email's local part must be 1 to 64 characters without '@'",
            ));
        }
        if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
            return Err(Invalid("email's local part has a misplaced '.'"));
        }
        if local.chars().any(|c| {
            matches!(
                c,
                '(' | ')' | ',' | ':' | ';' | '<' | '>' | '[' | ']' | '\\' | '"'
            )
        }) {
            return Err(Invalid(
                "email's local part holds a character mail servers refuse",
            ));
        }
        let domain = domain.to_ascii_lowercase();
        let labels: Vec<&str> = domain.split('.').collect();
        let label_ok = |l: &&str| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        };
        if labels.len() < 2 || !labels.iter().all(label_ok) {
            return Err(Invalid("email's domain is not a valid host name"));
        }
        Ok(Self(format!("{local}@{domain}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part before the `@`.
    pub fn local_part(&self) -> &str {
        self.0.rsplit_once('@').map(|(l, _)| l).unwrap_or(&self.0)
    }

    /// The address with most of the local part hidden, for notices (`a***@example.com`).
    pub fn masked(&self) -> String {
        match self.0.rsplit_once('@') {
            Some((l, d)) => {
                let first: String = l.chars().take(1).collect();
                format!("{first}***@{d}")
            }
            None => "***".into(),
        }
    }
}

impl std::fmt::Display for Email {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_addresses_pass_and_domains_fold() {
        assert_eq!(
            Email::parse("Alice.B+x@Example.COM").map(|e| e.0),
            Ok("Alice.B+x@example.com".into())
        );
        assert_eq!(
            Email::parse("a@b.de").map(|e| e.local_part().to_string()),
            Ok("a".into())
        );
    }

    #[test]
    fn malformed_addresses_are_refused() {
        for raw in [
            "",
            "alice",
            "alice@",
            "@example.com",
            "alice@example",
            "a b@example.com",
            "alice@exa mple.com",
            "alice@-x.com",
            "alice@x..com",
            ".a@x.com",
            "a..b@x.com",
            "a\0@x.com",
            "a@x\n.com",
            "a<b>@x.com",
            "a@b@x.com",
        ] {
            assert!(Email::parse(raw).is_err(), "{raw:?} passed");
        }
        assert!(Email::parse(&format!("{}@x.com", "a".repeat(65))).is_err());
    }

    #[test]
    fn masking_hides_the_local_part() {
        assert_eq!(
            Email::parse("alice@example.com").map(|e| e.masked()),
            Ok("a***@example.com".into())
        );
    }
}
