//! A consistency check over the whole table, for tests that cannot know which
//! state a failure left behind (a killed process, an injected fault): every
//! item is one sspr writes, every profile decodes, every item under a user
//! belongs to an existing profile, counters are sane, and what one transaction
//! writes together is found together (a profile and its `registered` event, a
//! password change, its event and its token version).
//!
//! Item kinds it does not know (under a user or elsewhere) are counted, not
//! refused, so the check keeps working as the store gains items.

use sspr_core::store::schema;
use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::types::AttributeValue as Av;
use sspr_core::domain::Username;
use sspr_core::ports::Store as _;
use sspr_core::store::DynamoStore;

/// What the table held.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TableSummary {
    pub profiles: usize,
    pub audit_events: usize,
    pub client_counters: usize,
    /// Items of kinds this check does not know.
    pub other: usize,
}

type Item = HashMap<String, Av>;

/// Counters never go this high in any test; above it one was written twice
/// over, or garbage.
const SANE_COUNT: i64 = 1_000;

#[derive(Default)]
struct UserItems {
    profile: Option<Item>,
    /// (type, outcome) of each audit event.
    events: Vec<(String, String)>,
}

fn s<'a>(item: &'a Item, k: &str) -> Option<&'a str> {
    match item.get(k) {
        Some(Av::S(v)) => Some(v),
        _ => None,
    }
}

fn n(item: &Item, k: &str) -> Option<i64> {
    match item.get(k) {
        Some(Av::N(v)) => v.parse().ok(),
        _ => None,
    }
}

/// Every item of the table, read with strong consistency.
pub async fn scan(store: &DynamoStore) -> Vec<Item> {
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let page = store
            .client()
            .scan()
            .table_name(store.table())
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .expect("scan the table");
        items.extend(page.items().iter().cloned());
        start = page.last_evaluated_key().cloned();
        if start.is_none() {
            return items;
        }
    }
}

fn check_profile(name: &str, p: &Item, problems: &mut Vec<String>) {
    let mut need = |what: &str, ok: bool| {
        if !ok {
            problems.push(format!("profile {name}: {what}"));
        }
    };
    need(
        "user_id",
        s(p, schema::USER_ID).is_some_and(|v| !v.is_empty()),
    );
    need(
        "username matches its key",
        s(p, schema::USERNAME) == Some(name),
    );
    need(
        "email",
        s(p, schema::EMAIL).is_some_and(|v| v.contains('@')),
    );
    need(
        "email_verified",
        matches!(p.get(schema::EMAIL_VERIFIED), Some(Av::Bool(_))),
    );
    need("locale", s(p, schema::LOCALE).is_some());
    need("created_at", n(p, schema::CREATED_AT).is_some());
    need("pw_changed_at", n(p, schema::PW_CHANGED_AT).is_some());
    need(
        "an Argon2id hash",
        s(p, schema::PW_HASH).is_some_and(|h| h.starts_with("$argon2id$")),
    );
    need(
        "a password history of hashes",
        matches!(p.get(schema::PW_HISTORY), Some(Av::L(l)) if l.iter().all(|v| matches!(v, Av::S(_)))),
    );
    need(
        "a token version",
        n(p, schema::TOKEN_VERSION).is_some_and(|v| (0..=SANE_COUNT).contains(&v)),
    );
    for (k, v) in p {
        if k.ends_with("_cnt") || k.ends_with("_tries") {
            let ok = matches!(v, Av::N(x) if x.parse::<i64>().is_ok_and(|c| (0..=SANE_COUNT).contains(&c)));
            need(
                &format!("{k} a count from 0 to {SANE_COUNT}, not {v:?}"),
                ok,
            );
        }
        if k.ends_with("_spent") {
            need(&format!("{k} a flag"), matches!(v, Av::Bool(_)));
        }
    }
    for p_ in ["ve", "rp", "ul"] {
        if p.contains_key(&format!("{p_}_code")) {
            need(
                &format!("{p_}_code a digest with its expiry"),
                s(p, &format!("{p_}_code")).is_some() && n(p, &format!("{p_}_exp")).is_some(),
            );
        }
    }
    need(
        "reset_jti and reset_exp together",
        p.contains_key(schema::RESET_JTI) == p.contains_key(schema::RESET_EXP),
    );
}

/// Check every item of the table; `Err` lists every problem found.
pub async fn check_table(store: &DynamoStore) -> Result<TableSummary, Vec<String>> {
    let mut problems = Vec::new();
    let mut summary = TableSummary::default();
    let mut users: BTreeMap<String, UserItems> = BTreeMap::new();
    for item in scan(store).await {
        let (Some(pk), Some(sk)) = (s(&item, schema::PK), s(&item, schema::SK)) else {
            problems.push(format!("an item without string keys: {item:?}"));
            continue;
        };
        if let Some(name) = pk.strip_prefix("USER#") {
            let u = users.entry(name.to_owned()).or_default();
            if sk == "PROFILE" {
                summary.profiles += 1;
                u.profile = Some(item.clone());
            } else if sk.starts_with("AUDIT#") {
                summary.audit_events += 1;
                let kind = s(&item, schema::TYPE).unwrap_or_default();
                let at = n(&item, "at");
                if kind.is_empty() || s(&item, schema::OUTCOME).is_none() || at.is_none() {
                    problems.push(format!("audit event {pk} {sk}: type, outcome and time"));
                }
                let expires_later = n(&item, "expires_at").zip(at).is_some_and(|(e, a)| e > a);
                if !expires_later {
                    problems.push(format!("audit event {pk} {sk}: expires after it happened"));
                }
                u.events.push((
                    kind.to_owned(),
                    s(&item, schema::OUTCOME).unwrap_or_default().to_owned(),
                ));
            } else {
                summary.other += 1;
            }
        } else if pk.starts_with("CLIENT#") {
            summary.client_counters += 1;
            let count_ok = n(&item, "n").is_some_and(|c| c >= 0);
            if !sk.starts_with("LIMIT#") || !count_ok || n(&item, "expires_at").is_none() {
                problems.push(format!("client counter {pk} {sk}: {item:?}"));
            }
        } else {
            summary.other += 1;
        }
    }
    for (name, u) in &users {
        let Some(profile) = &u.profile else {
            problems.push(format!(
                "USER#{name}: {} items and no profile (an orphan)",
                u.events.len()
            ));
            continue;
        };
        check_profile(name, profile, &mut problems);
        match Username::parse(name) {
            Ok(user) if user.as_str() == name => match store.get_user(&user).await {
                Ok(Some(rec)) if rec.username == user => {}
                Ok(_) => problems.push(format!("profile {name} reads as another user")),
                Err(e) => problems.push(format!("profile {name} does not decode: {e}")),
            },
            _ => problems.push(format!("USER#{name}: not a valid username")),
        }
        let count = |kind: &str| u.events.iter().filter(|(k, _)| k == kind).count() as i64;
        if count("registered") != 1 {
            problems.push(format!(
                "profile {name}: {} registration events, not one",
                count("registered")
            ));
        }
        let changes = count("password_reset") + count("password_changed");
        if n(profile, schema::TOKEN_VERSION) != Some(changes) {
            problems.push(format!(
                "profile {name}: token version {:?} after {changes} password changes",
                n(profile, schema::TOKEN_VERSION)
            ));
        }
        if matches!(profile.get(schema::EMAIL_VERIFIED), Some(Av::Bool(true)))
            && count("email_confirmed") == 0
        {
            problems.push(format!("profile {name}: email confirmed without its event"));
        }
    }
    if problems.is_empty() {
        Ok(summary)
    } else {
        Err(problems)
    }
}
