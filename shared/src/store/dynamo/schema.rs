//! The table's layout, in one place: the keys, every attribute name, and how
//! a profile item and a mail item are written and read back. Everything else
//! in the store (and every test that reads an item raw) names attributes
//! through these constants.
//!
//! Reading is strict: an item that does not make a [`UserRecord`] (a missing
//! username, email or hash, an address that is not one, a number that is not
//! one) is refused as corrupt, never filled in with a default. An address
//! that passed older rules is read as stored ([`Email::from_stored`]).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue as Av;

use crate::domain::user::ResetStage;
use crate::domain::user::{GateGrant, Method, MethodId, MethodKind, MethodState, MethodTarget};
use crate::domain::{CodeDigest, CodeSlot, Email, Failures, Locale, Phone, Purpose, ResetGrant};
use crate::domain::{UserRecord, Username};
use crate::ports::{NewUser, StoreError, StoredMail};

/// An item as the SDK gives it.
pub type Item = HashMap<String, Av>;

/// The partition key: `USER#<username>`, `CLIENT#<ip>`.
pub const PK: &str = "pk";
/// The sort key: `PROFILE`, `AUDIT#...`, `MAIL#...`, `LIMIT#...`.
pub const SK: &str = "sk";
/// The TTL attribute (seconds since the epoch).
pub const EXPIRES_AT: &str = "expires_at";

pub const USER_PREFIX: &str = "USER#";
pub const PROFILE: &str = "PROFILE";
pub const AUDIT_PREFIX: &str = "AUDIT#";
pub const MAIL_PREFIX: &str = "MAIL#";
pub const CLIENT_PREFIX: &str = "CLIENT#";
pub const LIMIT_PREFIX: &str = "LIMIT#";
/// A recovery method: `METHOD#<kind>` (one item per kind; the primary email
/// lives on the profile).
pub const METHOD_PREFIX: &str = "METHOD#";

// The profile.
pub const USER_ID: &str = "user_id";
pub const USERNAME: &str = "username";
pub const EMAIL: &str = "email";
pub const EMAIL_VERIFIED: &str = "email_verified";
/// A new recovery email waiting for its code.
pub const PENDING_EMAIL: &str = "pending_email";
/// The token version that asked for the pending email.
pub const PENDING_VER: &str = "pending_ver";
pub const LOCALE: &str = "locale";
pub const CREATED_AT: &str = "created_at";
pub const PW_CHANGED_AT: &str = "pw_changed_at";
pub const PW_HASH: &str = "pw_hash";
pub const PW_HISTORY: &str = "pw_history";
pub const TOKEN_VERSION: &str = "token_version";
/// `admin` for an admin (set by operators).
pub const ROLE: &str = "role";
pub const RESET_JTI: &str = "reset_jti";
pub const RESET_EXP: &str = "reset_exp";
/// The method the pending reset code went to (`primary` or a method kind).
pub const RESET_VIA: &str = "rp_via";
/// A first gate passed: its token's `jti`, the method it proved, its expiry.
pub const GATE_JTI: &str = "gate_jti";
pub const GATE_VIA: &str = "gate_via";
pub const GATE_EXP: &str = "gate_exp";
/// The revision of the set of methods, moved on by every change to it.
pub const MREV: &str = "mrev";
/// When the user last confirmed their methods.
pub const METHODS_AT: &str = "mc_at";

// A code slot or failure counter is a group of attributes `<group>_<part>`.
/// The code that confirms an email.
pub const VERIFY: &str = "ve";
/// The reset code.
pub const RESET: &str = "rp";
/// The unlock code.
pub const UNLOCK: &str = "ul";
/// Wrong passwords at sign-in.
pub const SIGNIN: &str = "si";
/// Failed reset proofs.
pub const PROOFS: &str = "pf";
pub const CODE: &str = "code";
pub const EXP: &str = "exp";
pub const TRIES: &str = "tries";
pub const SPENT: &str = "spent";
/// Start of the current window.
pub const WIN: &str = "win";
/// Count in the current window.
pub const CNT: &str = "cnt";
/// The latest send or failure.
pub const LAST: &str = "last";
/// `<group>_to_<recipient key>`: when a code of the group last went to that
/// recipient (the per-recipient spacing).
pub const TO: &str = "to";

