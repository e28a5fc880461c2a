//! What the keyring's versions still hold in the table, and the reseal that
//! moves it to the current version: an operator's and the rotation's reads
//! (`sspr-admin keys`, the rotation function), never a request's. A Scan
//! reads the whole table, page by page.
//!
//! Live and under a version:
//! - an authenticator's secret (its seal names the version): movable;
//! - a recovery code of a set (each entry names it): movable, without the
//!   code (the entry is a sealed hash);
//! - a queued mail not yet past its `send_by`: movable;
//! - a code (a profile's or a method's) neither spent nor expired: its HMAC
//!   cannot be made again without the code, so it stays and dies within its
//!   ten minutes (at most `SSPR_CODE_TTL_SECS`).

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::AttributeValue as Av;

use super::schema::{
    attr, text, Item, MailItem, CODE, CODES, EXP, EXPIRES_AT, METHOD_CODE, METHOD_PREFIX, PROFILE,
    RESET, SEALED, SECRET, SEND_BY, SK, SPENT, UNLOCK, USER_PREFIX, VERIFY,
};
use super::DynamoStore;
use crate::domain::user::MethodKind;
use crate::domain::{CodeDigest, CodeKey, TotpSeal, Username};
use crate::mail::MailKey;
use crate::ports::StoreError;
use sspr_domain::keyring::{sealed_version, text_version};
use sspr_domain::mail::StoredMail;

/// What one version still holds, live.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Held {
    /// Authenticator secrets sealed under it.
    pub totp: u64,
    /// Unused recovery codes sealed under it.
    pub recovery_codes: u64,
    /// Queued mail sealed under it.
    pub mail: u64,
    /// Codes in flight keyed under it (these cannot be moved; they expire).
    pub codes: u64,
}

impl Held {
    pub fn total(&self) -> u64 {
        self.totp + self.recovery_codes + self.mail + self.codes
    }

    /// What a reseal can move.
    pub fn movable(&self) -> u64 {
        self.totp + self.recovery_codes + self.mail
    }
}

/// What every version holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Census(pub BTreeMap<u32, Held>);

impl Census {
    pub fn of(&self, version: u32) -> Held {
        self.0.get(&version).copied().unwrap_or_default()
    }

    /// How many live items `version` still seals or keys.
    pub fn left(&self, version: u32) -> u64 {
        self.of(version).total()
    }

    fn at(&mut self, version: Option<u32>) -> &mut Held {
        // A value naming no version (not ours, or damaged) is counted under 0.
        self.0.entry(version.unwrap_or(0)).or_default()
    }
}

/// What a reseal did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Resealed {
    /// Items read.
    pub scanned: u64,
    /// Secrets, recovery codes and mail moved to the current version.
    pub moved: u64,
    /// Items changed by someone else between the read and the write (or
    /// gone): left for the next run.
    pub raced: u64,
    /// Items under the old version that do not open (damaged): left as they are.
    pub unopenable: u64,
    /// Codes in flight under the old version: they stay, and expire.
    pub codes_in_flight: u64,
}

/// One page of a reseal, for a progress bar.
#[derive(Debug, Clone, Copy)]
pub struct Page {
    pub scanned: u64,
    pub moved: u64,
}

/// The user of an item's `pk`.
fn user_of(item: &Item) -> Option<Username> {
    let pk = text(item, super::schema::PK).ok().flatten()?;
    Username::parse(pk.strip_prefix(USER_PREFIX)?).ok()
}

fn live(item: &Item, now: i64) -> bool {
    match item.get(EXPIRES_AT) {
        Some(Av::N(n)) => n.parse::<i64>().map(|e| e > now).unwrap_or(true),
        _ => true,
    }
}

/// The version of a code slot `group` of `item`, if it holds a live code.
fn code_in_flight(item: &Item, group: &str, now: i64) -> Option<Option<u32>> {
    let digest = text(item, &attr(group, CODE)).ok().flatten()?;
    let spent = matches!(item.get(&attr(group, SPENT)), Some(Av::Bool(true)));
    let exp = match item.get(&attr(group, EXP)) {
        Some(Av::N(n)) => n.parse::<i64>().ok()?,
        _ => return None,
    };
    (!spent && exp > now).then(|| text_version(digest))
}

