//! `sspr-admin`, the operator's tool: what the operator section of the README
//! used raw `aws dynamodb` calls for, through the store's own code. It looks
//! at a user (profile, methods, locks; never a hash, code digest, secret or
//! token), reads their audit trail, grants or removes the admin role, clears
//! the sign-in lock or the reset block, ends every session, mails a reset
//! code as `POST /v1/codes` does (the operator never sees it), reports
//! on the table, and keeps the keyring (`keys status|rotate|reseal`: what each
//! version still holds, a new version, everything moved off the previous one;
//! never a key).
//! Every write is one conditional transaction with an audit event naming the
//! operator (`DynamoStore::operator_write`).
//!
//! The library is the whole tool (tests call [`run`] in-process); `main.rs`
//! only builds the store from the environment.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use aws_sdk_dynamodb::types::AttributeValue as Av;
use aws_sdk_secretsmanager::Client as SecretsClient;
use clap::{Parser, Subcommand, ValueEnum};
use serde_json::{json, Value};
use sspr_core::config::{Config, Secrets};
use sspr_core::domain::lifecycle::{reset_block, signin_lock, Hold};
use sspr_core::domain::{CodeKey, TotpSeal};
use sspr_core::domain::{Purpose, Username};
use sspr_core::flows::dispatch::{dispatch, Channel, Dispatched};
use sspr_core::flows::Context;
use sspr_core::keys::rotation::Rotation;
use sspr_core::keys::{self, KeyringDoc, RotateError, RotateRefusal};
use sspr_core::mail::MailKey;
use sspr_core::ports::Write;
use sspr_core::store::schema::{
    self, Item, AT, AUDIT_PREFIX, CLIENT_IP, CREATED_AT, METHOD_PREFIX, OUTCOME, PK, PROFILE,
    REQUEST_ID, SK, TYPE, USER_AGENT,
};
use sspr_core::store::{operator_requester, DynamoStore, Held, OperatorChange, ResealKeys};