// A method item (`TYPE` is its kind, `CREATED_AT` when it was added).
pub const STATE: &str = "state";
pub const PENDING: &str = "pending";
pub const CONFIRMED: &str = "confirmed";
/// The email address or phone number.
pub const ADDRESS: &str = "address";
/// The sealed TOTP secret (binary).
pub const SECRET: &str = "secret";
/// The last TOTP step accepted.
pub const STEP: &str = "step";
/// The digests of the unused recovery codes (a string set).
pub const CODES: &str = "codes";
pub const CONFIRMED_AT: &str = "confirmed_at";
pub const LAST_USED: &str = "last_used";
/// The token version of the session that added the method.
pub const ADDED_VER: &str = "ver";
/// The group of a method's confirmation code (`mc_code`, `mc_exp`, ...).
pub const METHOD_CODE: &str = "mc";

// An audit event.
pub const TYPE: &str = "type";
pub const OUTCOME: &str = "outcome";
pub const AT: &str = "at";
pub const CLIENT_IP: &str = "client_ip";
pub const USER_AGENT: &str = "user_agent";
pub const REQUEST_ID: &str = "request_id";

// A queued mail (`AT` is when it was queued).
pub const KIND: &str = "kind";
pub const SEALED: &str = "sealed";
pub const SEND_BY: &str = "send_by";
pub const CODE_PURPOSE: &str = "code_purpose";
pub const CODE_DIGEST: &str = "code_digest";

// A client's request count in one window.
pub const HITS: &str = "n";

/// The attribute `part` of the group `group` (`attr(RESET, CODE)` is `rp_code`).
pub fn attr(group: &str, part: &str) -> String {
    format!("{group}_{part}")
}

/// The attribute group of a purpose's code slot.
pub fn slot_group(p: Purpose) -> &'static str {
    match p {
        Purpose::VerifyEmail => VERIFY,
        Purpose::ResetPassword => RESET,
        Purpose::UnlockAccount => UNLOCK,
    }
}

pub fn user_pk(user: &Username) -> String {
    format!("{USER_PREFIX}{}", user.as_str())
}

pub fn method_sk(kind: MethodKind) -> String {
    format!("{METHOD_PREFIX}{}", kind.as_str())
}

/// The attribute that records when a code of `group` last went to `recipient`.
pub fn sent_to_attr(group: &str, recipient: &str) -> String {
    format!("{group}_{TO}_{recipient}")
}

pub fn mail_sk(id: &str) -> String {
    format!("{MAIL_PREFIX}{id}")
}

pub fn profile_key(user: &Username) -> Item {
    HashMap::from([
        (PK.to_owned(), s(user_pk(user))),
        (SK.to_owned(), s(PROFILE)),
    ])
}

/// The user and mail id of a queued mail's key, as a stream record names it.
pub fn mail_key_of(pk: &str, sk: &str) -> Option<(Username, String)> {
    let user = Username::parse(pk.strip_prefix(USER_PREFIX)?).ok()?;
    let id = sk.strip_prefix(MAIL_PREFIX)?;
    (!id.is_empty()).then(|| (user, id.to_owned()))
}

pub(super) fn s(v: impl Into<String>) -> Av {
    Av::S(v.into())
}

pub(super) fn n(v: impl ToString) -> Av {
    Av::N(v.to_string())
}