fn blob(item: &Item, name: &str) -> Option<Vec<u8>> {
    match item.get(name) {
        Some(Av::B(b)) => Some(b.as_ref().to_vec()),
        _ => None,
    }
}

fn number_of(item: &Item, name: &str) -> Option<i64> {
    match item.get(name) {
        Some(Av::N(n)) => n.parse().ok(),
        _ => None,
    }
}

/// Count what `item` holds into `census`.
fn count(census: &mut Census, item: &Item, now: i64) {
    if !live(item, now) {
        return;
    }
    let Some(sk) = text(item, SK).ok().flatten() else {
        return;
    };
    if sk == PROFILE {
        for group in [VERIFY, RESET, UNLOCK] {
            if let Some(v) = code_in_flight(item, group, now) {
                census.at(v).codes += 1;
            }
        }
    } else if sk.starts_with(METHOD_PREFIX) {
        if let Some(sealed) = blob(item, SECRET) {
            census.at(sealed_version(&sealed)).totp += 1;
        }
        if let Some(Av::Ss(set)) = item.get(CODES) {
            for entry in set {
                census.at(text_version(entry)).recovery_codes += 1;
            }
        }
        if let Some(v) = code_in_flight(item, METHOD_CODE, now) {
            census.at(v).codes += 1;
        }
    } else if sk.starts_with(super::schema::MAIL_PREFIX) {
        if number_of(item, SEND_BY).is_some_and(|by| by <= now) {
            return;
        }
        if let Some(sealed) = blob(item, SEALED) {
            census.at(sealed_version(&sealed)).mail += 1;
        }
    }
}

/// The keys a reseal seals with.
pub struct ResealKeys<'a> {
    pub codes: &'a CodeKey,
    pub totp: &'a TotpSeal,
    pub mail: &'a MailKey,
}

/// One write a reseal makes: the item's key, what is set, what must still hold.
struct Move {
    key: Item,
    set: &'static str,
    condition: String,
    values: Vec<(String, Av)>,
}

enum Plan {
    Nothing,
    Move(Move),
    Unopenable,
}

fn key_of(item: &Item) -> Item {
    let mut key = Item::new();
    for k in [super::schema::PK, SK] {
        if let Some(v) = item.get(k) {
            key.insert(k.to_owned(), v.clone());
        }
    }
    key
}

/// The seal `to` written over `sealed` (re-asserted), or unopenable when
/// there is none to write.
fn replace_seal(item: &Item, sealed: Vec<u8>, to: Option<Vec<u8>>) -> Plan {
    match to {
        Some(to) => Plan::Move(Move {
            key: key_of(item),
            set: "#f = :to",
            condition: "#f = :from".into(),
            values: vec![
                (":to".into(), Av::B(to.into())),
                (":from".into(), Av::B(sealed.into())),
            ],
        }),
        None => Plan::Unopenable,
    }
}

