//! `cargo run -p sspr-local [-- --data PATH]`: the whole API on 127.0.0.1.

use std::path::PathBuf;

#[tokio::main]
async fn main() {
    sspr_core::app::init_tracing();
    let mut opts = match sspr_local::Options::from_env() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("sspr-local: {e}");
            std::process::exit(2);
        }
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--data" => match args.next() {
                Some(p) => opts.data = Some(PathBuf::from(p)),
                None => {
                    eprintln!("sspr-local: --data needs a path");
                    std::process::exit(2);
                }
            },
            "-h" | "--help" => {
                println!("usage: sspr-local [--data PATH]\n\nServes the sspr API on SSPR_ADDR (default 127.0.0.1:8080) with embedded\ndynoxide (in memory, or the SQLite file PATH) and mail to SSPR_OUTBOX_DIR (default ./outbox).");
                return;
            }
            other => {
                eprintln!("sspr-local: unknown argument {other:?} (try --help)");
                std::process::exit(2);
            }
        }
    }
    let outbox = opts.config.outbox_dir.clone();
    let running = match sspr_local::start(opts).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("sspr-local: {e}");
            std::process::exit(1);
        }
    };
    println!("sspr-local listening on {} (mail to {outbox})", running.url);
    let _ = tokio::signal::ctrl_c().await;
    println!("sspr-local stopping");
}
