//! The stored forms of credential reset tokens and of second factors (TOTP authenticators,
//! backup codes). Passwords and these are parts of [`crate::value::Credential`] values;
//! generating, hashing and checking them is the identity layer's.

use serde::{Deserialize, Serialize};

/// The longest password accepted, in characters; so no policy may ask for more.
pub const MAX_PASSWORD_CHARS: u32 = 256;
use time::OffsetDateTime;
use uuid::Uuid;

/// A pending credential reset token, stored on the account it resets. Only a hash of the token
/// is kept; the token itself was shown once, to the administrator who asked for it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IntentToken {
    /// SHA-256 of the token, hex.
    pub hash: String,
    #[serde(with = "time::serde::rfc3339")]
    pub issued_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expiry: OffsetDateTime,
    pub issued_by: Uuid,
    /// A fingerprint of the account's group memberships at issue: a token is not redeemed for
    /// an account whose privileges changed since.
    pub memberships: String,
}

impl std::fmt::Display for IntentToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let t = crate::value::format_datetime;
        write!(
            f,
            "pending reset token issued {} by {}, expires {}",
            t(&self.issued_at),
            self.issued_by,
            t(&self.expiry)
        )
    }
}

/// The weakest kind of credential an account policy accepts (Kanidm's
/// `credential_type_minimum`); the strictest of an account's policies applies.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "lowercase")]
pub enum CredentialType {
    /// A password alone will do.
    Any,
    /// A password with a second factor (TOTP or a backup code).
    Mfa,
    /// A passkey.
    Passkey,
}

impl CredentialType {
    pub const ALL: [CredentialType; 3] = [CredentialType::Any, CredentialType::Mfa, CredentialType::Passkey];

    pub fn name(self) -> &'static str {
        match self {
            CredentialType::Any => "any",
            CredentialType::Mfa => "mfa",
            CredentialType::Passkey => "passkey",
        }
    }

    pub fn from_name(s: &str) -> Option<CredentialType> {
        CredentialType::ALL.into_iter().find(|c| c.name() == s)
    }
}

/// A passkey enrolled on an account. The WebAuthn credential (public key, id, counter) is
/// kept as the identity layer's JSON, so the engine needs no WebAuthn library; `Debug` leaves
/// it out.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PasskeyRecord {
    pub uuid: Uuid,
    pub label: String,
    /// The relying party (the domain) it was enrolled for: after a domain rename it no longer
    /// signs in, and says so.
    pub rp_id: String,
    /// Unix seconds.
    pub created: i64,
    #[serde(default)]
    pub last_used: Option<i64>,
    pub credential: String,
    /// SHA-256 of the WebAuthn credential id, hex: its equality key, so no two accounts can
    /// hold the same credential (a login resolves to one account only).
    #[serde(default)]
    pub credential_id_hash: String,
}

impl PasskeyRecord {
    /// The record apart from its use (signature counter, last use).
    pub fn without_usage(&self) -> (Uuid, &str, &str, i64) {
        (self.uuid, &self.label, &self.rp_id, self.created)
    }
}

impl std::fmt::Debug for PasskeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasskeyRecord")
            .field("uuid", &self.uuid)
            .field("label", &self.label)
            .field("rp_id", &self.rp_id)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Display for PasskeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "passkey '{}' ({}) for {}", self.label, self.uuid, self.rp_id)
    }
}

/// The hash a TOTP uses (RFC 6238). Authenticator apps implement SHA-1 only, reliably.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TotpAlgo {
    Sha1,
    Sha256,
    Sha512,
}

/// A TOTP authenticator enrolled on an account. Its `Debug` leaves the secret out.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Totp {
    pub secret: Vec<u8>,
    pub algo: TotpAlgo,
    /// Seconds per code.
    pub step: u64,
    pub digits: u8,
    /// Unix seconds.
    pub created: i64,
    /// The time step of the last code accepted: that code and earlier ones are refused, so a
    /// code works once.
    #[serde(default)]
    pub last_step: u64,
    /// Unix seconds of the last sign-in with it.
    #[serde(default)]
    pub last_used: Option<i64>,
}

impl std::fmt::Debug for Totp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Totp")
            .field("algo", &self.algo)
            .field("step", &self.step)
            .field("digits", &self.digits)
            .field("created", &self.created)
            .field("last_step", &self.last_step)
            .finish_non_exhaustive()
    }
}

/// Single-use backup codes: SHA-256 of the batch's salt and each normalised code, hex. A used
/// code is removed. Its `Debug` shows how many are left, not their hashes.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BackupCodes {
    pub codes: std::collections::BTreeSet<String>,
    /// Unix seconds.
    pub created: i64,
    /// Random, per batch (hex), so one hash search cannot cover every account's codes.
    #[serde(default)]
    pub salt: String,
}

impl std::fmt::Debug for BackupCodes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackupCodes").field("left", &self.codes.len()).field("created", &self.created).finish()
    }
}
