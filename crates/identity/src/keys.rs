//! The keys that sign session tokens: ES256 (P-256) key pairs stored as typed values on the
//! session key object, one active (signing) and any number retired (still verifying the
//! tokens they signed until those expire) or revoked.
//!
//! The decoded key set is cached and reloaded when a commit changes the key object, so a
//! rotation or revocation on any server takes effect on the next request.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use idm_core::builtins::UUID_KEY_SESSIONS;
use idm_core::entry::Entry;
use idm_core::identity::Identity;
use idm_core::keys::{KeyAlg, KeyRecord, KeyStatus};
use idm_core::proto::TokenForm;
use idm_core::server::{QueryServer, QueryServerTransaction, QueryServerWriteTransaction};
use idm_core::value::Value;
use idm_core::{OperationError, Result};
use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair, UnparsedPublicKey,
};
use serde::{Deserialize, Serialize};
use sha2::Digest;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use time::OffsetDateTime;
use tracing::info;

/// Tokens longer than this are refused before any parsing.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;
const KEYS: &str = "key_internal_data";

fn crypto(what: &str) -> OperationError {
    OperationError::InvalidState(format!("signing key: {what}"))
}

/// A new ES256 key, active from `now`.
pub fn generate(now: OffsetDateTime) -> Result<KeyRecord> {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
        .map_err(|_| crypto("cannot generate a key"))?;
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
        .map_err(|_| crypto("cannot read the generated key"))?;
    Ok(KeyRecord {
        kid: key_id(pair.public_key().as_ref()),
        alg: KeyAlg::Es256,
        status: KeyStatus::Active,
        created: now,
        private: pkcs8.as_ref().to_vec(),
    })
}

/// Twelve hex characters of SHA-256 over the public key (SEC1), as Kanidm names its keys.
fn key_id(public: &[u8]) -> String {
    sha2::Sha256::digest(public).iter().take(6).map(|b| format!("{b:02x}")).collect()
}

/// One decoded key.
struct Loaded {
    status: KeyStatus,
    public: Vec<u8>,
    /// The key pair, for the active key only.
    signer: Option<EcdsaKeyPair>,
}

/// The decoded keys of the key object at one generation.
pub struct KeySet {
    generation: u64,
    keys: HashMap<String, Loaded>,
    active: Option<String>,
}

