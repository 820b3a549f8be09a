//! Secrets at rest: each value sealed with XChaCha20-Poly1305 under the operator's key, bound
//! to its tenant and name (the associated data), so a sealed value cannot be read without the
//! key nor moved to another tenant or name. `SecretKeys` is the seam a KMS can implement.

use std::fmt;

use chacha20poly1305::aead::{Aead, Generate, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};

/// The format byte in front of every sealed value.
const VERSION: u8 = 1;
const NONCE_LEN: usize = 24;
/// Largest secret value accepted.
pub const MAX_SECRET_BYTES: usize = 64 << 10;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VaultError {
    #[error("the secret key must be 64 hex characters (32 bytes); make one with `openssl rand -hex 32`")]
    BadKey,
    #[error("secret `{0}` does not open with this key: was it sealed under another BERTH_SECRET_KEY?")]
    Unreadable(String),
}

/// Seals and opens secret values; implemented by a local key now, a KMS later.
pub trait SecretKeys: Send + Sync + fmt::Debug {
    fn seal(&self, tenant: &str, name: &str, value: &[u8]) -> Vec<u8>;
    fn open(&self, tenant: &str, name: &str, sealed: &[u8]) -> Result<SecretValue, VaultError>;
}

/// A key the operator keeps in a file or the environment.
pub struct LocalKey {
    cipher: XChaCha20Poly1305,
}

impl fmt::Debug for LocalKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LocalKey(***)")
    }
}

impl LocalKey {
    /// From 64 hex characters (surrounding whitespace ignored).
    pub fn from_hex(text: &str) -> Result<LocalKey, VaultError> {
        let bytes = hex::decode(text.trim()).map_err(|_| VaultError::BadKey)?;
        let key = Key::try_from(&bytes[..]).map_err(|_| VaultError::BadKey)?;
        Ok(LocalKey { cipher: XChaCha20Poly1305::new(&key) })
    }

    /// A fresh random key, as hex.
    pub fn generate_hex() -> String {
        hex::encode(Key::generate())
    }
}

fn aad(tenant: &str, name: &str) -> Vec<u8> {
    format!("berth-secret\0{tenant}\0{name}").into_bytes()
}

impl SecretKeys for LocalKey {
    fn seal(&self, tenant: &str, name: &str, value: &[u8]) -> Vec<u8> {
        let nonce = XNonce::generate();
        let aad = aad(tenant, name);
        // Encryption with a valid key and nonce cannot fail for in-memory buffers.
        let sealed = self.cipher.encrypt(&nonce, Payload { msg: value, aad: &aad }).unwrap_or_default();
        let mut out = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    fn open(&self, tenant: &str, name: &str, sealed: &[u8]) -> Result<SecretValue, VaultError> {
        let unreadable = || VaultError::Unreadable(name.to_string());
        let (head, rest) = sealed.split_first().ok_or_else(unreadable)?;
        if *head != VERSION || rest.len() < NONCE_LEN {
            return Err(unreadable());
        }
        let (nonce, msg) = rest.split_at(NONCE_LEN);
        let nonce = XNonce::try_from(nonce).map_err(|_| unreadable())?;
        let aad = aad(tenant, name);
        self.cipher.decrypt(&nonce, Payload { msg, aad: &aad }).map(SecretValue).map_err(|_| unreadable())
    }
}

/// A secret's plain value: never printed (`Debug` shows `***`).
#[derive(Clone, PartialEq, Eq)]
pub struct SecretValue(pub Vec<u8>);

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretValue(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_their_key_tenant_and_name() {
        let key = LocalKey::from_hex(&LocalKey::generate_hex()).unwrap();
        let sealed = key.seal("acme", "db", b"hunter2");
        assert!(!sealed.windows(7).any(|w| w == b"hunter2"));
        assert_eq!(key.open("acme", "db", &sealed).unwrap().0, b"hunter2");
        assert!(key.open("other", "db", &sealed).is_err(), "bound to its tenant");
        assert!(key.open("acme", "db2", &sealed).is_err(), "bound to its name");
        let other = LocalKey::from_hex(&LocalKey::generate_hex()).unwrap();
        assert_eq!(other.open("acme", "db", &sealed), Err(VaultError::Unreadable("db".into())));
        assert_ne!(key.seal("acme", "db", b"x"), key.seal("acme", "db", b"x"), "a fresh nonce each time");
        assert_eq!(LocalKey::from_hex("abc").unwrap_err(), VaultError::BadKey);
        assert_eq!(format!("{:?}", SecretValue(b"hunter2".to_vec())), "SecretValue(***)");
    }
}