/// The command line.
#[derive(Debug, Parser)]
#[command(
    name = "sspr-admin",
    version,
    about = "Operate sspr's table: users, their locks and sessions, reset codes, reports",
    long_about = "Operate sspr's table: users, their locks and sessions, reset codes, reports.\n\n\
        Credentials, region and endpoint come from the standard AWS configuration, as the AWS CLI \
        finds them (environment variables, AWS_PROFILE and ~/.aws, SSO; AWS_ENDPOINT_URL_DYNAMODB \
        for another endpoint). Every write is audited as done by the operator: the caller's ARN \
        (STS GetCallerIdentity), or --operator / SSPR_OPERATOR. `--data FILE` opens a stopped \
        sspr-local's SQLite file instead."
)]
pub struct Cli {
    /// The table.
    #[arg(long, env = "SSPR_TABLE", default_value = "sspr", global = true)]
    pub table: String,
    /// Who is operating, recorded on every write's audit event (default: the
    /// caller's ARN from STS).
    #[arg(long, env = "SSPR_OPERATOR", global = true)]
    pub operator: Option<String>,
    /// Open this sspr-local data file (`sspr-local --data FILE`, stopped) instead of AWS.
    #[arg(long, global = true)]
    pub data: Option<PathBuf>,
    /// JSON for scripts instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// One user: look, audit, change.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Registrations, users per number of methods, resets started and
    /// completed, failed proofs, blocks and lockouts in the last days. Reads
    /// the whole table (a paginated Scan): fine for an operator, costly on a
    /// large table.
    Report {
        /// The window, in days back from now.
        #[arg(long, default_value_t = 7)]
        days: u32,
    },
    /// The keyring: the versions held and what each still holds, a rotation,
    /// a reseal. On AWS the secret is `--secret` or `SSPR_SECRET_ARN`; with
    /// `--data FILE` it is the key file beside it (`FILE.keys`).
    Keys {
        /// The keyring's Secrets Manager secret (ARN or name); not read with `--data`.
        #[arg(long, env = "SSPR_SECRET_ARN", global = true)]
        secret: Option<String>,
        #[command(subcommand)]
        command: KeysCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// The versions held (current, previous, since when), what each still
    /// seals or keys (a Scan), and whether the previous one may be retired.
    Status,
    /// A new current version; the current one becomes the previous, the
    /// previous is retired. Refused (exit 1, nothing changed) while the
    /// previous version still holds anything live or signed a token that may
    /// live.
    Rotate,
    /// Move every authenticator secret, recovery code and queued mail from
    /// the previous version to the current one (conditional writes; run again
    /// to finish what raced). Exit 1 while anything movable is left.
    Reseal,
}

impl Command {
    /// Whether the command writes (and so needs the operator's identity).
    pub fn writes(&self) -> bool {
        match self {
            Command::User { command } => !matches!(
                command,
                UserCommand::Show { .. } | UserCommand::Audit { .. }
            ),
            // No user's audit event: the keyring's changes name no user.
            Command::Report { .. } | Command::Keys { .. } => false,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Profile, methods, gates, sign-in lock and reset block (no secrets).
    Show { name: String },
    /// The user's audit events, oldest first.
    Audit {
        name: String,
        /// Only events at or after this time (RFC 3339).
        #[arg(long, conflicts_with = "days")]
        since: Option<String>,
        /// Only events of the last N days.
        #[arg(long)]
        days: Option<u32>,
    },
    /// Grant (`admin`) or remove (`none`) the admin role: an admin's reset needs two gates.
    Role { name: String, role: Role },
    /// Clear the sign-in failure counter (the lock after wrong passwords).
    Unlock { name: String },
    /// Clear the failed proofs' counter (the block of resets after five failed proofs in
    /// 24 hours), as a reset does; codes, methods and the password stay as they are.
    Unblock { name: String },
    /// End every session: each access token of the user stops working (a reset token, which
    /// works once and names no session, does not).
    RevokeSessions { name: String },
    /// Mail the user a reset code, as `POST /v1/codes` does; nobody sees the code.
    StartReset { name: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Role {
    Admin,
    None,
}

/// What the commands work on: the store, the deployment's configuration
/// (policies, gates, token lifetimes) and, for `start-reset`, the flows'
/// context; for `keys`, where the keyring is kept.
pub struct Admin {
    pub store: DynamoStore,
    pub config: Config,
    /// The flows' context (keys, mail sealing); only `start-reset` needs it.
    pub ctx: Option<Context>,
    /// The keyring; only `keys` needs it.
    pub keys: Option<KeyPlace>,
}

/// Where the keyring is kept.
pub enum KeyPlace {
    /// The key file beside this data file (`sspr-local --data FILE`'s `FILE.keys`).
    File(PathBuf),
    /// The deployment's Secrets Manager secret, rotated through its staging labels.
    Secret {
        client: aws_sdk_secretsmanager::Client,
        id: String,
    },
}

/// The tool on a stopped `sspr-local --data FILE`'s data: the same SQLite
/// file opened with dynoxide, which lives as long as this.
pub struct Local {
    pub admin: Admin,
    _dynamo: sspr_core::store::embedded::EmbeddedDynamo,
}

/// Open `path` (`sspr-local --data PATH`'s file; sspr-local stopped) and its `table`.
pub async fn open_data(
    path: &std::path::Path,
    table: &str,
    config: Config,
) -> Result<Local, Failure> {
    let dynamo = sspr_core::store::embedded::EmbeddedDynamo::start(Some(path)).await?;
    let sdk = sspr_core::aws::local(dynamo.endpoint(), "us-east-1").build();
    let client = sspr_core::store::client(&sdk, sspr_core::store::DYNAMO_TIMEOUTS);
    let store = DynamoStore::new(client, table, config.audit_retention);
    Ok(Local {
        admin: Admin {
            store,
            config,
            ctx: None,
            keys: Some(KeyPlace::File(path.to_owned())),
        },
        _dynamo: dynamo,
    })
}

/// An error for the operator: what failed, never a secret.
pub type Failure = String;

/// Parse a command line (`args` with the program's name first).
pub fn parse<I, T>(args: I) -> Result<Cli, Failure>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    Cli::try_parse_from(args).map_err(|e| e.to_string())
}

/// Run `cli` at `now` (Unix seconds); the text to print.
pub async fn run(admin: &Admin, cli: &Cli, now: i64) -> Result<String, Failure> {
    let out = match &cli.command {
        Command::User { command } => user(admin, cli, command, now).await?,
        Command::Report { days } => report(admin, *days, now).await?,
        Command::Keys { command, .. } => keys(admin, command, now).await?,
    };
    Ok(match out {
        Out::Json(v) if cli.json => format!("{v:#}\n"),
        Out::Json(v) => render(&v),
    })
}

enum Out {
    /// Rendered as a table unless `--json`.
    Json(Value),
}

/// An error with its causes (the SDK's own: access denied, no such table),
/// which the functions log and an operator needs to read.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}

fn username(name: &str) -> Result<Username, Failure> {
    Username::parse(name).map_err(|_| format!("{name:?} is not a valid username"))
}

fn rfc3339(t: i64) -> Value {
    use time::format_description::well_known::Rfc3339;
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| d.format(&Rfc3339).ok())
        .map_or(Value::Null, Value::String)
}

fn hold(h: Hold) -> Value {
    match h {
        Hold::Open => json!({ "held": false }),
        Hold::Until(t) => json!({ "held": true, "until": rfc3339(t) }),
    }
}

async fn user(admin: &Admin, cli: &Cli, cmd: &UserCommand, now: i64) -> Result<Out, Failure> {
    let store = &admin.store;
    let write = |change: OperatorChange, name: &str| {
        let operator = cli.operator.clone();
        let name = name.to_owned();
        async move {
            let user = username(&name)?;
            let operator = operator
                .filter(|o| !o.trim().is_empty())
                .ok_or("a write needs the operator: --operator NAME or SSPR_OPERATOR")?;
            match store
                .operator_write(&user, change, &operator, now)
                .await
                .map_err(|e| format!("the write failed: {}", chain(&e)))?
            {
                Write::Applied => Ok(Out::Json(json!({
                    "user": user.as_str(),
                    "done": change.audit_type().as_str(),
                    "operator": operator,
                }))),
                Write::ConditionFailed => Err(format!("no user {name:?}")),
            }
        }
    };
    match cmd {
        UserCommand::Show { name } => show(admin, &username(name)?, now).await,
        UserCommand::Audit { name, since, days } => {
            let from = match (since, days) {
                (Some(s), _) => parse_time(s)?,
                (None, Some(d)) => now - i64::from(*d) * 86_400,
                (None, None) => i64::MIN,
            };
            audit(store, &username(name)?, from).await
        }
        UserCommand::Role { name, role } => {
            let change = match role {
                Role::Admin => OperatorChange::GrantAdmin,
                Role::None => OperatorChange::RemoveAdmin,
            };
            write(change, name).await
        }
        UserCommand::Unlock { name } => write(OperatorChange::ClearSignInLock, name).await,
        UserCommand::Unblock { name } => write(OperatorChange::ClearResetBlock, name).await,
        UserCommand::RevokeSessions { name } => write(OperatorChange::RevokeSessions, name).await,
        UserCommand::StartReset { name } => {
            let user = username(name)?;
            let operator = cli
                .operator
                .clone()
                .filter(|o| !o.trim().is_empty())
                .ok_or("a write needs the operator: --operator NAME or SSPR_OPERATOR")?;
            let ctx = admin
                .ctx
                .as_ref()
                .ok_or("start-reset needs the deployment's configuration and secrets")?;
            let who = operator_requester(&operator);
            let sent = dispatch(
                ctx,
                &user,
                Purpose::ResetPassword,
                Channel::Email,
                &who,
                now,
            )
            .await
            .map_err(|_| "the store or the mail queue is unavailable".to_owned())?;
            let outcome = match sent {
                Dispatched::Queued => "queued",
                Dispatched::NotEligible => {
                    return Err(format!(
                        "no reset code for {name:?}: unknown user, unconfirmed email, resets blocked, or too few methods for the gates"
                    ))
                }
                Dispatched::Limited => {
                    return Err(format!("no reset code for {name:?}: the send limit holds, try later"))
                }
            };
            Ok(Out::Json(json!({
                "user": user.as_str(),
                "done": "reset_code_mailed",
                "mail": outcome,
                "operator": operator,
            })))
        }
    }
}

fn parse_time(s: &str) -> Result<i64, Failure> {
    use time::format_description::well_known::Rfc3339;
    time::OffsetDateTime::parse(s, &Rfc3339)
        .map(|d| d.unix_timestamp())
        .map_err(|_| format!("--since {s:?} is not an RFC 3339 time"))
}

async fn show(admin: &Admin, user: &Username, now: i64) -> Result<Out, Failure> {
    use sspr_core::ports::Store as _;
    let rec = admin
        .store
        .get_user(user)
        .await
        .map_err(|e| format!("the read failed: {}", chain(&e)))?
        .ok_or_else(|| format!("no user {:?}", user.as_str()))?;
    let c = &admin.config;
    let sms = !matches!(c.sms, sspr_core::config::SmsMode::Off);
    let gates = rec.gates(c.reset_gates);
    let methods: Vec<Value> = rec
        .methods
        .iter()
        .map(|m| {
            json!({
                "kind": m.kind().as_str(),
                "label": m.label(),
                "confirmed": m.confirmed(),
                "confirmed_at": m.confirmed_at.map_or(Value::Null, rfc3339),
                "last_used_at": m.last_used_at.map_or(Value::Null, rfc3339),
            })
        })
        .collect();
    Ok(Out::Json(json!({
        "user": rec.username.as_str(),
        "user_id": rec.user_id,
        "email": rec.email.as_str(),
        "email_verified": rec.email_verified,
        "role": if rec.is_admin { "admin" } else { "none" },
        "locale": rec.locale.as_str(),
        "created_at": rfc3339(rec.created_at),
        "password_changed_at": rfc3339(rec.password_changed_at),
        "token_version": rec.token_version,
        "signin_lock": hold(signin_lock(&rec.signin, &c.signin, now)),
        "reset_block": hold(reset_block(&rec.proofs, &c.codes, now)),
        "gates": gates,
        "methods_needed": rec.methods_needed(gates, sms),
        "methods": methods,
    })))
}

/// An audit item's fields, as printed (the table carries nothing secret on
/// an audit item; these are all it has besides its keys).
const AUDIT_FIELDS: [&str; 5] = [TYPE, OUTCOME, CLIENT_IP, USER_AGENT, REQUEST_ID];

async fn audit(store: &DynamoStore, user: &Username, from: i64) -> Result<Out, Failure> {
    let events = store
        .audit_events(user)
        .await
        .map_err(|e| format!("the read failed: {}", chain(&e)))?;
    let rows: Vec<Value> = events
        .iter()
        .filter_map(|e| {
            let at = e.get(AT)?.parse::<i64>().ok()?;
            (at >= from).then(|| {
                let mut row = serde_json::Map::new();
                row.insert("at".into(), rfc3339(at));
                for f in AUDIT_FIELDS {
                    row.insert(f.into(), json!(e.get(f).cloned().unwrap_or_default()));
                }
                Value::Object(row)
            })
        })
        .collect();
    Ok(Out::Json(json!({ "user": user.as_str(), "events": rows })))
}

/// How an operator's audit events begin their user agent (`operator_requester`).
const OPERATOR_AGENT: &str = "sspr-admin operator=";

fn text<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    match item.get(name) {
        Some(Av::S(s)) => Some(s),
        _ => None,
    }
}

fn number(item: &Item, name: &str) -> Option<i64> {
    match item.get(name) {
        Some(Av::N(n)) => n.parse().ok(),
        _ => None,
    }
}

async fn report(admin: &Admin, days: u32, now: i64) -> Result<Out, Failure> {
    let cut = now - i64::from(days) * 86_400;
    let mut users: HashMap<String, Vec<Item>> = HashMap::new();
    let mut events: BTreeMap<(String, String), u64> = BTreeMap::new();
    let mut operator_actions = 0u64;
    admin
        .store
        .scan_all(|item| {
            let (Some(pk), Some(sk)) = (text(item, PK), text(item, SK)) else {
                return;
            };
            if sk == PROFILE || sk.starts_with(METHOD_PREFIX) {
                users.entry(pk.to_owned()).or_default().push(item.clone());
            } else if sk.starts_with(AUDIT_PREFIX) && number(item, AT).is_some_and(|at| at >= cut) {
                if text(item, USER_AGENT).is_some_and(|a| a.starts_with(OPERATOR_AGENT)) {
                    operator_actions += 1;
                }
                let kind = text(item, TYPE).unwrap_or_default().to_owned();
                let outcome = text(item, OUTCOME).unwrap_or_default().to_owned();
                *events.entry((kind, outcome)).or_default() += 1;
            }
        })
        .await
        .map_err(|e| format!("the scan failed: {}", chain(&e)))?;
    let sms = !matches!(admin.config.sms, sspr_core::config::SmsMode::Off);
    let mut registrations = 0u64;
    let mut by_methods: BTreeMap<usize, u64> = BTreeMap::new();
    for items in users.values_mut() {
        // As a query reads them: the methods before the profile.
        items.sort_by(|a, b| text(a, SK).cmp(&text(b, SK)));
        if items
            .iter()
            .find(|i| text(i, SK) == Some(PROFILE))
            .and_then(|p| number(p, CREATED_AT))
            .is_some_and(|t| t >= cut)
        {
            registrations += 1;
        }
        if let Ok(Some(rec)) = schema::user_from_items(items) {
            *by_methods.entry(rec.held(sms).len()).or_default() += 1;
        }
    }
    let count = |kind: &str, outcome: Option<&str>| -> u64 {
        events
            .iter()
            .filter(|((k, o), _)| k == kind && outcome.is_none_or(|x| x == o))
            .map(|(_, n)| n)
            .sum()
    };
    let mut reasons: Vec<(String, u64)> = events
        .iter()
        .filter(|((k, _), _)| k == "proof_failed")
        .map(|((_, o), n)| (o.clone(), *n))
        .collect();
    reasons.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let per_methods: serde_json::Map<String, Value> = by_methods
        .iter()
        .map(|(k, n)| (k.to_string(), json!(n)))
        .collect();
    let reasons: serde_json::Map<String, Value> =
        reasons.into_iter().map(|(k, n)| (k, json!(n))).collect();
    Ok(Out::Json(json!({
        "days": days,
        "since": rfc3339(cut),
        "users": users.len(),
        "registrations": registrations,
        "users_by_methods": per_methods,
        "resets_started": count("code_sent", Some(Purpose::ResetPassword.as_str())),
        "resets_completed": count("password_reset", None),
        "failed_proofs": count("proof_failed", None),
        "failed_proofs_by_method": reasons,
        "resets_blocked": count("resets_blocked", None),
        "signin_lockouts": count("signin_locked", None),
        "operator_actions": operator_actions,
    })))
}

/// The keyring's place, or how to name it.
fn place(admin: &Admin) -> Result<&KeyPlace, Failure> {
    admin.keys.as_ref().ok_or_else(|| {
        "keys needs the keyring: --secret ARN (or SSPR_SECRET_ARN), or --data FILE".to_owned()
    })
}

fn rotation<'a>(admin: &'a Admin, client: &'a SecretsClient, id: &'a str) -> Rotation<'a> {
    Rotation {
        secrets: client,
        store: &admin.store,
        secret_id: id,
        token_life: keys::token_life(&admin.config),
    }
}