/// A new user's profile item: the first code to confirm the email in its
/// slot, counted as the first send of its window, and every other slot and
/// counter at zero.
pub fn new_profile(user: &Username, u: &NewUser) -> Item {
    let mut item: Item = HashMap::from([
        (PK.to_owned(), s(user_pk(user))),
        (SK.to_owned(), s(PROFILE)),
        (USER_ID.to_owned(), s(&u.user_id)),
        (USERNAME.to_owned(), s(user.as_str())),
        (EMAIL.to_owned(), s(u.email.as_str())),
        (EMAIL_VERIFIED.to_owned(), Av::Bool(false)),
        (LOCALE.to_owned(), s(u.locale.as_str())),
        (CREATED_AT.to_owned(), n(u.now)),
        (PW_CHANGED_AT.to_owned(), n(u.now)),
        (PW_HASH.to_owned(), s(&u.password_hash)),
        (PW_HISTORY.to_owned(), Av::L(vec![])),
        (TOKEN_VERSION.to_owned(), n(0)),
    ]);
    for group in [VERIFY, RESET, UNLOCK] {
        item.insert(attr(group, TRIES), n(0));
        item.insert(attr(group, SPENT), Av::Bool(false));
        for part in [WIN, CNT, LAST] {
            item.insert(attr(group, part), n(0));
        }
    }
    for group in [SIGNIN, PROOFS] {
        for part in [WIN, CNT, LAST] {
            item.insert(attr(group, part), n(0));
        }
    }
    item.insert(attr(VERIFY, CODE), s(u.code.as_str()));
    item.insert(attr(VERIFY, EXP), n(u.code_expires_at));
    item.insert(attr(VERIFY, WIN), n(u.now));
    item.insert(attr(VERIFY, CNT), n(1));
    item.insert(attr(VERIFY, LAST), n(u.now));
    item.insert(sent_to_attr(VERIFY, &u.recipient), n(u.now));
    item
}

fn corrupt(what: &'static str) -> StoreError {
    StoreError::msg(what)
}

/// A string attribute; `Ok(None)` when absent, `Err` when of another type.
pub(super) fn text<'i>(item: &'i Item, k: &str) -> Result<Option<&'i str>, StoreError> {
    match item.get(k) {
        None | Some(Av::Null(_)) => Ok(None),
        Some(Av::S(v)) => Ok(Some(v)),
        Some(_) => Err(corrupt("profile attribute of the wrong type")),
    }
}

/// A number attribute; `Ok(None)` when absent, `Err` when not a whole number.
pub(super) fn number(item: &Item, k: &str) -> Result<Option<i64>, StoreError> {
    match item.get(k) {
        None | Some(Av::Null(_)) => Ok(None),
        Some(Av::N(v)) => v
            .parse()
            .map(Some)
            .map_err(|_| corrupt("profile number unreadable")),
        Some(_) => Err(corrupt("profile attribute of the wrong type")),
    }
}

fn flag(item: &Item, k: &str) -> Result<bool, StoreError> {
    match item.get(k) {
        None | Some(Av::Null(_)) => Ok(false),
        Some(Av::Bool(b)) => Ok(*b),
        Some(_) => Err(corrupt("profile attribute of the wrong type")),
    }
}

fn count(item: &Item, k: &str) -> Result<u32, StoreError> {
    let v = number(item, k)?.unwrap_or(0);
    u32::try_from(v).map_err(|_| corrupt("profile count out of range"))
}

fn required<'i>(item: &'i Item, k: &str, what: &'static str) -> Result<&'i str, StoreError> {
    text(item, k)?.ok_or(corrupt(what))
}

fn slot(item: &Item, group: &str) -> Result<CodeSlot, StoreError> {
    let a = |part| attr(group, part);
    let prefix = sent_to_attr(group, "");
    let mut sent_to = std::collections::BTreeMap::new();
    for k in item.keys() {
        if let Some(recipient) = k.strip_prefix(&prefix) {
            if let Some(at) = number(item, k)? {
                sent_to.insert(recipient.to_owned(), at);
            }
        }
    }
    Ok(CodeSlot {
        digest: text(item, &a(CODE))?.map(|d| CodeDigest::from_stored(d.to_owned())),
        expires_at: number(item, &a(EXP))?.unwrap_or(0),
        attempts: count(item, &a(TRIES))?,
        spent: flag(item, &a(SPENT))?,
        window_start: number(item, &a(WIN))?.unwrap_or(0),
        window_count: count(item, &a(CNT))?,
        last_sent: number(item, &a(LAST))?.unwrap_or(0),
        sent_to,
    })
}

