//! Phone numbers for SMS codes: the one form sspr keeps and hands to SNS,
//! E.164 (ITU-T E.164: `+`, a country code, the national number, 15 digits at
//! most), and the masked form every notice, list and log shows instead.
//!
//! People type numbers with spaces, dashes, dots and brackets; those are
//! dropped. Nothing else is: no national (`0151...`) or `00` form is guessed
//! into a country, so the number SMS goes to is the one the user wrote out.
//! At least 8 digits: no country's full international number is shorter.

use super::Invalid;

/// A phone number in E.164 form: `+` and 8 to 15 digits, the first 1 to 9.
/// `Debug` shows only the masked form: a number is personal data, and the
/// one place that needs it whole (the SMS sender) asks for [`Phone::as_str`].
#[derive(Clone, PartialEq, Eq)]
pub struct Phone(String);

impl std::fmt::Debug for Phone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Phone({})", self.masked())
    }
}

impl Phone {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        const REFUSED: Invalid = Invalid("phone must be in E.164 form, like +4915112345678");
        let mut out = String::with_capacity(16);
        for c in raw
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
        {
            // Bounded before it grows: a long input is refused, not copied.
            if out.len() >= 16 {
                return Err(REFUSED);
            }
            out.push(c);
        }
        let digits = out.strip_prefix('+').ok_or(REFUSED)?;
        let first_ok = digits
            .bytes()
            .next()
            .is_some_and(|b| (b'1'..=b'9').contains(&b));
        if !(8..=15).contains(&digits.len())
            || !first_ok
            || !digits.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(REFUSED);
        }
        Ok(Self(out))
    }

    /// The number as SNS takes it: `+4915112345678`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The number for people to recognise and nobody to use: the `+`, the
    /// first two digits, fixed stars and the last two (`+49 *** **** 78`).
    /// The stars do not follow the length, so the mask does not tell it.
    pub fn masked(&self) -> String {
        // Always ASCII digits after a `+`, at least 8 of them (parse).
        let digits = self.0.get(1..).unwrap_or_default();
        let head = digits.get(..2).unwrap_or_default();
        let tail = digits
            .get(digits.len().saturating_sub(2)..)
            .unwrap_or_default();
        format!("+{head} *** **** {tail}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REFUSED: &str = "phone must be in E.164 form, like +4915112345678";

    #[test]
    fn numbers_as_people_write_them_become_e164() {
        for (raw, want) in [
            ("+4915112345678", "+4915112345678"),
            ("+49 151 12345678", "+4915112345678"),
            ("+49 (151) 123-456.78", "+4915112345678"),
            ("+1 (415) 555-0100", "+14155550100"),
            (" +44 20 7946 0958 ", "+442079460958"),
            ("+12345678", "+12345678"),
            ("+123456789012345", "+123456789012345"),
        ] {
            assert_eq!(Phone::parse(raw).map(|p| p.0), Ok(want.into()), "{raw:?}");
        }
    }

    #[test]
    fn anything_but_e164_is_refused() {
        for raw in [
            "",
            "+",
            "4915112345678",
            "015112345678",
            "004915112345678",
            "+04915112345678",
            "+1234567",
            "+1234567890123456",
            "++4915112345678",
            "+49151123456a8",
            "+49\t15112345678",
            "+49\u{a0}15112345678",
            "+4915112345678\n",
            "+49/151/12345678",
            "+49１５１12345678",     // full-width digits
            "+49151\u{0663}2345678", // Arabic-Indic digit
            "+49 151 1234 5678 ext 9",
            "tel:+4915112345678",
        ] {
            assert_eq!(Phone::parse(raw).map_err(|e| e.0), Err(REFUSED), "{raw:?}");
        }
        assert!(Phone::parse(&format!("+49{}", "1".repeat(100_000))).is_err());
    }

    #[test]
    fn the_mask_shows_the_first_and_last_two_digits_only() {
        let p = Phone::parse("+4915112345678").expect("valid");
        assert_eq!(p.masked(), "+49 *** **** 78");
        assert_eq!(p.as_str(), "+4915112345678");
        assert_eq!(
            Phone::parse("+12345678").expect("valid").masked(),
            "+12 *** **** 78"
        );
        assert_eq!(
            Phone::parse("+123456789012345").expect("valid").masked(),
            "+12 *** **** 45"
        );
    }

    #[test]
    fn debug_shows_only_the_masked_number() {
        let p = Phone::parse("+4915112345678").expect("valid");
        let shown = format!("{p:?}");
        assert_eq!(shown, "Phone(+49 *** **** 78)");
        assert!(!shown.contains("151123"));
    }
}