/// Why a rotation, or a read of the keyring, failed: the refusal's own
/// words (how many items, what to run), never a key.
fn rotate_failure(e: RotateError) -> Failure {
    match e {
        RotateError::Refused(r @ RotateRefusal::TokensLive { until, .. }) => {
            format!("rotation refused: {r}, that is {}", scalar(&rfc3339(until)))
        }
        RotateError::Refused(r) => format!("rotation refused: {r}"),
        RotateError::Store(e) => format!("the census failed: {}", chain(&e)),
        RotateError::Keyring(e) => e.to_string(),
        RotateError::Secret(why) => why,
    }
}

/// The keyring as it is now.
async fn keyring(admin: &Admin) -> Result<KeyringDoc, Failure> {
    match place(admin)? {
        KeyPlace::File(data) => keys::file::read(data)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| {
                format!(
                    "no keyring at {} (sspr-local --data {} makes it at its first start)",
                    keys::file::path_of(data).display(),
                    data.display()
                )
            }),
        KeyPlace::Secret { client, id } => rotation(admin, client, id)
            .current()
            .await
            .map_err(rotate_failure),
    }
}

/// When a version became current; `null` when not known (a plain secret).
fn since(t: i64) -> Value {
    if t == 0 {
        Value::Null
    } else {
        rfc3339(t)
    }
}

