//! Signing keys as stored data: each key object entry holds its keys as typed values with a
//! key id and a status. The cryptography that uses them lives in the identity layer; the
//! engine only stores them and never shows the private part.

use serde::{Deserialize, Serialize};
use std::fmt;
use time::OffsetDateTime;

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum KeyAlg {
    /// ECDSA over P-256 with SHA-256 (JWS `ES256`).
    Es256,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum KeyStatus {
    /// Signs new tokens, and verifies.
    Active,
    /// Replaced by a newer key: verifies the tokens it signed until `until`, then is removed.
    Retired {
        #[serde(with = "time::serde::rfc3339")]
        until: OffsetDateTime,
    },
    /// Verifies nothing.
    Revoked,
}

/// One key of a key object.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyRecord {
    pub kid: String,
    pub alg: KeyAlg,
    pub status: KeyStatus,
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
    /// The private key (PKCS#8 DER). Never shown, never logged.
    pub private: Vec<u8>,
}

impl KeyRecord {
    /// Whether tokens signed with this key are still accepted at `now`.
    pub fn verifies(&self, now: OffsetDateTime) -> bool {
        match self.status {
            KeyStatus::Active => true,
            KeyStatus::Retired { until } => now < until,
            KeyStatus::Revoked => false,
        }
    }
}

impl fmt::Debug for KeyRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyRecord({self})")
    }
}

impl fmt::Display for KeyRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = crate::value::format_datetime;
        let status = match &self.status {
            KeyStatus::Active => "active".to_string(),
            KeyStatus::Retired { until } => format!("retired, verifies until {}", t(until)),
            KeyStatus::Revoked => "revoked".to_string(),
        };
        write!(f, "{:?} {} {} created {}", self.alg, self.kid, status, t(&self.created))
    }
}
