//! Email addresses: the recovery addresses users give (sign-up, `PUT /v1/me/email`),
//! the admin addresses of `SSPR_ADMIN_EMAILS`, and the sender of `SSPR_SENDER`
//! ([`Mailbox`]). Every address sspr mails to or from passes through here, and
//! the mail renderer parses `To:` and `From:` again before it writes them.
//!
//! An address is ASCII, end to end, because it must be deliverable as written:
//! - **Local part**: a dot-atom of RFC 5322 `atext` (letters, digits and
//!   ``!#$%&'*+-/=?^_`{|}~``, dots between), 1 to 64 characters. SES does not
//!   support SMTPUTF8 (RFC 6531), so a non-ASCII local part (`jörg@`) has no
//!   form a `To:` header can carry: raw UTF-8 is refused or mangled, and an
//!   RFC 2047 encoded-word there is not an address at all. The user would be
//!   told `201` and never get the code; refusing says so at once.
//! - **No encoded-word look-alikes**: a local part holding `=?` is refused, so
//!   nothing sspr writes into `To:` can be decoded by a mail client into
//!   something else.
//! - **Invisible and direction-changing characters** (controls, `Cf` such as
//!   U+200B..U+200F, U+202A..U+202E, U+2060..U+2064, U+FEFF, U+00AD, and the
//!   other default-ignorables: see `is_invisible`) are refused anywhere in an
//!   address, with a reason of their own: an address holding one looks like
//!   another one in every notice and log.
//! - **Domain**: host-name labels of ASCII letters, digits and `-` (LDH), at
//!   least two, lower-cased. An internationalised domain is refused in its
//!   Unicode form (`jörg@bücher.de`) and accepted in its A-label form
//!   (`jorg@xn--bcher-kva.de`). We do not convert to punycode ourselves: UTS 46
//!   mapping needs a large table crate, and a silent conversion turns a
//!   homograph (`exаmple.com` with a Cyrillic `а`) into a different, valid
//!   domain that the user never sees written out; the `xn--` form the user
//!   gives instead is what every notice shows, so no look-alike hides in it.

use super::{is_invisible, Invalid};

/// A recovery email address: one `@`, an ASCII dot-atom local part of 1 to 64
/// characters without `=?`, a domain of ASCII host-name labels with a dot in it;
/// 254 characters at most. The domain is lower-cased; the local part is kept as
/// given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

/// RFC 5322 `atext`: what a dot-atom may hold besides the dots.
fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c)
}

