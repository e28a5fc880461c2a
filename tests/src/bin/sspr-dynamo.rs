//! `sspr-dynamo PORT [TABLE] [--pump INVOKE_URL]`: dynoxide's server on
//! 127.0.0.1:PORT with sspr's table made, standing in for DynamoDB when the
//! real function binaries run under `cargo lambda watch`. With `--pump`, it
//! also stands in for the table's event source mapping: it reads the stream
//! and invokes the `mailer` function with each batch, at INVOKE_URL (cargo
//! lambda watch's `/2015-03-31/functions/sspr-mailer/invocations`). Stops on
//! SIGTERM or Ctrl-C.

use sspr_core::store::embedded::EmbeddedDynamo;
use sspr_core::store::DynamoStore;

#[tokio::main]
async fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let pump_to = match args.iter().position(|a| a == "--pump") {
        Some(i) if i + 1 < args.len() => {
            let url = args.remove(i + 1);
            args.remove(i);
            Some(url)
        }
        Some(_) => {
            eprintln!("sspr-dynamo: --pump needs the mailer's invoke URL");
            std::process::exit(2);
        }
        None => None,
    };
    let mut args = args.into_iter();
    let port: u16 = args.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    let table = args.next().unwrap_or_else(|| "sspr".into());
    let dynamo = match EmbeddedDynamo::start_on(&format!("127.0.0.1:{port}"), None).await {
        Ok(d) => d,
        Err(e) => {
            eprintln!("sspr-dynamo: {e}");
            std::process::exit(1);
        }
    };
    let client = sspr_local::local_dynamo_client(dynamo.endpoint()).await;
    let store = DynamoStore::new(client, table, std::time::Duration::from_secs(90 * 86_400));
    if let Err(e) = store.ensure_table().await {
        eprintln!("sspr-dynamo: {e}");
        std::process::exit(1);
    }
    if let Some(url) = pump_to {
        let arn = match store.stream_arn().await {
            Ok(Some(a)) => a,
            other => {
                eprintln!("sspr-dynamo: no stream on the table: {other:?}");
                std::process::exit(1);
            }
        };
        let sink = sspr_local::stream::Sink::Invoke(url.clone());
        match sspr_local::stream::StreamPump::new(dynamo.endpoint(), &arn, sink).await {
            Ok(p) => {
                tokio::spawn(std::sync::Arc::new(p).run());
                println!("stream pumped to {url}");
            }
            Err(e) => {
                eprintln!("sspr-dynamo: {e}");
                std::process::exit(1);
            }
        }
    }
    println!("dynamodb listening on {}", dynamo.endpoint());
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("sspr-dynamo: {e}");
            std::process::exit(1);
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