impl KeySet {
    /// Decodes stored keys (as of `generation`).
    pub fn load(records: &[KeyRecord], generation: u64) -> Result<KeySet> {
        let rng = SystemRandom::new();
        let mut keys = HashMap::new();
        let mut active = None;
        for r in records {
            let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &r.private, &rng)
                .map_err(|_| crypto(&format!("key {} cannot be read", r.kid)))?;
            let is_active = r.status == KeyStatus::Active;
            if is_active {
                active = Some(r.kid.clone());
            }
            keys.insert(
                r.kid.clone(),
                Loaded {
                    status: r.status,
                    public: pair.public_key().as_ref().to_vec(),
                    signer: is_active.then_some(pair),
                },
            );
        }
        Ok(KeySet { generation, keys, active })
    }

    /// Whether tokens signed with `kid` are accepted at `now`.
    pub fn verifies(&self, kid: &str, now: OffsetDateTime) -> bool {
        self.keys.get(kid).is_some_and(|k| match k.status {
            KeyStatus::Active => true,
            KeyStatus::Retired { until } => now < until,
            KeyStatus::Revoked => false,
        })
    }

    /// The public key `kid` as a JWK (RFC 7517), while it still verifies: what clients fetch
    /// from `/v1/jwk/{kid}` to check tokens themselves.
    pub fn jwk(&self, kid: &str, now: OffsetDateTime) -> Option<serde_json::Value> {
        if !self.verifies(kid, now) {
            return None;
        }
        let public = &self.keys.get(kid)?.public;
        // SEC1 uncompressed: 0x04, then x and y, 32 bytes each.
        let (x, y) = (public.get(1..33)?, public.get(33..65)?);
        Some(serde_json::json!({
            "kty": "EC",
            "crv": "P-256",
            "x": URL_SAFE_NO_PAD.encode(x),
            "y": URL_SAFE_NO_PAD.encode(y),
            "alg": "ES256",
            "use": "sig",
            "kid": kid,
        }))
    }

    /// Signs `payload` as a compact JWS with the active key. The 2022 form also embeds the
    /// public key in the header, where Kanidm v1.1.0-alpha.8 clients verify with it; this
    /// server never does: it verifies by `kid` with its own keys.
    pub fn sign(&self, payload: &[u8], form: TokenForm) -> Result<String> {
        let kid = self.active.as_deref().ok_or_else(|| crypto("there is no active key"))?;
        let signer =
            self.keys.get(kid).and_then(|k| k.signer.as_ref()).ok_or_else(|| crypto("the active key is missing"))?;
        let (jwk, typ) = match form {
            TokenForm::Current => (None, None),
            TokenForm::Legacy2022 => (self.jwk(kid, OffsetDateTime::now_utc()), Some("JWT".to_string())),
        };
        let header = Header { alg: "ES256".into(), kid: Some(kid.into()), crit: None, jwk, typ };
        let header = serde_json::to_vec(&header).map_err(|e| OperationError::Serde(e.to_string()))?;
        let input = format!("{}.{}", URL_SAFE_NO_PAD.encode(header), URL_SAFE_NO_PAD.encode(payload));
        let sig = signer.sign(&SystemRandom::new(), input.as_bytes()).map_err(|_| crypto("signing failed"))?;
        Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref())))
    }

    /// Checks a compact JWS and returns its key id and payload. Refuses any other algorithm,
    /// unknown or no longer accepted keys, critical header extensions and oversized input.
    pub fn verify(&self, token: &str, now: OffsetDateTime) -> std::result::Result<(String, Vec<u8>), &'static str> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err("token is too long");
        }
        let mut parts = token.trim().split('.');
        let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return Err("malformed token");
        };
        let header: Header =
            URL_SAFE_NO_PAD.decode(h).ok().and_then(|b| serde_json::from_slice(&b).ok()).ok_or("malformed token")?;
        if header.alg != "ES256" || header.crit.is_some() {
            return Err("token uses an algorithm or extension this server does not accept");
        }
        let kid = header.kid.ok_or("token names no key")?;
        if !self.verifies(&kid, now) {
            return Err("token was signed by a key that is unknown, retired or revoked");
        }
        let key = self.keys.get(&kid).ok_or("token was signed by an unknown key")?;
        let sig = URL_SAFE_NO_PAD.decode(s).map_err(|_| "malformed token")?;
        let input_len = h.len() + 1 + p.len();
        let input = &token.trim()[..input_len];
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &key.public)
            .verify(input.as_bytes(), &sig)
            .map_err(|_| "token signature is not valid")?;
        let payload = URL_SAFE_NO_PAD.decode(p).map_err(|_| "malformed token")?;
        Ok((kid, payload))
    }
}

#[derive(Serialize, Deserialize)]
struct Header {
    alg: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    kid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    crit: Option<serde_json::Value>,
    /// Written for 2022 clients, never read: a key a token brings is no reason to trust it.
    #[serde(skip_serializing_if = "Option::is_none", skip_deserializing)]
    jwk: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none", skip_deserializing)]
    typ: Option<String>,
}

/// The session key object's keys, as stored.
pub fn records(e: &Entry) -> Vec<KeyRecord> {
    e.get(KEYS)
        .into_iter()
        .flatten()
        .filter_map(|v| match v {
            Value::Key(k) => Some((**k).clone()),
            _ => None,
        })
        .collect()
}

/// The cached key set, reloaded when the key object changes.
#[derive(Default)]
pub struct SigningKeys {
    set: RwLock<Option<Arc<KeySet>>>,
}

impl SigningKeys {
    /// The loaded key set if no commit has changed the key object since it was loaded.
    pub fn cached(&self, qs: &QueryServer) -> Option<Arc<KeySet>> {
        let set = self.set.read().unwrap_or_else(|p| p.into_inner()).clone()?;
        (set.generation >= qs.last_change([UUID_KEY_SESSIONS])).then_some(set)
    }

