//! Finds the languages: every `src/locales/<code>.txt` is one (every word of its
//! mail and its pages). Adding a language is adding that one file; this checks
//! it against English (every key there, no other, the same placeholders, no
//! empty text: `src/locales/file.rs`, which the crate reads the files with) and
//! refuses the build with what is wrong, then generates the list of codes and
//! the files' embedding.

use std::fmt::Write as _;
use std::path::Path;

#[allow(dead_code)]
#[path = "src/locales/file.rs"]
mod file;

fn main() {
    let dir =
        Path::new(&std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default()).join("src/locales");
    println!("cargo:rerun-if-changed={}", dir.display());
    println!("cargo:rerun-if-changed={}", dir.join("file.rs").display());
    let mut codes: Vec<String> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    let code = name.strip_suffix(".txt")?.to_owned();
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
        "src/locales/en.txt is the default and reference language and must exist"
    );
    let path = |c: &str| dir.join(format!("{c}.txt"));
    let read = |c: &str| std::fs::read_to_string(path(c)).unwrap_or_default();
    let reference = read("en");
    let mut problems = Vec::new();
    for c in &codes {
        println!("cargo:rerun-if-changed={}", path(c).display());
        problems.extend(file::check(c, &read(c), &reference));
    }
    assert!(
        problems.is_empty(),
        "the languages in src/locales are not complete and consistent:\n  {}",
        problems.join("\n  ")
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
    let _ = writeln!(
        texts,
        "/// Each language's file, in the order of the code list."
    );
    let _ = writeln!(texts, "const FILES: &[&str] = &[");
    for c in &codes {
        let _ = writeln!(
            texts,
            "    include_str!({:?}),",
            path(c).display().to_string()
        );
    }
    let _ = writeln!(texts, "];");
    let _ = std::fs::write(Path::new(&out).join("locale_files.rs"), texts);
}
