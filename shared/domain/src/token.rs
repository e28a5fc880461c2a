//! JWTs: reset tokens (audience `sspr-reset`), access tokens (audience
//! `sspr-access`, carrying the user's token version) and the JWKS document.
//!
//! Both are EdDSA (Ed25519) compact JWS (RFC 7515, RFC 8037), made and checked
//! here with `ed25519-dalek` alone: sspr signs with one algorithm and accepts
//! one, so a general JWT library (which links RSA and the NIST curves to
//! dispatch on `alg`) buys nothing but size. On the way in a token must be
//! three base64url parts without padding; its header must say `EdDSA` with our
//! `kid` and no `crit`, so `alg: none` and HMAC-with-the-public-key forgeries
//! fail at the header; the signature is checked strictly (no malleable or
//! small-order forms) before the claims are read; every claim must be present,
//! with our issuer and the expected audience. Expiry is checked against the
//! `now` the caller passes, not the system clock. `jsonwebtoken` checks the
//! tokens in the tests, as an independent implementation.

use std::sync::Arc;

use base64::Engine as _;
use ed25519_dalek::{Signature, Signer as _};
use serde::{Deserialize, Serialize};

use crate::domain::user::MethodId;
use crate::keyring::{kid_version, subkey, KeyParts, KeySet, Ring, Sets};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The longest token looked at.
const MAX_TOKEN_LEN: usize = 4096;

pub const RESET_AUDIENCE: &str = "sspr-reset";
pub const ACCESS_AUDIENCE: &str = "sspr-access";
pub const GATE_AUDIENCE: &str = "sspr-gate";

/// Leeway for clocks of other machines on `iat`/`nbf`, in seconds.
const LEEWAY: i64 = 5;

/// The claims of a reset token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ResetClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub jti: String,
}

/// The claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub jti: String,
    /// The user's token version when issued; a reset or change bumps it.
    pub ver: u64,
    /// When the user proved who they are (OpenID Connect's `auth_time`):
    /// changes to the methods need it recent.
    pub auth_time: i64,
}

impl AccessClaims {
    /// Whether the user authenticated at most `max_age` seconds before `now`.
    pub fn recent(&self, now: i64, max_age: i64) -> bool {
        now - self.auth_time <= max_age && self.auth_time <= now + LEEWAY
    }
}

/// The claims of a gate token: the first of two gates of a reset passed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GateClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub jti: String,
    /// The method the first gate proved (the second must be another).
    pub via: MethodId,
}

/// Why a token was refused (kept for logs; the client sees one answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("malformed or badly signed")]
    Invalid,
    #[error("expired")]
    Expired,
    #[error("not yet valid")]
    NotYetValid,
    #[error("could not be signed")]
    Signing,
}

/// The keyring's signing keys (one Ed25519 key a version, its `kid`
/// `k<version>-` and a digest of the public key) and the issuer: tokens are
/// signed under the current version and verified under any version held.
pub struct Keys {
    ring: Arc<Ring>,
    issuer: String,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sets = self.ring.sets();
        let kids: Vec<&str> = sets.all().iter().map(|s| s.kid()).collect();
        f.debug_struct("Keys").field("kids", &kids).finish()
    }
}

/// A JOSE header as sspr writes it and reads it.
#[derive(Serialize, Deserialize)]
struct JoseHeader {
    alg: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    typ: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kid: Option<String>,
    /// Extensions the reader must understand; sspr understands none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    crit: Option<serde_json::Value>,
}

/// What [`Keys::decode`] checks of every token's claims.
trait Registered {
    fn iss(&self) -> &str;
    fn aud(&self) -> &str;
}

impl Registered for ResetClaims {
    fn iss(&self) -> &str {
        &self.iss
    }
    fn aud(&self) -> &str {
        &self.aud
    }
}

impl Registered for GateClaims {
    fn iss(&self) -> &str {
        &self.iss
    }
    fn aud(&self) -> &str {
        &self.aud
    }
}

impl Registered for AccessClaims {
    fn iss(&self) -> &str {
        &self.iss
    }
    fn aud(&self) -> &str {
        &self.aud
    }
}

