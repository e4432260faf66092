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
