use super::Invalid;

/// A language sspr writes mail in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Locale {
    #[default]
    En,
    De,
}

impl Locale {
    pub const ALL: [Locale; 2] = [Locale::En, Locale::De];

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "en" => Ok(Self::En),
            "de" => Ok(Self::De),
            _ => Err(Invalid("locale must be one of: en, de")),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::En => "en",
            Self::De => "de",
        }
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

    #[test]
    fn accept_language_picks_the_heaviest_supported() {
        assert_eq!(
            Locale::from_accept_language("de-DE,de;q=0.9,en;q=0.8"),
            Some(Locale::De)
        );
        assert_eq!(
            Locale::from_accept_language("fr, en;q=0.5, de;q=0.7"),
            Some(Locale::De)
        );
        assert_eq!(Locale::from_accept_language("fr, it"), None);
        assert_eq!(Locale::from_accept_language("de;q=0, en"), Some(Locale::En));
        assert_eq!(Locale::from_accept_language(";;;,,,q=x"), None);
    }
}