/// What moving `item` off version `from` takes.
fn plan(item: &Item, from: u32, keys: &ResealKeys<'_>, now: i64) -> Plan {
    let Some(sk) = text(item, SK).ok().flatten() else {
        return Plan::Nothing;
    };
    let Some(user) = user_of(item) else {
        return Plan::Nothing;
    };
    if let Some(kind) = sk.strip_prefix(METHOD_PREFIX).and_then(MethodKind::parse) {
        if let Some(sealed) = blob(item, SECRET) {
            if sealed_version(&sealed) != Some(from) {
                return Plan::Nothing;
            }
            let to = keys.totp.reseal(&sealed, &user, kind.as_str());
            return replace_seal(item, sealed, to);
        }
        if let Some(Av::Ss(set)) = item.get(CODES) {
            if !set.iter().any(|e| text_version(e) == Some(from)) {
                return Plan::Nothing;
            }
            let mut moved = Vec::with_capacity(set.len());
            for entry in set {
                if text_version(entry) != Some(from) {
                    moved.push(entry.clone());
                    continue;
                }
                let old = CodeDigest::from_stored(entry.clone());
                match keys.codes.recovery_reseal(&user, &old) {
                    Some(new) => moved.push(new.as_str().to_owned()),
                    None => return Plan::Unopenable,
                }
            }
            // The set as read, whole: a code used meanwhile is not brought back.
            let mut condition = "size(#f) = :n".to_owned();
            let mut values = vec![
                (":to".into(), Av::Ss(moved)),
                (":n".into(), Av::N(set.len().to_string())),
            ];
            for (i, entry) in set.iter().enumerate() {
                condition.push_str(&format!(" AND contains(#f, :e{i})"));
                values.push((format!(":e{i}"), Av::S(entry.clone())));
            }
            return Plan::Move(Move {
                key: key_of(item),
                set: "#f = :to",
                condition,
                values,
            });
        }
        return Plan::Nothing;
    }
    if sk.starts_with(super::schema::MAIL_PREFIX) {
        let Some(sealed) = blob(item, SEALED) else {
            return Plan::Nothing;
        };
        if sealed_version(&sealed) != Some(from)
            || number_of(item, SEND_BY).is_some_and(|by| by <= now)
        {
            return Plan::Nothing;
        }
        let Ok(mail) = StoredMail::try_from(MailItem { user: &user, item }) else {
            return Plan::Unopenable;
        };
        return replace_seal(item, sealed, mail.resealed(keys.mail));
    }
    Plan::Nothing
}

/// The attribute a move writes.
fn field_of(item: &Item) -> &'static str {
    if item.contains_key(SECRET) {
        SECRET
    } else if item.contains_key(CODES) {
        CODES
    } else {
        SEALED
    }
}

impl DynamoStore {
    /// What every key version still holds, live, at `now` (a Scan).
    pub async fn census(&self, now: i64) -> Result<Census, StoreError> {
        let mut census = Census::default();
        self.scan_all(|item| count(&mut census, item, now)).await?;
        Ok(census)
    }

    /// Move everything movable from version `from` to the current one of
    /// `keys`, page by page, each item by a conditional write over what was
    /// read (so a secret replaced or a code used meanwhile is never undone).
    /// Rerun, it picks up what is left: a reseal is resumable by being
    /// idempotent. `page` is told after each page.
    pub async fn reseal(
        &self,
        from: u32,
        keys: &ResealKeys<'_>,
        now: i64,
        mut page: impl FnMut(Page),
    ) -> Result<Resealed, StoreError> {
        let mut done = Resealed::default();
        let mut start: Option<Item> = None;
        loop {
            self.trips.note(&["dynamodb:Scan"]);
            let out = self
                .client
                .scan()
                .table_name(&self.table)
                .limit(100)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| StoreError::new("scan", e.into_service_error()))?;
            for item in out.items() {
                done.scanned += 1;
                let mut census = Census::default();
                count(&mut census, item, now);
                done.codes_in_flight += census.of(from).codes;
                match plan(item, from, keys, now) {
                    Plan::Nothing => {}
                    Plan::Unopenable => done.unopenable += 1,
                    Plan::Move(m) => {
                        self.trips.note(&["dynamodb:UpdateItem"]);
                        let mut req = self
                            .client
                            .update_item()
                            .table_name(&self.table)
                            .set_key(Some(m.key))
                            .update_expression(format!("SET {}", m.set))
                            .condition_expression(m.condition)
                            .expression_attribute_names("#f", field_of(item));
                        for (k, v) in m.values {
                            req = req.expression_attribute_values(k, v);
                        }
                        match req.send().await {
                            Ok(_) => done.moved += 1,
                            Err(e) => {
                                let e = e.into_service_error();
                                if e.is_conditional_check_failed_exception() {
                                    done.raced += 1;
                                } else {
                                    return Err(StoreError::new("reseal", e));
                                }
                            }
                        }
                    }
                }
            }
            page(Page {
                scanned: done.scanned,
                moved: done.moved,
            });
            match out.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => break,
            }
        }
        Ok(done)
    }
}
