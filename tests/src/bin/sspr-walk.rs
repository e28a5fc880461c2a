//! `sspr-walk --base URL (--outbox DIR | --moto URL) [--function-urls]
//! [--secrets FILE]`: walk the journey of API.md against a running sspr and
//! exit non-zero at the first step that goes wrong. With `--secrets`, every
//! password, code, token and key the walk saw is written to FILE, a line
//! each, for `grep -F -f FILE` over the server's log (tests/run does).

use sspr_tests::walk::{Mailbox, Routing, Walk};

#[tokio::main]
async fn main() {
    let mut base = None;
    let mut mailbox = None;
    let mut routing = Routing::Api;
    let mut secrets_out = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--base" => base = args.next(),
            "--outbox" => mailbox = args.next().map(|d| Mailbox::Outbox(d.into())),
            "--moto" => mailbox = args.next().map(Mailbox::Moto),
            "--function-urls" => routing = Routing::FunctionUrls,
            "--secrets" => secrets_out = args.next(),
            _ => {
                eprintln!(
                    "usage: sspr-walk --base URL (--outbox DIR | --moto URL) [--function-urls] [--secrets FILE]"
                );
                std::process::exit(2);
            }
        }
    }
    let (Some(base), Some(mailbox)) = (base, mailbox) else {
        eprintln!("usage: sspr-walk --base URL (--outbox DIR | --moto URL) [--function-urls] [--secrets FILE]");
        std::process::exit(2);
    };
    println!("walking the journey against {base}");
    let mut walk = Walk::new(&base, mailbox, routing);
    let walked = walk.run().await;
    if let Some(path) = secrets_out {
        let lines: String = walk.secrets().iter().map(|s| format!("{s}\n")).collect();
        if let Err(e) = std::fs::write(&path, lines) {
            eprintln!("sspr-walk: {path}: {e}");
            std::process::exit(2);
        }
    }
    match walked {
        Ok(()) => println!("journey: {} steps passed, 0 failed", walk.steps().len()),
        Err(e) => {
            eprintln!("journey failed: {e}");
            std::process::exit(1);
        }
    }
}