    /// The key set as of `txn`'s snapshot (or a newer one already loaded).
    pub fn current(&self, qs: &QueryServer, txn: &mut impl QueryServerTransaction) -> Result<Arc<KeySet>> {
        let changed = qs.last_change([UUID_KEY_SESSIONS]);
        if let Some(set) = self.set.read().unwrap_or_else(|p| p.into_inner()).as_ref()
            && set.generation >= changed
        {
            return Ok(set.clone());
        }
        let generation = txn.state().generation;
        let entry = txn
            .entry_by_uuid(UUID_KEY_SESSIONS)?
            .ok_or_else(|| OperationError::InvalidState("the session key object is missing".into()))?;
        let set = Arc::new(KeySet::load(&records(&entry), generation)?);
        *self.set.write().unwrap_or_else(|p| p.into_inner()) = Some(set.clone());
        Ok(set)
    }
}

/// Writes a changed key list back to the key object.
fn store(w: &mut QueryServerWriteTransaction<'_>, keys: Vec<KeyRecord>) -> Result<()> {
    let f = idm_core::filter::Filter::eq_uuid("uuid", UUID_KEY_SESSIONS);
    let ml = idm_core::modify::ModifyList::new(
        std::iter::once(idm_core::modify::Modify::Purged(KEYS.into()))
            .chain(keys.into_iter().map(|k| idm_core::modify::Modify::Present(KEYS.into(), Value::Key(Box::new(k)))))
            .collect(),
    );
    w.internal_modify(&f, &ml).map(drop)
}

fn stored(w: &mut QueryServerWriteTransaction<'_>) -> Result<Vec<KeyRecord>> {
    let e = w
        .entry_by_uuid(UUID_KEY_SESSIONS)?
        .ok_or_else(|| OperationError::InvalidState("the session key object is missing".into()))?;
    Ok(records(&e))
}

/// Creates the first key when there is no active one (a new database, or after an upgrade).
pub fn ensure_active(w: &mut QueryServerWriteTransaction<'_>) -> Result<bool> {
    let mut keys = stored(w)?;
    if keys.iter().any(|k| k.status == KeyStatus::Active) {
        return Ok(false);
    }
    let key = generate(w.now())?;
    info!(kid = %key.kid, "created the session signing key");
    keys.push(key);
    store(w, keys)?;
    Ok(true)
}

/// Makes a new key active; the previous one keeps verifying for `retire_for` (the longest a
/// session it signed can last), then is removed. Returns the new key id.
pub fn rotate(w: &mut QueryServerWriteTransaction<'_>, retire_for: std::time::Duration) -> Result<String> {
    let now = w.now();
    let mut keys = stored(w)?;
    for k in keys.iter_mut().filter(|k| k.status == KeyStatus::Active) {
        k.status = KeyStatus::Retired { until: now + retire_for };
    }
    let key = generate(now)?;
    let kid = key.kid.clone();
    keys.push(key);
    store(w, keys)?;
    info!(%kid, "rotated the session signing key");
    Ok(kid)
}

/// Stops a key verifying anything. The active key cannot be revoked: rotate first.
pub fn revoke(w: &mut QueryServerWriteTransaction<'_>, kid: &str) -> Result<()> {
    let mut keys = stored(w)?;
    let key = keys
        .iter_mut()
        .find(|k| k.kid == kid)
        .ok_or_else(|| OperationError::InvalidRequest(format!("there is no key '{kid}'")))?;
    match key.status {
        KeyStatus::Active => {
            return Err(OperationError::InvalidRequest(format!(
                "'{kid}' is the active key: rotate first (`kanidm system key rotate`), then revoke it"
            )));
        }
        KeyStatus::Revoked => return Ok(()),
        KeyStatus::Retired { .. } => key.status = KeyStatus::Revoked,
    }
    store(w, keys)?;
    info!(%kid, "revoked a session signing key");
    Ok(())
}

/// Removes retired keys whose tokens have all expired. Returns how many were removed.
pub fn purge_retired(w: &mut QueryServerWriteTransaction<'_>) -> Result<usize> {
    let now = w.now();
    let keys = stored(w)?;
    let before = keys.len();
    let kept: Vec<KeyRecord> =
        keys.into_iter().filter(|k| !matches!(k.status, KeyStatus::Retired { until } if until <= now)).collect();
    let removed = before - kept.len();
    if removed > 0 {
        store(w, kept)?;
    }
    Ok(removed)
}