impl Keys {
    pub fn new(ring: Arc<Ring>, issuer: &str) -> Self {
        Self {
            ring,
            issuer: issuer.to_owned(),
        }
    }

    /// Keys of one version signing with `seed` (the local runtimes' and the
    /// tests' form; the other keys of the version come from the seed).
    pub fn from_seed(seed: &secrecy::SecretBox<[u8; 32]>, issuer: &str) -> Self {
        use secrecy::ExposeSecret as _;
        let seed = *seed.expose_secret();
        let parts =
            KeyParts::from_hmac_and_seed(subkey(&seed, b"sspr/seeded-hmac/v1").to_vec(), seed);
        Self::new(
            Arc::new(Ring::new(Sets::one(KeySet::new(1, 0, parts)))),
            issuer,
        )
    }

    /// The keyring under these keys.
    pub fn ring(&self) -> &Arc<Ring> {
        &self.ring
    }

    /// Make sure the version `token` names is held (reading the keyring again
    /// when it is not), before it is verified.
    pub async fn ensure(&self, token: &str) {
        if let Some(v) = Self::version_of(token) {
            self.ring.ensure([v]).await;
        }
    }

    /// The `kid` tokens are signed under now.
    pub fn current_kid(&self) -> String {
        self.ring.sets().current().kid().to_owned()
    }

    /// The version a token's header names, if it names one: what a function
    /// makes sure it holds (`Ring::ensure`) before it verifies the token.
    pub fn version_of(token: &str) -> Option<u32> {
        let header = token.get(..token.find('.')?)?;
        let h: JoseHeader = serde_json::from_slice(&B64.decode(header).ok()?).ok()?;
        kid_version(h.kid.as_deref()?)
    }

    fn sign<T: Serialize>(&self, claims: &T) -> Result<String, TokenError> {
        let sets = self.ring.sets();
        let set = sets.current();
        let header = JoseHeader {
            alg: "EdDSA".into(),
            typ: Some("JWT".into()),
            kid: Some(set.kid().to_owned()),
            crit: None,
        };
        let header = serde_json::to_vec(&header).map_err(|_| TokenError::Signing)?;
        let claims = serde_json::to_vec(claims).map_err(|_| TokenError::Signing)?;
        let mut token = B64.encode(header);
        token.push('.');
        B64.encode_string(claims, &mut token);
        let signature = set.signing.sign(token.as_bytes());
        token.push('.');
        B64.encode_string(signature.to_bytes(), &mut token);
        Ok(token)
    }

