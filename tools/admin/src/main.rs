//! `sspr-admin`: parse the command line, build the store (and for
//! `start-reset` the deployment's flows) from the environment, run, print.

use clap::Parser;
use sspr_admin::{run, Admin, Cli, Command, UserCommand};
use sspr_core::config::Config;
use sspr_core::store::DynamoStore;

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    match start(&cli).await {
        Ok(text) => print!("{text}"),
        Err(e) => {
            eprintln!("sspr-admin: {e}");
            std::process::exit(1);
        }
    }
}

async fn start(cli: &Cli) -> Result<String, String> {
    let config = Config::from_env().map_err(|e| format!("configuration: {e}"))?;
    let retention = config.audit_retention;
    // Kept alive until the command is done: the emulator serving `--data`.
    let mut _local = None;
    let client = match &cli.data {
        Some(path) => {
            let d = sspr_core::store::embedded::EmbeddedDynamo::start(Some(path)).await?;
            let sdk = sspr_core::aws::local(d.endpoint(), "us-east-1").build();
            _local = Some(d);
            sspr_core::store::client(&sdk, sspr_core::store::DYNAMO_TIMEOUTS)
        }
        None => {
            let sdk = sspr_core::aws::from_env().map_err(|e| format!("AWS configuration: {e}"))?;
            sspr_core::store::client(&sdk, sspr_core::store::DYNAMO_TIMEOUTS)
        }
    };
    let store = DynamoStore::new(client, cli.table.clone(), retention);
    let ctx = match &cli.command {
        Command::User {
            command: UserCommand::StartReset { .. },
        } => {
            if cli.data.is_some() {
                return Err(
                    "start-reset needs the deployment (its keys and mail): not with --data".into(),
                );
            }
            Some(
                sspr_core::App::from_env()
                    .await
                    .map_err(|e| format!("the deployment's configuration: {e}"))?
                    .ctx,
            )
        }
        _ => None,
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    run(&Admin { store, config, ctx }, cli, now).await
}
