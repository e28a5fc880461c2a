//! `sspr-compromised LIST OUT [--min-chars N]`: the compromised-password
//! filter of every entry of `LIST` (one password a line, UTF-8; a line that
//! is not is skipped) of at least `N` characters (default 8, the least
//! `SSPR_PASSWORD_MIN` allows: a shorter one is refused as too short anyway),
//! written to `OUT`. shared/domain/data/README.md has the list it is built
//! from and the whole command.

use std::process::ExitCode;

use sspr_domain::domain::compromised::CompromisedFilter;

fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()) {
        Ok(summary) => {
            println!("{summary}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("sspr-compromised: {e}");
            eprintln!("usage: sspr-compromised LIST OUT [--min-chars N]");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Vec<String>) -> Result<String, String> {
    let mut min_chars = 8usize;
    let mut paths = Vec::new();
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        if a == "--min-chars" {
            let n = it.next().ok_or("--min-chars needs a number")?;
            min_chars = n.parse().map_err(|_| format!("`{n}` is not a number"))?;
        } else {
            paths.push(a);
        }
    }
    let [list, out] = paths.as_slice() else {
        return Err("give the list and the output file".into());
    };
    let bytes = std::fs::read(list).map_err(|e| format!("{list}: {e}"))?;
    let (mut lines, mut skipped) = (0usize, 0usize);
    let mut kept = Vec::new();
    for line in bytes.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        lines += 1;
        match std::str::from_utf8(line) {
            Ok(pw) if pw.chars().count() >= min_chars => kept.push(pw),
            Ok(_) => {}
            Err(_) => skipped += 1,
        }
    }
    let filter = CompromisedFilter::build(&kept).map_err(|e| e.to_string())?;
    let file = filter.to_bytes();
    std::fs::write(out, &file).map_err(|e| format!("{out}: {e}"))?;
    Ok(format!(
        "{out}: {} bytes, {} distinct entries (of {} of at least {min_chars} characters, from {lines} lines; {skipped} not UTF-8)",
        file.len(),
        filter.entries(),
        kept.len(),
    ))
}