fn held_row(version: u32, role: &str, since_at: Value, held: Held) -> Value {
    json!({
        "version": version,
        "role": role,
        "since": since_at,
        "totp": held.totp,
        "recovery_codes": held.recovery_codes,
        "mail": held.mail,
        "codes": held.codes,
        "movable": held.movable(),
        "total": held.total(),
    })
}

async fn keys(admin: &Admin, cmd: &KeysCommand, now: i64) -> Result<Out, Failure> {
    match cmd {
        KeysCommand::Status => keys_status(admin, now).await,
        KeysCommand::Rotate => keys_rotate(admin, now).await,
        KeysCommand::Reseal => keys_reseal(admin, now).await,
    }
}

async fn keys_status(admin: &Admin, now: i64) -> Result<Out, Failure> {
    let doc = keyring(admin).await?;
    let census = admin
        .store
        .census(now)
        .await
        .map_err(|e| format!("the census failed: {}", chain(&e)))?;
    let life = keys::token_life(&admin.config);
    let current = doc.current_key();
    let mut versions = vec![held_row(
        current.version,
        "current",
        since(current.since),
        census.of(current.version),
    )];
    if let Some(prev) = doc.previous() {
        versions.push(held_row(
            prev.version,
            "previous",
            since(prev.since),
            census.of(prev.version),
        ));
    }
    // Items that name a version the keyring does not hold (0: none at all,
    // or damaged): nothing opens them.
    for (v, held) in &census.0 {
        if !doc.versions().contains(v) && held.total() > 0 {
            versions.push(held_row(*v, "not held", Value::Null, *held));
        }
    }
    let left = doc.previous().map_or(0, |p| census.left(p.version));
    let retire = doc.previous().map_or(Value::Null, |prev| {
        let held = census.of(prev.version);
        let until = doc.tokens_dead_at(life).unwrap_or(current.since);
        json!({
            "version": prev.version,
            "items_left": held.total(),
            "movable_left": held.movable(),
            "codes_left": held.codes,
            "tokens_live_until": rfc3339(until),
            "may_retire": held.total() == 0 && now >= until,
        })
    });
    let rotate = match doc.rotate(now, left, life) {
        Ok(_) => json!({ "allowed": true }),
        Err(r) => json!({ "allowed": false, "reason": r.to_string() }),
    };
    Ok(Out::Json(json!({
        "current": current.version,
        "previous": doc.previous().map(|p| p.version),
        "token_life_secs": life,
        "retire_previous": retire,
        "rotate": rotate,
        "versions": versions,
    })))
}