fn failures(item: &Item, group: &str) -> Result<Failures, StoreError> {
    Ok(Failures {
        window_start: number(item, &attr(group, WIN))?.unwrap_or(0),
        count: count(item, &attr(group, CNT))?,
        last: number(item, &attr(group, LAST))?.unwrap_or(0),
    })
}

/// A profile item, to read as a [`UserRecord`].
pub struct ProfileItem<'a>(pub &'a Item);

impl TryFrom<ProfileItem<'_>> for UserRecord {
    type Error = StoreError;

    fn try_from(ProfileItem(item): ProfileItem<'_>) -> Result<Self, StoreError> {
        let username = Username::parse(required(item, USERNAME, "profile without a username")?)
            .map_err(|_| corrupt("profile username unreadable"))?;
        let email = Email::from_stored(required(item, EMAIL, "profile without an email")?)
            .ok_or(corrupt("profile email unreadable"))?;
        let pending_email = text(item, PENDING_EMAIL)?
            .map(|e| Email::from_stored(e).ok_or(corrupt("pending email unreadable")))
            .transpose()?;
        let history = match item.get(PW_HISTORY) {
            None => Vec::new(),
            Some(Av::L(l)) => l
                .iter()
                .map(|v| match v {
                    Av::S(h) => Ok(h.clone()),
                    _ => Err(corrupt("password history unreadable")),
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(corrupt("password history unreadable")),
        };
        let reset_grant = match (text(item, RESET_JTI)?, number(item, RESET_EXP)?) {
            (Some(jti), Some(expires_at)) => Some(ResetGrant {
                jti: jti.to_owned(),
                expires_at,
            }),
            (None, None) => None,
            _ => return Err(corrupt("reset grant half written")),
        };
        // A language no longer offered falls back to the default one.
        let locale =
            Locale::parse(required(item, LOCALE, "profile without a locale")?).unwrap_or_default();
        let token_version =
            number(item, TOKEN_VERSION)?.ok_or(corrupt("profile without a token version"))?;
        let gate = match (
            text(item, GATE_JTI)?,
            text(item, GATE_VIA)?,
            number(item, GATE_EXP)?,
        ) {
            (Some(jti), Some(via), Some(expires_at)) => Some(GateGrant {
                jti: jti.to_owned(),
                via: MethodId::parse(via).ok_or(corrupt("gate grant of no method"))?,
                expires_at,
            }),
            (None, None, None) => None,
            _ => return Err(corrupt("gate grant half written")),
        };
        let code_to = text(item, RESET_VIA)?
            .map(|v| MethodId::parse(v).ok_or(corrupt("reset code sent to no method")))
            .transpose()?;
        let journey = ResetStage::from_parts(code_to, gate, reset_grant);
        Ok(UserRecord {
            user_id: required(item, USER_ID, "profile without a user id")?.to_owned(),
            username,
            email,
            email_verified: flag(item, EMAIL_VERIFIED)?,
            pending_email,
            locale,
            created_at: number(item, CREATED_AT)?.ok_or(corrupt("profile without created_at"))?,
            password_changed_at: number(item, PW_CHANGED_AT)?
                .ok_or(corrupt("profile without pw_changed_at"))?,
            password_hash: required(item, PW_HASH, "profile without a password hash")?.to_owned(),
            password_history: history,
            token_version: u64::try_from(token_version)
                .map_err(|_| corrupt("token version out of range"))?,
            is_admin: text(item, ROLE)? == Some("admin"),
            verify: slot(item, VERIFY)?,
            reset: slot(item, RESET)?,
            unlock: slot(item, UNLOCK)?,
            signin: failures(item, SIGNIN)?,
            proofs: failures(item, PROOFS)?,
            journey,
            methods_confirmed_at: number(item, METHODS_AT)?.unwrap_or(0),
            methods: Vec::new(),
            methods_revision: u64::try_from(number(item, MREV)?.unwrap_or(0))
                .map_err(|_| corrupt("methods revision out of range"))?,
        })
    }
}

/// A method item, to read as a [`Method`].
pub struct MethodItem<'a>(pub &'a Item);