/// What `kanidm system key list` shows: never the private part.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    pub kid: String,
    pub alg: String,
    pub status: String,
    pub created: String,
    /// Retired keys: when they stop verifying.
    pub verifies_until: Option<String>,
}

pub fn list(txn: &mut impl QueryServerTransaction, ident: &Identity) -> Result<Vec<KeyInfo>> {
    ident.require_right(idm_core::identity::ServerRight::SigningKeys)?;
    let e = txn
        .entry_by_uuid(UUID_KEY_SESSIONS)?
        .ok_or_else(|| OperationError::InvalidState("the session key object is missing".into()))?;
    let t = idm_core::value::format_datetime;
    Ok(records(&e)
        .into_iter()
        .map(|k| {
            let (status, until) = match k.status {
                KeyStatus::Active => ("active", None),
                KeyStatus::Retired { until } => ("retired", Some(t(&until))),
                KeyStatus::Revoked => ("revoked", None),
            };
            KeyInfo {
                kid: k.kid.clone(),
                alg: format!("{:?}", k.alg).to_uppercase(),
                status: status.into(),
                created: t(&k.created),
                verifies_until: until,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(records: &[KeyRecord]) -> KeySet {
        KeySet::load(records, 1).unwrap()
    }

    #[test]
    fn sign_verify_and_refuse() {
        let now = OffsetDateTime::now_utc();
        let key = generate(now).unwrap();
        assert_eq!(key.kid.len(), 12);
        let s = set(std::slice::from_ref(&key));
        let t = s.sign(b"{\"a\":1}", TokenForm::Current).unwrap();
        assert_eq!(s.verify(&t, now).unwrap(), (key.kid.clone(), b"{\"a\":1}".to_vec()));
        // Another key with the same kid claim: the signature fails.
        let mut other = generate(now).unwrap();
        other.kid = key.kid.clone();
        assert!(set(&[other]).verify(&t, now).is_err());
        // Tampered payload, other algorithms, unsigned tokens, garbage.
        let mut parts: Vec<&str> = t.split('.').collect();
        let forged_payload = URL_SAFE_NO_PAD.encode(b"{\"a\":2}");
        parts[1] = &forged_payload;
        assert!(s.verify(&parts.join("."), now).is_err());
        let none =
            format!("{}.{}.", URL_SAFE_NO_PAD.encode(br#"{"alg":"none","kid":"x"}"#), URL_SAFE_NO_PAD.encode(b"{}"));
        assert!(s.verify(&none, now).is_err());
        assert!(s.verify("garbage", now).is_err());
        assert!(s.verify(&"a".repeat(MAX_TOKEN_BYTES + 1), now).is_err());
        // Retired keys verify until their time, revoked ones never.
        let mut retired = key.clone();
        retired.status = KeyStatus::Retired { until: now + time::Duration::seconds(10) };
        let r = set(std::slice::from_ref(&retired));
        assert!(r.verify(&t, now).is_ok());
        assert!(r.verify(&t, now + time::Duration::seconds(11)).is_err());
        assert!(r.sign(b"x", TokenForm::Current).is_err(), "a retired key does not sign");
        retired.status = KeyStatus::Revoked;
        assert!(set(std::slice::from_ref(&retired)).verify(&t, now).is_err());
        assert!(set(&[retired]).jwk(&key.kid, now).is_none(), "a revoked key is not published");
        // The published key verifies the token: x and y are the key's coordinates.
        let jwk = s.jwk(&key.kid, now).unwrap();
        let coord = |c: &str| URL_SAFE_NO_PAD.decode(jwk[c].as_str().unwrap()).unwrap();
        let mut sec1 = vec![4u8];
        sec1.extend(coord("x"));
        sec1.extend(coord("y"));
        let (input, sig) = t.rsplit_once('.').unwrap();
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &sec1)
            .verify(input.as_bytes(), &URL_SAFE_NO_PAD.decode(sig).unwrap())
            .unwrap();
        assert_eq!(
            (jwk["kty"].as_str(), jwk["crv"].as_str(), jwk["kid"].as_str()),
            (Some("EC"), Some("P-256"), Some(key.kid.as_str()))
        );
    }
}