async fn keys_rotate(admin: &Admin, now: i64) -> Result<Out, Failure> {
    let before = keyring(admin).await?;
    let next = match place(admin)? {
        KeyPlace::File(data) => {
            let next = keys::plan(&before, &admin.store, now, keys::token_life(&admin.config))
                .await
                .map_err(rotate_failure)?;
            keys::file::write(data, &next).map_err(|e| e.to_string())?;
            next
        }
        KeyPlace::Secret { client, id } => rotation(admin, client, id)
            .rotate_now(now)
            .await
            .map_err(rotate_failure)?,
    };
    Ok(Out::Json(json!({
        "done": "rotated",
        "current": next.current,
        "since": since(next.current_key().since),
        "previous": next.previous().map(|p| p.version),
        "retired": before.previous().map(|p| p.version),
    })))
}

async fn keys_reseal(admin: &Admin, now: i64) -> Result<Out, Failure> {
    use std::io::IsTerminal as _;
    let doc = keyring(admin).await?;
    let Some(prev) = doc.previous() else {
        return Ok(Out::Json(json!({
            "done": "nothing",
            "current": doc.current,
            "from": Value::Null,
            "note": "the keyring holds one version: nothing to move",
        })));
    };
    let secrets = Secrets::from_doc(&doc);
    let (codes, totp, mail) = (
        CodeKey::new(secrets.ring()),
        TotpSeal::new(secrets.ring()),
        MailKey::new(secrets.ring()),
    );
    let reseal_keys = ResealKeys {
        codes: &codes,
        totp: &totp,
        mail: &mail,
    };
    let tty = std::io::stderr().is_terminal();
    let done = admin
        .store
        .reseal(prev.version, &reseal_keys, now, |p| {
            if tty {
                eprint!("\rreseal: {} items read, {} moved", p.scanned, p.moved);
            }
        })
        .await;
    if tty {
        eprintln!();
    }
    let done = done.map_err(|e| format!("the reseal failed: {}", chain(&e)))?;
    if done.raced > 0 || done.unopenable > 0 {
        return Err(format!(
            "version {from} still holds movable items: {raced} changed meanwhile (run `keys reseal` again), \
             {unopenable} do not open (damaged, left as they are); moved {moved} of {scanned} items read, \
             {codes} code(s) in flight expire by themselves",
            from = prev.version,
            raced = done.raced,
            unopenable = done.unopenable,
            moved = done.moved,
            scanned = done.scanned,
            codes = done.codes_in_flight,
        ));
    }
    Ok(Out::Json(json!({
        "done": "resealed",
        "from": prev.version,
        "to": doc.current,
        "scanned": done.scanned,
        "moved": done.moved,
        "raced": done.raced,
        "unopenable": done.unopenable,
        "codes_in_flight": done.codes_in_flight,
        "note": if done.codes_in_flight > 0 {
            "codes in flight stay under the previous version and expire by themselves"
        } else {
            "nothing movable left under the previous version"
        },
    })))
}