impl Email {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        // Only ASCII spaces around it are forgiven: any other character is
        // refused below rather than silently dropped.
        let raw = raw.trim_matches(|c: char| c.is_ascii_whitespace());
        if raw.is_empty() || raw.len() > 254 {
            return Err(Invalid("email must be 1 to 254 characters"));
        }
        if raw.chars().any(is_invisible) {
            return Err(Invalid(
                "email may not hold control, invisible or direction-changing characters",
            ));
        }
        if raw.chars().any(char::is_whitespace) {
            return Err(Invalid("email may not hold spaces"));
        }
        let (local, domain) = raw.rsplit_once('@').ok_or(Invalid("email needs an '@'"))?;
        if local.is_empty() || local.len() > 64 || local.contains('@') {
            return Err(Invalid(
                "email's local part must be 1 to 64 characters without '@'",
            ));
        }
        if !local.is_ascii() {
            return Err(Invalid(
                "email's local part must be ASCII: internationalised addresses cannot be delivered",
            ));
        }
        if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
            return Err(Invalid("email's local part has a misplaced '.'"));
        }
        if !local.chars().all(|c| c == '.' || is_atext(c)) {
            return Err(Invalid(
                "email's local part holds a character mail servers refuse",
            ));
        }
        if local.contains("=?") {
            return Err(Invalid(
                "email's local part may not hold '=?' (it reads as an encoded word)",
            ));
        }
        if !domain.is_ascii() {
            return Err(Invalid(
                "email's domain must be ASCII: give an internationalised domain in its xn-- form",
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

    /// An address read back from the store, taken as it was stored: it was
    /// checked when it was written, and a rule tightened since must not lock
    /// its user out of every route. Today's rules still stand between it and
    /// any mail: the courier parses every recipient again before it sends,
    /// and a mail it refuses revokes its code. `None` for what no check ever
    /// let through (no `@` with text on both sides, or not one line).
    pub fn from_stored(raw: &str) -> Option<Self> {
        let (local, domain) = raw.rsplit_once('@')?;
        let one_line = !raw.chars().any(super::is_control);
        (!local.is_empty() && !domain.is_empty() && one_line).then(|| Self(raw.to_owned()))
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

/// A sender: an [`Email`] with an optional display name, written
/// `Name <address>` or just `address` (`SSPR_SENDER`). The name may be any
/// visible text of up to 64 characters without `"`, `\`, `<`, `>` or `=?`; the
/// mail renderer encodes a non-ASCII name as RFC 2047 encoded-words, which is
/// where they are allowed, and never the address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mailbox {
    name: Option<String>,
    address: Email,
}

impl Mailbox {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let raw = raw.trim_matches(|c: char| c.is_ascii_whitespace());
        let Some(open) = raw.find('<') else {
            return Email::parse(raw).map(|address| Self {
                name: None,
                address,
            });
        };
        let (name, rest) = raw.split_at(open);
        let address = rest
            .strip_prefix('<')
            .and_then(|r| r.strip_suffix('>'))
            .ok_or(Invalid("sender must be `Name <address>` or an address"))?;
        let address = Email::parse(address)?;
        let name = name.trim();
        if name.chars().any(is_invisible) {
            return Err(Invalid(
                "sender name may not hold control, invisible or direction-changing characters",
            ));
        }
        if name.chars().count() > 64
            || name.contains("=?")
            || name.chars().any(|c| matches!(c, '"' | '\\' | '<' | '>'))
        {
            return Err(Invalid(
                "sender name must be up to 64 characters without '\"', '\\', '<', '>' or '=?'",
            ));
        }
        Ok(Self {
            name: (!name.is_empty()).then(|| name.to_owned()),
            address,
        })
    }

    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    pub fn address(&self) -> &Email {
        &self.address
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
        for raw in [
            "o'brien@example.com",
            "a!#$%&'*+-/?=^_`{|}~z@example.com",
            "q?@example.com",
            "x=y@example.com",
        ] {
            assert!(Email::parse(raw).is_ok(), "{raw:?} refused");
        }
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
    fn non_ascii_local_parts_are_refused() {
        for raw in [
            "jörg@example.com",
            "jo\u{0308}rg@example.com", // o + combining diaeresis
            "алиса@example.com",
            "用户@example.com",
            "ｊorg@example.com", // full-width j
            "a\u{a0}b@example.com",
        ] {
            let e = Email::parse(raw);
            assert!(e.is_err(), "{raw:?} passed");
        }
        assert_eq!(
            Email::parse("jörg@example.com").map_err(|e| e.0),
            Err(
                "email's local part must be ASCII: internationalised addresses cannot be delivered"
            )
        );
    }

    #[test]
    fn invisible_and_bidi_characters_are_refused_in_local_part_and_domain() {
        let invisible = [
            '\u{00AD}',
            '\u{061C}',
            '\u{180E}',
            '\u{200B}',
            '\u{200C}',
            '\u{200D}',
            '\u{200E}',
            '\u{200F}',
            '\u{202A}',
            '\u{202B}',
            '\u{202C}',
            '\u{202D}',
            '\u{202E}',
            '\u{2060}',
            '\u{2061}',
            '\u{2062}',
            '\u{2063}',
            '\u{2064}',
            '\u{2066}',
            '\u{2067}',
            '\u{2068}',
            '\u{2069}',
            '\u{FEFF}',
            '\u{FFF9}',
            '\u{E0001}',
            '\u{E0041}',
            '\u{034F}',
            '\u{FE0F}',
            '\u{3164}',
            '\u{2028}',
            '\u{0085}',
            '\u{0007}',
            '\u{007F}',
        ];
        let reason = "email may not hold control, invisible or direction-changing characters";
        for c in invisible {
            for raw in [
                format!("ali{c}ce@example.com"),
                format!("{c}alice@example.com"),
                format!("alice@exa{c}mple.com"),
                format!("alice@example.com{c}"),
            ] {
                assert_eq!(Email::parse(&raw).map_err(|e| e.0), Err(reason), "{raw:?}");
            }
        }
    }

    #[test]
    fn local_parts_that_look_like_encoded_words_are_refused() {
        for raw in [
            "=?UTF-8?B?am9yZw==?=@example.com",
            "=?utf-8?q?j=C3=B6rg?=@example.com",
            "a=?b@example.com",
        ] {
            assert!(Email::parse(raw).is_err(), "{raw:?} passed");
        }
    }

    #[test]
    fn internationalised_domains_are_refused_unless_in_their_a_label_form() {
        for raw in [
            "jorg@bücher.de",
            "a@exаmple.com", // Cyrillic а
            "a@例え.jp",
            "a@example。com", // ideographic full stop
        ] {
            assert_eq!(
                Email::parse(raw).map_err(|e| e.0),
                Err("email's domain must be ASCII: give an internationalised domain in its xn-- form"),
                "{raw:?}"
            );
        }
        assert_eq!(
            Email::parse("jorg@XN--bcher-kva.de").map(|e| e.0),
            Ok("jorg@xn--bcher-kva.de".into())
        );
    }

    #[test]
    fn every_accepted_address_is_plain_ascii() {
        for raw in ["Alice.B+x@Example.COM", "jorg@xn--bcher-kva.de", "q?@x.io"] {
            let e = Email::parse(raw).expect("valid");
            assert!(e.as_str().bytes().all(|b| b.is_ascii_graphic()), "{raw:?}");
        }
    }

    #[test]
    fn masking_hides_the_local_part() {
        assert_eq!(
            Email::parse("alice@example.com").map(|e| e.masked()),
            Ok("a***@example.com".into())
        );
    }

    #[test]
    fn senders_are_an_address_with_an_optional_visible_name() {
        let m = Mailbox::parse("Account team <no-reply@Example.com>").expect("valid");
        assert_eq!(m.name(), Some("Account team"));
        assert_eq!(m.address().as_str(), "no-reply@example.com");
        let m = Mailbox::parse("no-reply@example.com").expect("valid");
        assert_eq!(m.name(), None);
        let m = Mailbox::parse("Passwort-Dienst für Müller <no-reply@example.com>").expect("valid");
        assert_eq!(m.name(), Some("Passwort-Dienst für Müller"));
        assert_eq!(Mailbox::parse("<a@example.com>").map(|m| m.name), Ok(None));
        for raw in [
            "sspr <jörg@example.com>",
            "sspr <a@example.com",
            "sspr <a@example.com> x",
            "s\u{202E}rps <a@example.com>",
            "s\r\nBcc: x <a@example.com>",
            "\"sspr\" <a@example.com>",
            "=?UTF-8?B?c3Nwcg==?= <a@example.com>",
            "a@example.com>",
        ] {
            assert!(Mailbox::parse(raw).is_err(), "{raw:?} passed");
        }
    }
}