impl TryFrom<MethodItem<'_>> for Method {
    type Error = StoreError;

    fn try_from(MethodItem(item): MethodItem<'_>) -> Result<Self, StoreError> {
        let bad = || corrupt("method item is corrupt");
        let kind = text(item, SK)?
            .and_then(|sk| sk.strip_prefix(METHOD_PREFIX))
            .and_then(MethodKind::parse)
            .ok_or_else(bad)?;
        let state = match text(item, STATE)? {
            Some(PENDING) => MethodState::Pending,
            Some(CONFIRMED) => MethodState::Confirmed,
            _ => return Err(bad()),
        };
        let address = || text(item, ADDRESS).ok().flatten().ok_or_else(bad);
        let target = match kind {
            MethodKind::Email => {
                MethodTarget::Email(Email::from_stored(address()?).ok_or_else(bad)?)
            }
            MethodKind::Phone => MethodTarget::Phone(Phone::parse(address()?).map_err(|_| bad())?),
            MethodKind::Totp => MethodTarget::Totp {
                sealed: match item.get(SECRET) {
                    Some(Av::B(b)) => b.as_ref().to_vec(),
                    _ => return Err(bad()),
                },
                last_step: u64::try_from(number(item, STEP)?.unwrap_or(0)).map_err(|_| bad())?,
            },
            MethodKind::RecoveryCodes => MethodTarget::RecoveryCodes {
                left: match item.get(CODES) {
                    // DynamoDB drops a set once its last member is deleted.
                    None => Vec::new(),
                    Some(Av::Ss(set)) => set
                        .iter()
                        .map(|d| CodeDigest::from_stored(d.clone()))
                        .collect(),
                    Some(_) => return Err(bad()),
                },
            },
        };
        Ok(Method {
            id: MethodId::Item(kind),
            target,
            state,
            code: slot(item, METHOD_CODE)?,
            created_at: number(item, CREATED_AT)?.ok_or_else(bad)?,
            confirmed_at: number(item, CONFIRMED_AT)?,
            last_used_at: number(item, LAST_USED)?,
            added_ver: u64::try_from(number(item, ADDED_VER)?.unwrap_or(0)).map_err(|_| bad())?,
        })
    }
}

/// A user's items as one query reads them (`METHOD#...` and `PROFILE`, in
/// key order), as a [`UserRecord`] with its methods; `None` without a profile.
pub fn user_from_items(items: &[Item]) -> Result<Option<UserRecord>, StoreError> {
    let is = |i: &Item, f: &dyn Fn(&str) -> bool| matches!(i.get(SK), Some(Av::S(k)) if f(k));
    let Some(profile) = items.iter().find(|i| is(i, &|k| k == PROFILE)) else {
        return Ok(None);
    };
    let mut rec = UserRecord::try_from(ProfileItem(profile))?;
    for item in items
        .iter()
        .filter(|i| is(i, &|k| k.starts_with(METHOD_PREFIX)))
    {
        rec.methods.push(Method::try_from(MethodItem(item))?);
    }
    Ok(Some(rec))
}

/// A queued mail item of `user`, to read as a [`StoredMail`].
pub struct MailItem<'a> {
    pub user: &'a Username,
    pub item: &'a Item,
}

