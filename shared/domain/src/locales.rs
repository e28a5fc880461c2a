//! Every language's words as data: one file each (`src/locales/<code>.txt`,
//! sections `[mail]`, `[pages]` and `[messages]` of `key = text` lines with
//! `{named}` placeholders; the form is `file.rs`). The build script finds the
//! files, refuses one that is not complete against English, and embeds them;
//! here each is read once, at its first use, into the structs the mail and the
//! pages read (`mail/templates.rs`' `MailWords`, `pages.rs`' `PageWords`: their
//! readers ask [`words_in`], so this module names neither), whose fields are
//! the keys. What each message says and how it is assembled
//! is Rust, once, in `mail/templates.rs`; a language holds only its words.

use std::sync::OnceLock;

use crate::domain::Locale;

pub mod file;

include!(concat!(env!("OUT_DIR"), "/locale_files.rs"));

/// A struct of one section's texts, one `&'static str` field per key (the
/// field's name is the key): its list of keys, its reading from a language
/// file, and every text with its key. `with` adds fields that are sections of
/// their own.
macro_rules! words {
    (
        $(#[$meta:meta])*
        pub struct $name:ident in $section:literal {
            $($(#[$fmeta:meta])* $field:ident,)*
        }
        $(with { $($(#[$smeta:meta])* $sub:ident: $subty:ident,)* })?
    ) => {
        $(#[$meta])*
        #[derive(Debug)]
        pub struct $name {
            $($(#[$fmeta])* pub $field: &'static str,)*
            $($($(#[$smeta])* pub $sub: $subty,)*)?
        }

        impl $name {
            /// The section of the language file these words are in.
            #[allow(dead_code)]
            pub(crate) const SECTION: &'static str = $section;
            /// The section's keys, as the file names them.
            #[allow(dead_code)]
            pub(crate) const KEYS: &'static [&'static str] = &[$(stringify!($field)),*];

            pub(crate) fn read(from: &crate::locales::Lookup) -> Self {
                Self {
                    $($field: from.text($section, stringify!($field)),)*
                    $($($sub: $subty::read(from),)*)?
                }
            }

            /// Every text of the section with its key.
            pub fn all(&self) -> Vec<(&'static str, &'static str)> {
                vec![$((stringify!($field), self.$field)),*]
            }
        }
    };
}
pub(crate) use words;

/// One language's file, read, with English beneath it: a text the file lacks
/// (which the build's check does not let happen) is English's, and one that
/// neither has is empty, so no lookup can fail.
pub(crate) struct Lookup {
    own: Vec<file::Entry<'static>>,
    reference: Vec<file::Entry<'static>>,
}

impl Lookup {
    fn new(src: &'static str, reference: &'static str) -> Self {
        Self {
            own: file::parse(src).0,
            reference: file::parse(reference).0,
        }
    }

    pub(crate) fn text(&self, section: &str, key: &str) -> &'static str {
        file::find(&self.own, section, key)
            .or_else(|| file::find(&self.reference, section, key))
            .unwrap_or("")
    }
}

/// One kind of words (`T`: the mail's, the pages') of every language, read
/// from the files into `all` at the first use, in the order of
/// [`Locale::all`]; those of `locale` (English's for a locale out of range,
/// which none is; `none`, empty words, were there no file at all). The kind
/// is its reader's own (`mail/templates.rs`, `pages.rs`), so this module
/// names none of them.
pub(crate) fn words_in<T: Send + Sync>(
    all: &'static OnceLock<Vec<T>>,
    none: &'static OnceLock<T>,
    read: fn(&Lookup) -> T,
    locale: Locale,
) -> &'static T {
    let all = all.get_or_init(|| {
        let reference = FILES
            .get(Locale::default().index())
            .copied()
            .unwrap_or_default();
        FILES
            .iter()
            .map(|src| read(&Lookup::new(src, reference)))
            .collect()
    });
    all.get(locale.index())
        .or_else(|| all.get(Locale::default().index()))
        .unwrap_or_else(|| none.get_or_init(|| read(&Lookup::new("", ""))))
}

/// The keys English's file has in `section`, sorted: what a reader's struct
/// must name, no more and no fewer (each reader's tests hold it to them).
#[cfg(test)]
pub(crate) fn english_keys(section: &str) -> Vec<&'static str> {
    let reference = FILES
        .get(Locale::default().index())
        .copied()
        .unwrap_or_default();
    let mut keys: Vec<&'static str> = file::parse(reference)
        .0
        .iter()
        .filter(|e| e.section == section)
        .map(|e| e.key)
        .collect();
    keys.sort_unstable();
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(locale: Locale) -> &'static str {
        locale.as_str()
    }

    fn source(locale: Locale) -> &'static str {
        FILES.get(locale.index()).copied().unwrap_or_default()
    }

    fn english() -> &'static str {
        source(Locale::default())
    }

    fn french() -> &'static str {
        source(Locale::parse("fr").expect("French is spoken"))
    }

    #[test]
    fn every_language_is_complete_and_consistent_with_english() {
        assert!(Locale::all().count() >= 3);
        for l in Locale::all() {
            let problems = file::check(code(l), source(l), english());
            assert!(problems.is_empty(), "{problems:#?}");
        }
    }

    #[test]
    fn english_has_no_section_the_code_does_not_read() {
        // Each section's keys are held to its struct by the struct's reader
        // (`mail/templates.rs`, `pages.rs`): here, that no other section is.
        let (entries, problems) = file::parse(english());
        assert!(problems.is_empty(), "{problems:?}");
        let mut sections: Vec<&str> = entries.iter().map(|e| e.section).collect();
        sections.sort_unstable();
        sections.dedup();
        assert_eq!(sections, ["mail", "messages", "pages"]);
    }

    #[test]
    fn the_check_fails_when_a_key_is_dropped_from_french() {
        let (entries, _) = file::parse(french());
        let dropped = entries
            .iter()
            .find(|e| e.section == "pages" && e.key == "reset_title")
            .expect("French has the reset page's title");
        let without: String = french()
            .lines()
            .enumerate()
            .filter(|(i, _)| i + 1 != dropped.line)
            .map(|(_, l)| format!("{l}\n"))
            .collect();
        assert_eq!(
            file::check("fr", &without, english()),
            ["fr: [pages] reset_title is missing"]
        );
    }

    #[test]
    fn the_check_names_an_unknown_key_other_placeholders_an_empty_text_and_a_bad_brace() {
        let reference = "[mail]\ngreeting = Hello,\nbody = Valid for {minutes}.\n";
        assert!(file::check("en", reference, reference).is_empty());
        let cases = [
            (
                "[mail]\ngreeting = Bonjour,\nbody = Valable {minutes}.\nfarewell = Salut\n",
                "fr: line 4: [mail] farewell: not a key of the reference language",
            ),
            (
                "[mail]\ngreeting = Bonjour,\nbody = Valable {minuten}.\n",
                "fr: line 3: [mail] body: placeholders [\"minuten\"], the reference has [\"minutes\"]",
            ),
            (
                "[mail]\ngreeting =\nbody = Valable {minutes}.\n",
                "fr: line 2: [mail] greeting: empty text",
            ),
            (
                "[mail]\ngreeting = Bonjour,\nbody = Valable {minutes.\n",
                "fr: line 3: [mail] body: a `{` that is never closed",
            ),
            (
                "[mail]\ngreeting = Bonjour,\ngreeting = Salut,\nbody = Valable {minutes}.\n",
                "fr: line 3: [mail] greeting again (first on line 2)",
            ),
            (
                "[mail]\ngreeting = Bonjour,\nbody = Valable {minutes}.\n[mails]\n",
                "fr: line 4: unknown section [mails]",
            ),
            (
                "greeting = Bonjour,\n[mail]\ngreeting = Bonjour,\nbody = Valable {minutes}.\n",
                "fr: line 1: `greeting` before any [section]",
            ),
        ];
        for (french, problem) in cases {
            assert_eq!(file::check("fr", french, reference), [problem], "{french}");
        }
    }

    #[test]
    fn placeholders_are_filled_by_name_and_an_unknown_one_stays() {
        assert_eq!(
            file::fill(
                "{b} then {a}, {a} again; {c} and {",
                &[("a", "1"), ("b", "2")]
            ),
            "2 then 1, 1 again; {c} and {"
        );
        assert_eq!(
            file::placeholders("{n} of {max}, {n}"),
            Ok(vec!["max", "n"])
        );
        assert!(file::placeholders("a } b").is_err());
        assert!(file::placeholders("{Not}").is_err());
    }

    #[test]
    fn a_word_no_file_has_reads_as_empty_and_one_french_lacks_as_english() {
        let from = Lookup::new(
            "[pages]\nsite = Aide\n",
            "[pages]\nsite = Help\nlanguage = Language\n",
        );
        assert_eq!(from.text("pages", "site"), "Aide");
        assert_eq!(from.text("pages", "language"), "Language");
        assert_eq!(from.text("pages", "nothing"), "");
        assert_eq!(from.text("nowhere", "site"), "");
    }
}
