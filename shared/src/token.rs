//! JWTs: reset tokens (audience `sspr-reset`), access tokens (audience
//! `sspr-access`, carrying the user's token version) and the JWKS document.
//!
//! Both are EdDSA (Ed25519). Only `EdDSA` is accepted on the way in, so `alg:
//! none` and HMAC-with-the-public-key forgeries fail at the header. Expiry is
//! checked against the `now` the caller passes, not the system clock.

use base64::Engine as _;
use ed25519_dalek::SigningKey;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretBox};
use serde::{Deserialize, Serialize};
use sha2::Digest as _;

pub const RESET_AUDIENCE: &str = "sspr-reset";
pub const ACCESS_AUDIENCE: &str = "sspr-access";

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

/// The signing key and what verifies it.
pub struct Keys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    kid: String,
    public_x: String,
    issuer: String,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys").field("kid", &self.kid).finish()
    }
}

/// PKCS#8 v1 header for an Ed25519 private key, followed by the 32-byte seed.
const ED25519_PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

impl Keys {
    pub fn from_seed(seed: &SecretBox<[u8; 32]>, issuer: &str) -> Self {
        let signing = SigningKey::from_bytes(seed.expose_secret());
        let public = signing.verifying_key().to_bytes();
        let mut der = ED25519_PKCS8_PREFIX.to_vec();
        der.extend_from_slice(seed.expose_secret());
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        // The key id is a digest of the public key, so it changes when the key does.
        let kid = b64.encode(&sha2::Sha256::digest(public)[..12]);
        Self {
            encoding: EncodingKey::from_ed_der(&der),
            decoding: DecodingKey::from_ed_der(&public),
            kid,
            public_x: b64.encode(public),
            issuer: issuer.to_owned(),
        }
    }

    fn sign<T: Serialize>(&self, claims: &T) -> Result<String, TokenError> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        header.typ = Some("JWT".into());
        jsonwebtoken::encode(&header, claims, &self.encoding).map_err(|_| TokenError::Signing)
    }

    fn decode<T: for<'de> Deserialize<'de>>(
        &self,
        token: &str,
        audience: &str,
    ) -> Result<T, TokenError> {
        if token.len() > 4096 {
            return Err(TokenError::Invalid);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Invalid)?;
        if header.alg != Algorithm::EdDSA || header.kid.as_deref() != Some(self.kid.as_str()) {
            return Err(TokenError::Invalid);
        }
        let mut v = Validation::new(Algorithm::EdDSA);
        v.set_audience(&[audience]);
        v.set_issuer(&[self.issuer.as_str()]);
        v.set_required_spec_claims(&["exp", "nbf", "aud", "iss", "sub"]);
        // Time is checked below against the caller's `now`.
        v.validate_exp = false;
        v.validate_nbf = false;
        jsonwebtoken::decode::<T>(token, &self.decoding, &v)
            .map(|d| d.claims)
            .map_err(|_| TokenError::Invalid)
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
        })
    }

    pub fn verify_access(&self, token: &str, now: i64) -> Result<AccessClaims, TokenError> {
        let c: AccessClaims = self.decode(token, ACCESS_AUDIENCE)?;
        Self::check_time(now, c.nbf, c.exp)?;
        Ok(c)
    }

    /// The JWKS document: the public key that verifies access tokens.
    pub fn jwks(&self) -> serde_json::Value {
        serde_json::json!({
            "keys": [{
                "kty": "OKP",
                "crv": "Ed25519",
                "alg": "EdDSA",
                "use": "sig",
                "kid": self.kid,
                "x": self.public_x,
            }]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secrets;

    fn keys() -> Keys {
        Keys::from_seed(&Secrets::throwaway().signing_seed, "sspr")
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
        assert!(k.verify_access(&reset, 1_000).is_err());
        assert!(k.verify_reset(&access, 1_000).is_err());
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
        let secrets = Secrets::throwaway();
        let ours = Keys::from_seed(&secrets.signing_seed, "sspr");
        let elsewhere = Keys::from_seed(&secrets.signing_seed, "someone-else");
        let t = elsewhere
            .issue_access("alice", 0, 1_000, 900)
            .expect("sign");
        assert!(
            ours.verify_access(&t, 1_000).is_err(),
            "same key, other issuer"
        );
        // Our own key, but a kid we never published.
        let mut der = ED25519_PKCS8_PREFIX.to_vec();
        der.extend_from_slice(secrecy::ExposeSecret::expose_secret(&secrets.signing_seed));
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some("not-our-kid".into());
        let claims = serde_json::json!({"iss": "sspr", "sub": "alice", "aud": ACCESS_AUDIENCE, "iat": 1_000, "nbf": 1_000, "exp": 1_900, "jti": "j", "ver": 0});
        let t =
            jsonwebtoken::encode(&header, &claims, &EncodingKey::from_ed_der(&der)).expect("sign");
        assert!(ours.verify_access(&t, 1_000).is_err(), "unknown kid");
        // The right kid, the claims of a valid token: verifies; so the kid alone was the reason.
        header.kid = Some(ours.kid.clone());
        let t =
            jsonwebtoken::encode(&header, &claims, &EncodingKey::from_ed_der(&der)).expect("sign");
        assert!(ours.verify_access(&t, 1_000).is_ok());
        // HS256 with the public key as the secret (key confusion).
        let mut hs = Header::new(Algorithm::HS256);
        hs.kid = Some(ours.kid.clone());
        let t = jsonwebtoken::encode(
            &hs,
            &claims,
            &EncodingKey::from_secret(ours.public_x.as_bytes()),
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
}
