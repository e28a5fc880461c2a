//! `sspr-dynamo PORT [TABLE]`: dynoxide's server on 127.0.0.1:PORT with sspr's
//! table made, standing in for DynamoDB when the real function binaries run
//! under `cargo lambda watch`. Stops on SIGTERM or Ctrl-C.

use sspr_core::store::embedded::EmbeddedDynamo;
use sspr_core::store::DynamoStore;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
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
