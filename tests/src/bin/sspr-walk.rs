//! `sspr-walk --base URL (--outbox DIR | --moto URL) [--function-urls]`: walk
//! the journey of API.md against a running sspr and exit non-zero at the first
//! step that goes wrong.

use sspr_tests::walk::{Mailbox, Routing, Walk};

#[tokio::main]
async fn main() {
    let mut base = None;
    let mut mailbox = None;
    let mut routing = Routing::Api;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--base" => base = args.next(),
            "--outbox" => mailbox = args.next().map(|d| Mailbox::Outbox(d.into())),
            "--moto" => mailbox = args.next().map(Mailbox::Moto),
            "--function-urls" => routing = Routing::FunctionUrls,
            _ => {
                eprintln!(
                    "usage: sspr-walk --base URL (--outbox DIR | --moto URL) [--function-urls]"
                );
                std::process::exit(2);
            }
        }
    }
    let (Some(base), Some(mailbox)) = (base, mailbox) else {
        eprintln!("usage: sspr-walk --base URL (--outbox DIR | --moto URL) [--function-urls]");
        std::process::exit(2);
    };
    println!("walking the journey against {base}");
    let mut walk = Walk::new(&base, mailbox, routing);
    match walk.run().await {
        Ok(()) => println!("journey: {} steps passed, 0 failed", walk.steps().len()),
        Err(e) => {
            eprintln!("journey failed: {e}");
            std::process::exit(1);
        }
    }
}