/// A table for people: scalar fields as `name  value` lines, each list of
/// objects as a table with a header row.
fn render(v: &Value) -> String {
    let mut out = String::new();
    let Value::Object(map) = v else {
        return format!("{v}\n");
    };
    let width = map.keys().map(String::len).max().unwrap_or(0);
    let mut lists = Vec::new();
    for (k, v) in map {
        match v {
            Value::Array(rows) => lists.push((k, rows)),
            Value::Object(inner) if inner.is_empty() => {
                out.push_str(&format!("{k:width$}  -\n"));
            }
            Value::Object(inner) => {
                let parts: Vec<String> = inner
                    .iter()
                    .map(|(a, b)| format!("{a}={}", scalar(b)))
                    .collect();
                out.push_str(&format!("{k:width$}  {}\n", parts.join(" ")));
            }
            other => out.push_str(&format!("{k:width$}  {}\n", scalar(other))),
        }
    }
    for (name, rows) in lists {
        out.push_str(&format!("\n{name}:\n"));
        let Some(Value::Object(first)) = rows.first() else {
            out.push_str("  (none)\n");
            continue;
        };
        let cols: Vec<&String> = first.keys().collect();
        let cells: Vec<Vec<String>> = rows
            .iter()
            .map(|r| {
                cols.iter()
                    .map(|c| r.get(c.as_str()).map(scalar).unwrap_or_default())
                    .collect()
            })
            .collect();
        let widths: Vec<usize> = cols
            .iter()
            .enumerate()
            .map(|(i, c)| {
                cells
                    .iter()
                    .map(|r| r.get(i).map_or(0, |x| x.len()))
                    .max()
                    .unwrap_or(0)
                    .max(c.len())
            })
            .collect();
        let line = |vals: Vec<&str>| {
            let padded: Vec<String> = vals
                .iter()
                .zip(&widths)
                .map(|(v, w)| format!("{v:w$}"))
                .collect();
            format!("  {}\n", padded.join("  ").trim_end())
        };
        out.push_str(&line(cols.iter().map(|c| c.as_str()).collect()));
        for r in &cells {
            out.push_str(&line(r.iter().map(String::as_str).collect()));
        }
    }
    out
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".to_owned(),
        other => other.to_string(),
    }
}
