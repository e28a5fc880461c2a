//! sspr's one HMAC and SHA stack: ring's, the crate the TLS stack already
//! links, so a digest of ours adds no hash code of its own to a bootstrap.
//! Every SHA-256 and HMAC-SHA256 of sspr's own goes through here (the code
//! digests and recipient keys of `domain/code.rs`, the recovery code hashes,
//! the keyring's subkeys and key ids, the compromised filter's keys, the
//! event ids, the entity tags and asset names); the breach lookup's SHA-1
//! (`domain/password.rs`) and the authenticator's HMAC-SHA1
//! (`domain/totp.rs`) are ring's too. A value made of several parts is hashed
//! as their concatenation, exactly as one `update` after another would.

use ring::{digest, hmac};

/// The SHA-256 of the concatenation of `parts`.
pub fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut ctx = digest::Context::new(&digest::SHA256);
    for p in parts {
        ctx.update(p);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// The HMAC-SHA256 under `key` (of any length) of the concatenation of `parts`.
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    let mut ctx = hmac::Context::with_key(&key);
    for p in parts {
        ctx.update(p);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.sign().as_ref());
    out
}

/// The SHA-1 of `bytes`, for the one place a corpus of others keys on it (the
/// breach lookup); never a hash of sspr's own.
pub fn sha1_for_legacy_use(bytes: &[u8]) -> [u8; 20] {
    let mut out = [0u8; 20];
    out.copy_from_slice(digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, bytes).as_ref());
    out
}

/// `bytes` in lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_matches_the_fips_vectors_whole_and_in_parts() {
        // FIPS 180-2, appendix B.1 and the empty message.
        assert_eq!(
            hex(&sha256(&[b"abc"])),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(hex(&sha256(&[b"a", b"", b"bc"])), hex(&sha256(&[b"abc"])));
        assert_eq!(
            hex(&sha256(&[])),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn hmac_sha256_matches_rfc_4231_whole_and_in_parts() {
        // RFC 4231, test cases 1 and 2.
        assert_eq!(
            hex(&hmac_sha256(&[0x0b; 20], &[b"Hi There"])),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
        assert_eq!(
            hex(&hmac_sha256(
                b"Jefe",
                &[b"what do ya want ", b"for nothing?"]
            )),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // RFC 4231, test case 6: a key longer than the block is hashed first.
        assert_eq!(
            hex(&hmac_sha256(
                &[0xaa; 131],
                &[b"Test Using Larger Than Block-Size Key - Hash Key First"]
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn sha1_matches_the_fips_vector() {
        assert_eq!(
            hex(&sha1_for_legacy_use(b"abc")),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
    }
}
