//! Passwords set by people and administrators, checked against the password policy.

use super::read::QueryServerTransaction;
use super::write::QueryServerWriteTransaction;
use crate::builtins::UUID_SYSTEM_CONFIG;
use crate::credential::PasswordParams;
use crate::entry::Entry;
use crate::identity::Identity;
use crate::modify::{Modify, ModifyList};
use crate::value::{Credential, Value};
use crate::{OperationError, Result};

/// The shortest password accepted unless `system_config` says otherwise.
pub const DEFAULT_PASSWORD_MIN_LENGTH: u32 = 10;
/// Longer passwords are refused: hashing unbounded input is a denial-of-service lever.
pub const PASSWORD_MAX_LENGTH: usize = 256;

fn rejected(why: String) -> OperationError {
    OperationError::InvalidRequest(format!("password rejected: {why}"))
}

impl QueryServerWriteTransaction<'_> {
    /// Checks a new password for `account` against the policy; the error says why it fails.
    pub fn check_password_policy(&mut self, account: &Entry, password: &str) -> Result<()> {
        let config = self.entry_by_uuid(UUID_SYSTEM_CONFIG)?;
        let min = match config.as_ref().and_then(|c| c.first("password_min_length")) {
            Some(Value::Uint32(n)) => *n,
            _ => DEFAULT_PASSWORD_MIN_LENGTH,
        };
        let chars = password.chars().count();
        if chars < min as usize {
            return Err(rejected(format!("it has {chars} characters; at least {min} are required")));
        }
        if chars > PASSWORD_MAX_LENGTH {
            return Err(rejected(format!("it is longer than {PASSWORD_MAX_LENGTH} characters")));
        }
        let lower = password.to_lowercase();
        if config
            .as_ref()
            .is_some_and(|c| c.get("badlist_password").is_some_and(|b| b.contains(&Value::Iutf8(lower.clone()))))
        {
            return Err(rejected("it is on the list of common passwords that are refused".into()));
        }
        for attr in ["name", "displayname"] {
            if let Some(v) = account.first_str(attr)
                && v.chars().count() >= 3
                && lower.contains(&v.to_lowercase())
            {
                return Err(rejected(format!("it contains the account's {attr}")));
            }
        }
        Ok(())
    }

    /// Sets the password of the account named `target` on behalf of `ident`, who needs the
    /// right to change its credential (themselves, or an account manager).
    pub fn set_password(
        &mut self,
        ident: &Identity,
        target: &str,
        password: &str,
        params: &PasswordParams,
    ) -> Result<()> {
        self.guarded(|w| {
            let pf = idm_proto::Filter::And(vec![
                idm_proto::Filter::Eq("class".into(), "account".into()),
                name_filter(target),
            ]);
            let f = w.filter_from_proto(ident, &pf)?;
            let found = w.search(ident, &pf)?;
            let [account] = found.as_slice() else {
                return Err(if found.is_empty() {
                    OperationError::NoMatchingEntries
                } else {
                    OperationError::InvalidRequest(format!("'{target}' names several accounts"))
                });
            };
            let full = w.entry_by_uuid(account.uuid().unwrap_or_default())?.ok_or(OperationError::NoMatchingEntries)?;
            w.check_password_policy(&full, password)?;
            let cred = Value::Credential(Credential::from_password(password, params)?);
            let ml = ModifyList::new(vec![
                Modify::Purged("primary_credential".into()),
                Modify::Present("primary_credential".into(), cred),
            ]);
            w.modify_entries(ident, &f, &ml)?;
            Ok(())
        })
    }
}

/// Matches an entry by name, spn or uuid.
pub fn name_filter(id: &str) -> idm_proto::Filter {
    let mut terms = vec![idm_proto::Filter::Eq("name".into(), id.into())];
    if id.contains('@') {
        terms.push(idm_proto::Filter::Eq("spn".into(), id.into()));
    }
    if uuid::Uuid::parse_str(id).is_ok() {
        terms.push(idm_proto::Filter::Eq("uuid".into(), id.into()));
    }
    idm_proto::Filter::Or(terms)
}

fn token_hash(token: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(token.trim().as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

impl QueryServerWriteTransaction<'_> {
    /// Creates a one-time credential reset token for the account named `target`, valid for
    /// `ttl`, on behalf of `ident` (who needs the right to change that account's credential).
    /// Only a hash of the token is stored; a new token replaces an unused one.
    pub fn create_reset_token(&mut self, ident: &Identity, target: &str, ttl: std::time::Duration) -> Result<String> {
        let token = crate::credential::random_password(32)?;
        let expire = self.now() + ttl;
        self.guarded(|w| {
            let pf = idm_proto::Filter::And(vec![
                idm_proto::Filter::Eq("class".into(), "account".into()),
                name_filter(target),
            ]);
            let f = w.filter_from_proto(ident, &pf)?;
            let ml = ModifyList::new(vec![
                Modify::Purged("credential_reset_token".into()),
                Modify::Present("credential_reset_token".into(), Value::Utf8(token_hash(&token))),
                Modify::Purged("credential_reset_expire".into()),
                Modify::Present("credential_reset_expire".into(), Value::DateTime(expire)),
            ]);
            match w.modify_entries(ident, &f, &ml)? {
                1 => Ok(()),
                _ => Err(OperationError::InvalidRequest(format!("'{target}' names several accounts"))),
            }
        })?;
        Ok(token)
    }

    /// Sets a new password with a reset token, which then stops working. Returns the account's
    /// name.
    pub fn use_reset_token(&mut self, token: &str, password: &str, params: &PasswordParams) -> Result<String> {
        self.guarded(|w| {
            let invalid = || {
                OperationError::InvalidRequest("the reset token is not valid (it may have been used already)".into())
            };
            let f =
                super::read::exclude_deleted(crate::filter::Filter::eq("credential_reset_token", token_hash(token)));
            let mut found = w.internal_search(&f)?;
            let account = found.pop().filter(|_| found.is_empty()).ok_or_else(invalid)?;
            match account.first("credential_reset_expire") {
                Some(Value::DateTime(t)) if *t > w.now() => {}
                _ => {
                    return Err(OperationError::InvalidRequest(
                        "the reset token has expired; ask for a new one".into(),
                    ));
                }
            }
            w.check_password_policy(&account, password)?;
            let name = account.first_str("name").unwrap_or_default().to_string();
            let mut updated = account.entry.clone();
            updated.set_single("primary_credential", Value::Credential(Credential::from_password(password, params)?));
            updated.purge("credential_reset_token");
            updated.purge("credential_reset_expire");
            w.modify_pairs(&Identity::internal(), vec![(account, updated)])?;
            Ok(name)
        })
    }
}
