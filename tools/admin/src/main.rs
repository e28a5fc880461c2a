//! `sspr-admin`: parse the command line, build the store (and for
//! `start-reset` the deployment's flows, for `keys` the keyring's secret)
//! from the environment, run, print.

use clap::Parser;
use sspr_admin::{open_data, run, Admin, Cli, Command, KeyPlace, UserCommand};
use sspr_core::config::Config;
use sspr_core::store::DynamoStore;

#[tokio::main]
async fn main() {
    let mut cli = Cli::parse();
    match start(&mut cli).await {
        Ok(text) => print!("{text}"),
        Err(e) => {
            eprintln!("sspr-admin: {e}");
            std::process::exit(1);
        }
    }
}

async fn start(cli: &mut Cli) -> Result<String, String> {
    let config = Config::from_env().map_err(|e| format!("configuration: {e}"))?;
    if let Some(path) = &cli.data {
        if matches!(
            cli.command,
            Command::User {
                command: UserCommand::StartReset { .. }
            }
        ) {
            return Err(
                "start-reset needs the deployment (its keys and mail): not with --data".into(),
            );
        }
        let local = open_data(path, &cli.table, config).await?;
        return run(&local.admin, cli, unix_now()).await;
    }
    // The operator's machine: the system's roots (a corporate proxy's
    // included), sspr's one TLS stack.
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(sspr_core::aws::http_client(sspr_core::aws::Roots::System))
        .load()
        .await;
    if cli.operator.is_none() && cli.command.writes() {
        cli.operator = Some(caller(&sdk).await?);
    }
    let client = sspr_core::store::client(&sdk, sspr_core::store::DYNAMO_TIMEOUTS);
    let retention = config.audit_retention;
    let store = DynamoStore::new(client, cli.table.clone(), retention);
    let ctx = match &cli.command {
        Command::User {
            command: UserCommand::StartReset { .. },
        } => Some(
            // start-reset runs the dispatch flow: no new password, no human check.
            sspr_core::App::from_env(sspr_core::app::Parts::NONE)
                .await
                .map_err(|e| format!("the deployment's configuration: {e}"))?
                .ctx,
        ),
        _ => None,
    };
    // The keyring's secret, for `keys` only (no other command reads it).
    let keys = match &cli.command {
        Command::Keys {
            secret: Some(id), ..
        } if !id.trim().is_empty() => Some(KeyPlace::Secret {
            client: aws_sdk_secretsmanager::Client::new(&sdk),
            id: id.clone(),
        }),
        _ => None,
    };
    run(
        &Admin {
            store,
            config,
            ctx,
            keys,
        },
        cli,
        unix_now(),
    )
    .await
}

/// The caller's identity (its ARN), for the audit events of a write.
async fn caller(sdk: &aws_types::SdkConfig) -> Result<String, String> {
    let who = aws_sdk_sts::Client::new(sdk)
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| {
            // The error and its first cause ("dispatch failure: ... loading
            // credentials"), without the raw response the full chain prints.
            let cause = std::error::Error::source(&e)
                .map(|c| format!(": {c}"))
                .unwrap_or_default();
            format!(
                "who is operating? STS GetCallerIdentity failed ({e}{cause}); give --operator NAME"
            )
        })?;
    who.arn()
        .map(str::to_owned)
        .ok_or_else(|| "STS returned no ARN; give --operator NAME".to_owned())
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
