//! The languages sspr speaks, in its mail and on its pages: one per file in
//! `src/locales` (`<code>.txt`; the build script lists them), chosen at sign-up from the body or
//! `Accept-Language`, English when nothing matches.

use super::Invalid;

include!(concat!(env!("OUT_DIR"), "/locale_codes.rs"));

/// A language sspr speaks: one of the files in `src/locales` (`<code>.txt`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Locale(u8);

impl Default for Locale {
    /// English, which always exists.
    fn default() -> Self {
        Self(CODES.iter().position(|c| *c == "en").unwrap_or(0) as u8)
    }
}

impl Locale {
    /// Every supported language.
    pub fn all() -> impl Iterator<Item = Locale> {
        (0..CODES.len()).map(|i| Locale(i as u8))
    }

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let lower = raw.trim().to_ascii_lowercase();
        CODES
            .iter()
            .position(|c| *c == lower)
            .map(|i| Locale(i as u8))
            .ok_or(Invalid(INVALID))
    }

    pub fn as_str(self) -> &'static str {
        CODES.get(self.0 as usize).copied().unwrap_or("en")
    }

    pub(crate) fn index(self) -> usize {
        self.0 as usize
    }

    /// The best supported language of an `Accept-Language` header, by weight
    /// then order; `None` when it names none we write.
    pub fn from_accept_language(header: &str) -> Option<Self> {
        let mut best: Option<(u16, usize, Locale)> = None;
        for (i, part) in header.split(',').enumerate().take(32) {
            let mut pieces = part.split(';');
            let tag = pieces.next().unwrap_or("").trim();
            let primary = tag.split('-').next().unwrap_or("");
            let Ok(locale) = Self::parse(primary) else {
                continue;
            };
            let mut q = 1000u16;
            for p in pieces {
                if let Some(v) = p.trim().strip_prefix("q=") {
                    q = v
                        .trim()
                        .parse::<f32>()
                        .ok()
                        .filter(|f| (0.0..=1.0).contains(f))
                        .map(|f| (f * 1000.0) as u16)
                        .unwrap_or(0);
                }
            }
            if q == 0 {
                continue;
            }
            if best
                .map(|(bq, bi, _)| q > bq || (q == bq && i < bi))
                .unwrap_or(true)
            {
                best = Some((q, i, locale));
            }
        }
        best.map(|(_, _, l)| l)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(code: &str) -> Option<Locale> {
        Locale::parse(code).ok()
    }

    #[test]
    fn english_german_and_french_at_least() {
        assert_eq!(l("EN").map(Locale::as_str), Some("en"));
        assert_eq!(l("de").map(Locale::as_str), Some("de"));
        assert_eq!(l("fr").map(Locale::as_str), Some("fr"));
        assert_eq!(Locale::default().as_str(), "en");
        assert!(Locale::parse("xx").is_err());
        assert!(Locale::all().count() >= 3);
    }

    #[test]
    fn accept_language_picks_the_heaviest_supported() {
        assert_eq!(
            Locale::from_accept_language("de-DE,de;q=0.9,en;q=0.8"),
            l("de")
        );
        assert_eq!(
            Locale::from_accept_language("xx, en;q=0.5, de;q=0.7"),
            l("de")
        );
        assert_eq!(
            Locale::from_accept_language("fr-CH, fr;q=0.9, de;q=0.8"),
            l("fr")
        );
        assert_eq!(Locale::from_accept_language("xx, yy"), None);
        assert_eq!(Locale::from_accept_language("de;q=0, en"), l("en"));
        assert_eq!(Locale::from_accept_language(";;;,,,q=x"), None);
    }
}
