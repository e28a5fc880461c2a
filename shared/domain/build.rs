//! Finds the languages: every `src/locales/<code>.rs` is one (its mail and its
//! pages). Adding a
//! language is adding that one file; this generates the list of codes and the
//! dispatch to each file's `content` function.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let dir =
        Path::new(&std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default()).join("src/locales");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut codes: Vec<String> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    let code = name.strip_suffix(".rs")?.to_owned();
                    let ok = (2..=8).contains(&code.len())
                        && code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
                    ok.then_some(code)
                })
                .collect()
        })
        .unwrap_or_default();
    codes.sort();
    assert!(
        codes.iter().any(|c| c == "en"),
        "src/locales/en.rs is the default language and must exist"
    );
    let out = std::env::var("OUT_DIR").unwrap_or_default();

    let mut list = String::new();
    let _ = writeln!(
        list,
        "/// The languages sspr speaks (one file each in src/locales)."
    );
    let _ = writeln!(
        list,
        "pub const CODES: &[&str] = &[{}];",
        codes
            .iter()
            .map(|c| format!("{c:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = writeln!(
        list,
        "const INVALID: &str = \"locale must be one of: {}\";",
        codes.join(", ")
    );
    let _ = std::fs::write(Path::new(&out).join("locale_codes.rs"), list);

    let mut texts = String::new();
    for c in &codes {
        println!(
            "cargo:rerun-if-changed={}",
            dir.join(format!("{c}.rs")).display()
        );
        let _ = writeln!(
            texts,
            "#[path = {:?}]\nmod {c};",
            dir.join(format!("{c}.rs")).display().to_string()
        );
    }
    let _ = writeln!(
        texts,
        "/// The words of `message` in the language at `index` of the code list."
    );
    let _ = writeln!(texts, "pub(crate) fn content_at(index: usize, message: &crate::mail::Message) -> crate::mail::Content {{\n    match index {{");
    for (i, c) in codes.iter().enumerate() {
        let _ = writeln!(texts, "        {i} => {c}::content(message),");
    }
    let _ = writeln!(texts, "        _ => en::content(message),\n    }}\n}}");
    let _ = writeln!(
        texts,
        "/// The page words of the language at `index` of the code list."
    );
    let _ = writeln!(texts, "pub(crate) fn pages_at(index: usize) -> &'static crate::pages::PageWords {{\n    match index {{");
    for (i, c) in codes.iter().enumerate() {
        let _ = writeln!(texts, "        {i} => &{c}::PAGES,");
    }
    let _ = writeln!(texts, "        _ => &en::PAGES,\n    }}\n}}");
    let _ = std::fs::write(Path::new(&out).join("locale_texts.rs"), texts);
}
