//! Sessions recorded on accounts: what a login (or, later, an API token or an OAuth2 grant)
//! created, so it can be listed, revoked and checked on every request.

use serde::{Deserialize, Serialize};
use std::fmt;
use time::OffsetDateTime;
use uuid::Uuid;

/// How the holder of a session authenticated.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "lowercase")]
pub enum AuthMech {
    Anonymous,
    Password,
    /// A password the server generated (`recover_account`): given to bootstrap an account.
    GeneratedPassword,
    /// A service account's API token, issued by an administrator.
    ApiToken,
    /// A TOTP code, then the password.
    PasswordMfa,
    /// A backup code (standing in for a TOTP), then the password.
    PasswordBackupCode,
    /// A passkey (WebAuthn, user verified).
    Passkey,
}

impl AuthMech {
    pub fn name(self) -> &'static str {
        match self {
            AuthMech::Anonymous => "anonymous",
            AuthMech::Password => "password",
            AuthMech::GeneratedPassword => "generatedpassword",
            AuthMech::ApiToken => "apitoken",
            AuthMech::PasswordMfa => "passwordmfa",
            AuthMech::PasswordBackupCode => "passwordbackupcode",
            AuthMech::Passkey => "passkey",
        }
    }
}

impl fmt::Display for AuthMech {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a session may ever do, whatever its tokens say.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "snake_case")]
pub enum SessionScope {
    /// Reads only, for its whole life.
    ReadOnly,
    /// Reads, and writes within a privilege window opened by re-authenticating.
    PrivilegeCapable,
    /// Reads and writes for its whole life (an API token issued read-write).
    ReadWrite,
}

impl SessionScope {
    pub fn name(self) -> &'static str {
        match self {
            SessionScope::ReadOnly => "read_only",
            SessionScope::PrivilegeCapable => "privilege_capable",
            SessionScope::ReadWrite => "read_write",
        }
    }
}

/// One session of an account, stored as a typed value of `user_auth_session`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Session {
    pub id: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub issued_at: OffsetDateTime,
    /// `None`: until revoked.
    #[serde(with = "crate::value::opt_rfc3339")]
    pub expiry: Option<OffsetDateTime>,
    pub mech: AuthMech,
    pub scope: SessionScope,
    /// Who created it: the account itself for a login.
    pub issued_by: Uuid,
    /// The client address it was created from, when known.
    pub client: Option<String>,
    /// What it is for (an API token's label).
    #[serde(default)]
    pub label: Option<String>,
}

impl Session {
    pub fn expired(&self, now: OffsetDateTime) -> bool {
        self.expiry.is_some_and(|e| e <= now)
    }
}

impl fmt::Display for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = crate::value::format_datetime;
        write!(
            f,
            "{} issued {} expires {} mech {} scope {} by {}",
            self.id,
            t(&self.issued_at),
            self.expiry.as_ref().map(t).unwrap_or_else(|| "never".into()),
            self.mech,
            self.scope.name(),
            self.issued_by
        )?;
        if let Some(c) = &self.client {
            write!(f, " from {c}")?;
        }
        if let Some(l) = &self.label {
            write!(f, " label {l}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_round_trip_in_storage() {
        let s = Session {
            id: Uuid::new_v4(),
            issued_at: OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap(),
            expiry: Some(OffsetDateTime::from_unix_timestamp(1_700_086_400).unwrap()),
            mech: AuthMech::Password,
            scope: SessionScope::PrivilegeCapable,
            issued_by: Uuid::new_v4(),
            client: Some("127.0.0.1".into()),
            label: None,
        };
        let v = vec![crate::value::Value::Session(Box::new(s))];
        let bin = postcard::to_allocvec(&v).unwrap();
        assert_eq!(postcard::from_bytes::<Vec<crate::value::Value>>(&bin).unwrap(), v);
    }
}