impl TryFrom<MailItem<'_>> for StoredMail {
    type Error = StoreError;

    fn try_from(MailItem { user, item }: MailItem<'_>) -> Result<Self, StoreError> {
        let bad = || corrupt("queued mail item is corrupt");
        let id = text(item, SK)?
            .and_then(|sk| sk.strip_prefix(MAIL_PREFIX))
            .ok_or_else(bad)?
            .to_owned();
        let sealed = match item.get(SEALED) {
            Some(Av::B(b)) => b.as_ref().to_vec(),
            _ => return Err(bad()),
        };
        let code = match (text(item, CODE_PURPOSE)?, text(item, CODE_DIGEST)?) {
            (Some(p), Some(d)) => Some((
                Purpose::parse(p).map_err(|_| bad())?,
                CodeDigest::from_stored(d.to_owned()),
            )),
            (None, None) => None,
            _ => return Err(bad()),
        };
        Ok(StoredMail {
            user: user.clone(),
            id,
            kind: text(item, KIND)?.ok_or_else(bad)?.to_owned(),
            sealed,
            code,
            send_by: number(item, SEND_BY)?.ok_or_else(bad)?,
            queued_at: number(item, AT)?.ok_or_else(bad)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Code, CodeKey};

    fn profile() -> Item {
        let user = Username::parse("alice").expect("valid");
        let key = CodeKey::new(sspr_domain::keyring::Ring::of_master(&"s".repeat(40)));
        let code = Code::parse("123456", 6).expect("valid");
        new_profile(
            &user,
            &NewUser {
                user_id: "u1".into(),
                email: Email::parse("alice@example.com").expect("valid"),
                locale: Locale::default(),
                password_hash: "$argon2id$x".into(),
                now: 1_000,
                code: key.digest(Purpose::VerifyEmail, &user, &code),
                code_expires_at: 1_600,
                recipient: key.recipient("alice@example.com"),
            },
        )
    }

    #[test]
    fn a_new_profile_reads_back_as_written() {
        let rec = UserRecord::try_from(ProfileItem(&profile())).expect("reads");
        assert_eq!(rec.username.as_str(), "alice");
        assert_eq!(rec.email.as_str(), "alice@example.com");
        assert_eq!(rec.verify.window_count, 1);
        assert_eq!(rec.verify.expires_at, 1_600);
        assert!(rec.reset.digest.is_none());
        assert_eq!(rec.journey, ResetStage::Idle);
        assert_eq!(rec.token_version, 0);
    }

    #[test]
    fn a_corrupt_profile_is_refused_not_defaulted() {
        let cases: [(&str, Option<Av>); 10] = [
            (EMAIL, None),
            (EMAIL, Some(s("not an address"))),
            (EMAIL, Some(s("a@b\nBcc: c@d"))),
            (PW_HASH, None),
            (USERNAME, Some(s("x"))),
            (TOKEN_VERSION, Some(n("-1"))),
            ("rp_cnt", Some(s("five"))),
            (RESET_JTI, Some(s("j1"))),
            (GATE_VIA, Some(s("totp"))),
            (RESET_VIA, Some(s("carrier_pigeon"))),
        ];
        for (k, v) in cases {
            let mut item = profile();
            match v {
                Some(v) => item.insert(k.to_owned(), v),
                None => item.remove(k),
            };
            assert!(
                UserRecord::try_from(ProfileItem(&item)).is_err(),
                "{k} = {:?}",
                item.get(k)
            );
        }
    }

    #[test]
    fn a_stored_journey_reads_as_its_stage_and_one_naming_no_method_is_refused() {
        let gate = GateGrant {
            jti: "g1".into(),
            via: MethodId::Primary,
            expires_at: 2_000,
        };
        let mut item = profile();
        item.insert(RESET_VIA.to_owned(), s("phone"));
        item.insert(GATE_JTI.to_owned(), s("g1"));
        item.insert(GATE_VIA.to_owned(), s("primary"));
        item.insert(GATE_EXP.to_owned(), n(2_000));
        let rec = UserRecord::try_from(ProfileItem(&item)).expect("reads");
        assert_eq!(
            rec.journey,
            ResetStage::GatePassed {
                gate: gate.clone(),
                code_to: Some(MethodId::Item(MethodKind::Phone)),
            }
        );
        item.insert(RESET_JTI.to_owned(), s("r1"));
        item.insert(RESET_EXP.to_owned(), n(2_500));
        let rec = UserRecord::try_from(ProfileItem(&item)).expect("reads");
        assert_eq!(
            rec.journey,
            ResetStage::Granted {
                grant: ResetGrant {
                    jti: "r1".into(),
                    expires_at: 2_500,
                },
                code_to: Some(MethodId::Item(MethodKind::Phone)),
                gate: Some(gate),
            }
        );
        item.insert(GATE_VIA.to_owned(), s("carrier_pigeon"));
        assert!(UserRecord::try_from(ProfileItem(&item)).is_err());
    }
}
