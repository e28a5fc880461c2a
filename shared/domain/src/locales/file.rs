//! The form of a language file, and the check that holds every language to the
//! reference (English). Std only: the build script includes this very file
//! (`#[path]`) to refuse a build with an incomplete language, and the crate
//! reads the files with it at run time.
//!
//! A file is lines of `key = text` under `[section]` headers; `#` starts a
//! comment line, blank lines are skipped, the text runs to the end of its line
//! with the spaces around it trimmed. A placeholder is `{name}` (lowercase
//! letters, digits and `_`), filled by name by the code that uses the text;
//! no other brace may appear.
//!
//! ```text
//! [mail]
//! reset_code_body = It is valid for {minutes} and works once.
//! ```

/// The sections a language file has, in the order they are written.
pub const SECTIONS: &[&str] = &["mail", "pages", "messages"];

/// One text of a language file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry<'a> {
    pub section: &'a str,
    pub key: &'a str,
    pub text: &'a str,
    /// Its line in the file, from 1, for the check's words.
    pub line: usize,
}

/// Every entry of `src` sorted by section and key (for [`find`]), and what is
/// wrong with the lines that are not one.
pub fn parse(src: &str) -> (Vec<Entry<'_>>, Vec<String>) {
    let mut entries = Vec::new();
    let mut problems = Vec::new();
    let mut section: Option<&str> = None;
    for (i, raw) in src.lines().enumerate() {
        let line = raw.trim();
        let at = i + 1;
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let name = name.trim();
            match SECTIONS.iter().find(|s| **s == name) {
                Some(known) => section = Some(known),
                None => problems.push(format!("line {at}: unknown section [{name}]")),
            }
            continue;
        }
        let Some((key, text)) = line.split_once('=') else {
            problems.push(format!("line {at}: neither `key = text` nor `[section]`"));
            continue;
        };
        let (key, text) = (key.trim(), text.trim());
        let Some(section) = section else {
            problems.push(format!("line {at}: `{key}` before any [section]"));
            continue;
        };
        if key.is_empty()
            || !key
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            problems.push(format!("line {at}: `{key}` is not a key (a-z, 0-9, _)"));
            continue;
        }
        entries.push(Entry {
            section,
            key,
            text,
            line: at,
        });
    }
    entries.sort_by(|a, b| (a.section, a.key, a.line).cmp(&(b.section, b.key, b.line)));
    (entries, problems)
}

/// The text of `section`.`key` among `entries` as [`parse`] sorted them.
pub fn find<'a>(entries: &[Entry<'a>], section: &str, key: &str) -> Option<&'a str> {
    entries
        .binary_search_by(|e| (e.section, e.key).cmp(&(section, key)))
        .ok()
        .and_then(|i| entries.get(i))
        .map(|e| e.text)
}

/// The placeholders of `text`, sorted and once each, or why its braces are wrong.
pub fn placeholders(text: &str) -> Result<Vec<&str>, String> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find(['{', '}']) {
        let after = &rest[open + 1..];
        if rest[open..].starts_with('}') {
            return Err("a `}` that closes nothing".into());
        }
        let close = after.find('}').ok_or("a `{` that is never closed")?;
        let name = &after[..close];
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err(format!("`{{{name}}}` is not a placeholder"));
        }
        names.push(name);
        rest = &after[close + 1..];
    }
    names.sort_unstable();
    names.dedup();
    Ok(names)
}

/// `template` with each `{name}` replaced by its value in `values`; a
/// placeholder with no value stays as it is written (the check and the tests
/// keep that from happening), so nothing here can fail.
pub fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len() + 16);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let value = after.find('}').and_then(|close| {
            let name = &after[..close];
            values
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v, close))
        });
        match value {
            Some((v, close)) => {
                out.push_str(v);
                rest = &after[close + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// What is wrong with the language `name` (its file's text `src`) against the
/// reference language's file `reference`: a line that is not an entry, a key
/// twice, an empty text, a brace that is not a placeholder, a key of the
/// reference missing, a key the reference does not have, other placeholders
/// than the reference's. Empty when the language is complete and consistent.
pub fn check(name: &str, src: &str, reference: &str) -> Vec<String> {
    let (entries, problems) = parse(src);
    let (wanted, _) = parse(reference);
    let mut out: Vec<String> = problems
        .into_iter()
        .map(|p| format!("{name}: {p}"))
        .collect();
    for pair in entries.windows(2) {
        if let [a, b] = pair {
            if (a.section, a.key) == (b.section, b.key) {
                out.push(format!(
                    "{name}: line {}: [{}] {} again (first on line {})",
                    b.line, b.section, b.key, a.line
                ));
            }
        }
    }
    for e in &entries {
        let what = format!("{name}: line {}: [{}] {}", e.line, e.section, e.key);
        if e.text.is_empty() {
            out.push(format!("{what}: empty text"));
        }
        let own = match placeholders(e.text) {
            Ok(p) => p,
            Err(why) => {
                out.push(format!("{what}: {why}"));
                continue;
            }
        };
        let Some(reference) = find(&wanted, e.section, e.key) else {
            out.push(format!("{what}: not a key of the reference language"));
            continue;
        };
        if let Ok(theirs) = placeholders(reference) {
            if own != theirs {
                out.push(format!(
                    "{what}: placeholders {own:?}, the reference has {theirs:?}"
                ));
            }
        }
    }
    for w in &wanted {
        if find(&entries, w.section, w.key).is_none() {
            out.push(format!("{name}: [{}] {} is missing", w.section, w.key));
        }
    }
    out
}