    fn decode<T: for<'de> Deserialize<'de> + Registered>(
        &self,
        token: &str,
        audience: &str,
    ) -> Result<T, TokenError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::Invalid);
        }
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Invalid);
        };
        let invalid = |_| TokenError::Invalid;
        let h: JoseHeader = serde_json::from_slice(&B64.decode(header).map_err(invalid)?)
            .map_err(|_| TokenError::Invalid)?;
        let sets = self.ring.sets();
        let Some(set) = h
            .kid
            .as_deref()
            .and_then(|kid| sets.all().iter().find(|s| s.kid() == kid))
        else {
            return Err(TokenError::Invalid);
        };
        if h.alg != "EdDSA" || h.crit.is_some() {
            return Err(TokenError::Invalid);
        }
        let signature: [u8; 64] = B64
            .decode(signature)
            .map_err(invalid)?
            .try_into()
            .map_err(|_| TokenError::Invalid)?;
        let signed = &token[..header.len() + 1 + payload.len()];
        set.verifying
            .verify_strict(signed.as_bytes(), &Signature::from_bytes(&signature))
            .map_err(|_| TokenError::Invalid)?;
        let payload = B64.decode(payload).map_err(invalid)?;
        let claims: T = serde_json::from_slice(&payload).map_err(|_| TokenError::Invalid)?;
        if claims.iss() != self.issuer || claims.aud() != audience {
            return Err(TokenError::Invalid);
        }
        Ok(claims)
    }

    fn check_time(now: i64, nbf: i64, exp: i64) -> Result<(), TokenError> {
        if nbf > now + LEEWAY {
            return Err(TokenError::NotYetValid);
        }
        if exp <= now {
            return Err(TokenError::Expired);
        }
        Ok(())
    }

    pub fn issue_reset(
        &self,
        user: &str,
        jti: &str,
        now: i64,
        ttl_secs: i64,
    ) -> Result<String, TokenError> {
        self.sign(&ResetClaims {
            iss: self.issuer.clone(),
            sub: user.into(),
            aud: RESET_AUDIENCE.into(),
            iat: now,
            nbf: now,
            exp: now + ttl_secs,
            jti: jti.into(),
        })
    }

    pub fn verify_reset(&self, token: &str, now: i64) -> Result<ResetClaims, TokenError> {
        let c: ResetClaims = self.decode(token, RESET_AUDIENCE)?;
        Self::check_time(now, c.nbf, c.exp)?;
        Ok(c)
    }

    pub fn issue_access(
        &self,
        user: &str,
        version: u64,
        now: i64,
        ttl_secs: i64,
    ) -> Result<String, TokenError> {
        self.sign(&AccessClaims {
            iss: self.issuer.clone(),
            sub: user.into(),
            aud: ACCESS_AUDIENCE.into(),
            iat: now,
            nbf: now,
            exp: now + ttl_secs,
            jti: uuid::Uuid::new_v4().to_string(),
            ver: version,
            auth_time: now,
        })
    }

    pub fn issue_gate(
        &self,
        user: &str,
        jti: &str,
        via: MethodId,
        now: i64,
        ttl_secs: i64,
    ) -> Result<String, TokenError> {
        self.sign(&GateClaims {
            iss: self.issuer.clone(),
            sub: user.into(),
            aud: GATE_AUDIENCE.into(),
            iat: now,
            nbf: now,
            exp: now + ttl_secs,
            jti: jti.into(),
            via,
        })
    }

    pub fn verify_gate(&self, token: &str, now: i64) -> Result<GateClaims, TokenError> {
        let c: GateClaims = self.decode(token, GATE_AUDIENCE)?;
        Self::check_time(now, c.nbf, c.exp)?;
        Ok(c)
    }

    pub fn verify_access(&self, token: &str, now: i64) -> Result<AccessClaims, TokenError> {
        let c: AccessClaims = self.decode(token, ACCESS_AUDIENCE)?;
        Self::check_time(now, c.nbf, c.exp)?;
        Ok(c)
    }

    /// The JWKS document: the public key of every version held, the current
    /// one first, so a token signed before a rotation verifies until it expires.
    pub fn jwks(&self) -> serde_json::Value {
        let sets = self.ring.sets();
        let keys: Vec<serde_json::Value> = sets
            .all()
            .iter()
            .map(|s| {
                serde_json::json!({
                    "kty": "OKP",
                    "crv": "Ed25519",
                    "alg": "EdDSA",
                    "use": "sig",
                    "kid": s.kid(),
                    "x": B64.encode(s.verifying.to_bytes()),
                })
            })
            .collect();
        serde_json::json!({ "keys": keys })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::user::PRIMARY;
    use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
    use secrecy::SecretBox;

    /// PKCS#8 v1 header for an Ed25519 private key, followed by the 32-byte seed.
    const ED25519_PKCS8_PREFIX: [u8; 16] = [
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];

    fn seed() -> SecretBox<[u8; 32]> {
        use rand::RngCore as _;
        let mut seed = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut seed);
        SecretBox::new(Box::new(seed))
    }

    fn keys() -> Keys {
        Keys::from_seed(&seed(), "sspr")
    }

    #[test]
    fn tokens_round_trip_and_expire_by_the_given_clock() {
        let k = keys();
        let t = k.issue_reset("alice", "j1", 1_000, 900).expect("sign");
        assert_eq!(
            k.verify_reset(&t, 1_000).map(|c| c.jti).ok(),
            Some("j1".into())
        );
        assert_eq!(k.verify_reset(&t, 1_900).err(), Some(TokenError::Expired));
        assert_eq!(k.verify_reset(&t, 900).err(), Some(TokenError::NotYetValid));
        let a = k.issue_access("alice", 3, 1_000, 900).expect("sign");
        assert_eq!(k.verify_access(&a, 1_001).map(|c| c.ver).ok(), Some(3));
    }

    #[test]
    fn audiences_do_not_cross() {
        let k = keys();
        let reset = k.issue_reset("alice", "j1", 1_000, 900).expect("sign");
        let access = k.issue_access("alice", 0, 1_000, 900).expect("sign");
        let gate = k
            .issue_gate("alice", "g1", PRIMARY, 1_000, 300)
            .expect("sign");
        assert!(k.verify_access(&reset, 1_000).is_err());
        assert!(k.verify_reset(&access, 1_000).is_err());
        for other in [&reset, &access] {
            assert!(k.verify_gate(other, 1_000).is_err());
        }
        assert!(k.verify_reset(&gate, 1_000).is_err());
        assert!(k.verify_access(&gate, 1_000).is_err());
        let g = k
            .verify_gate(&gate, 1_299)
            .expect("a gate token within its 5 minutes");
        assert_eq!((g.jti.as_str(), g.via), ("g1", PRIMARY));
        assert_eq!(k.verify_gate(&gate, 1_300).err(), Some(TokenError::Expired));
    }

    #[test]
    fn an_access_token_says_when_the_user_authenticated() {
        let k = keys();
        let a = k.issue_access("alice", 0, 1_000, 900).expect("sign");
        let c = k.verify_access(&a, 1_100).expect("valid");
        assert_eq!(c.auth_time, 1_000);
        assert!(c.recent(1_300, 300), "5 minutes after sign-in is recent");
        assert!(!c.recent(1_301, 300), "a second later is not");
    }

    #[test]
    fn other_keys_and_alg_none_are_refused() {
        let k = keys();
        let other = keys();
        let t = other.issue_access("alice", 0, 1_000, 900).expect("sign");
        assert!(k.verify_access(&t, 1_000).is_err());
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let body = k.issue_access("alice", 0, 1_000, 900).expect("sign");
        let payload = body.split('.').nth(1).unwrap_or_default();
        let none = format!(
            "{}.{}.",
            b64.encode(r#"{"alg":"none","typ":"JWT"}"#),
            payload
        );
        assert!(k.verify_access(&none, 1_000).is_err());
        assert!(k.verify_access("", 1_000).is_err());
        assert!(k.verify_access("a.b.c", 1_000).is_err());
    }

    #[test]
    fn wrong_issuer_unknown_kid_and_other_algorithms_are_refused() {
        let seed = seed();
        let ours = Keys::from_seed(&seed, "sspr");
        let elsewhere = Keys::from_seed(&seed, "someone-else");
        let t = elsewhere
            .issue_access("alice", 0, 1_000, 900)
            .expect("sign");
        assert!(
            ours.verify_access(&t, 1_000).is_err(),
            "same key, other issuer"
        );
        // Our own key, but a kid we never published.
        let mut der = ED25519_PKCS8_PREFIX.to_vec();
        der.extend_from_slice(secrecy::ExposeSecret::expose_secret(&seed));
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some("not-our-kid".into());
        let claims = serde_json::json!({"iss": "sspr", "sub": "alice", "aud": ACCESS_AUDIENCE, "iat": 1_000, "nbf": 1_000, "exp": 1_900, "jti": "j", "ver": 0, "auth_time": 1_000});
        let t =
            jsonwebtoken::encode(&header, &claims, &EncodingKey::from_ed_der(&der)).expect("sign");
        assert!(ours.verify_access(&t, 1_000).is_err(), "unknown kid");
        // The right kid, the claims of a valid token: verifies; so the kid alone was the reason.
        header.kid = Some(ours.current_kid());
        let t =
            jsonwebtoken::encode(&header, &claims, &EncodingKey::from_ed_der(&der)).expect("sign");
        assert!(ours.verify_access(&t, 1_000).is_ok());
        // HS256 with the public key as the secret (key confusion).
        let mut hs = Header::new(Algorithm::HS256);
        hs.kid = Some(ours.current_kid());
        let t = jsonwebtoken::encode(
            &hs,
            &claims,
            &EncodingKey::from_secret(
                B64.encode(ours.ring.sets().current().verifying.to_bytes())
                    .as_bytes(),
            ),
        )
        .expect("sign");
        assert!(
            ours.verify_access(&t, 1_000).is_err(),
            "HS256 with the public key"
        );
        // Missing claims.
        let bare = serde_json::json!({"sub": "alice", "aud": ACCESS_AUDIENCE, "exp": 1_900});
        let t =
            jsonwebtoken::encode(&header, &bare, &EncodingKey::from_ed_der(&der)).expect("sign");
        assert!(ours.verify_access(&t, 1_000).is_err(), "no iss, no nbf");
    }

    #[test]
    fn jwks_verifies_issued_tokens() {
        let k = keys();
        let jwks: jsonwebtoken::jwk::JwkSet =
            serde_json::from_value(k.jwks()).expect("a JWKS document");
        let jwk = &jwks.keys[0];
        let key = DecodingKey::from_jwk(jwk).expect("usable key");
        let t = k
            .issue_access(
                "alice",
                0,
                jsonwebtoken::get_current_timestamp() as i64,
                900,
            )
            .expect("sign");
        let mut v = Validation::new(Algorithm::EdDSA);
        v.set_audience(&[ACCESS_AUDIENCE]);
        assert!(jsonwebtoken::decode::<AccessClaims>(&t, &key, &v).is_ok());
    }

    #[test]
    fn only_the_exact_compact_form_we_sign_is_accepted() {
        let k = keys();
        let t = k.issue_access("alice", 0, 1_000, 900).expect("sign");
        assert!(k.verify_access(&t, 1_000).is_ok());
        let parts: Vec<&str> = t.split('.').collect();
        let (h, p, sig) = (parts[0], parts[1], parts[2]);
        // A fourth part, padding, a truncated or lengthened signature.
        for bad in [
            format!("{t}."),
            format!("{h}.{p}.{sig}=="),
            format!("{h}.{p}.{}", &sig[..sig.len() - 4]),
            format!("{h}.{p}.{sig}AAAA"),
            format!("{h}=.{p}.{sig}"),
        ] {
            assert!(k.verify_access(&bad, 1_000).is_err(), "{bad}");
        }
        // A changed claim breaks the signature.
        let claims = String::from_utf8(B64.decode(p).expect("b64")).expect("utf-8");
        let forged = B64.encode(claims.replace("\"ver\":0", "\"ver\":1"));
        assert_ne!(forged, p);
        assert!(k
            .verify_access(&format!("{h}.{forged}.{sig}"), 1_000)
            .is_err());
        // The same signature with s + L, the group order (non-canonical, malleable): refused.
        let mut raw: [u8; 64] = B64.decode(sig).expect("b64").try_into().expect("64");
        const L: [u8; 32] = [
            0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9,
            0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
        ];
        let mut carry = 0u16;
        for i in 0..32 {
            let v = raw[32 + i] as u16 + L[i] as u16 + carry;
            raw[32 + i] = v as u8;
            carry = v >> 8;
        }
        assert!(k
            .verify_access(&format!("{h}.{p}.{}", B64.encode(raw)), 1_000)
            .is_err());
        // A header naming a critical extension we do not know.
        let crit = B64.encode(format!(
            r#"{{"alg":"EdDSA","typ":"JWT","kid":"{}","crit":["exp"]}}"#,
            k.current_kid()
        ));
        // Signed under the current key, as `issue` signs.
        let signed_with = |header: &str| {
            let signed = format!("{header}.{p}");
            let sig = B64.encode(
                k.ring
                    .sets()
                    .current()
                    .signing
                    .sign(signed.as_bytes())
                    .to_bytes(),
            );
            format!("{signed}.{sig}")
        };
        assert!(k.verify_access(&signed_with(&crit), 1_000).is_err());
        // The same header without `crit`, signed the same way, is fine.
        let plain = B64.encode(format!(r#"{{"alg":"EdDSA","kid":"{}"}}"#, k.current_kid()));
        assert!(k.verify_access(&signed_with(&plain), 1_000).is_ok());
    }
}
