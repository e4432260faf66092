//! The stored form of credential reset tokens. (Password hashes are [`crate::value::Credential`]
//! values; hashing and checking them is the identity layer's.)

use serde::{Deserialize, Serialize};
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
