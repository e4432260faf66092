//! Domain-wide operations: renaming the domain and recovering accounts.

use super::read::QueryServerTransaction;
use super::write::QueryServerWriteTransaction;
use crate::builtins::UUID_DOMAIN_INFO;
use crate::credential::PasswordParams;
use crate::filter::Filter;
use crate::identity::Identity;
use crate::value::{Credential, Value, iname_problem};
use crate::{OperationError, Result};

/// What a domain rename will change, shown to the operator before it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenamePlan {
    pub old_name: String,
    pub new_name: String,
    /// Accounts and groups whose spn is regenerated.
    pub spns: usize,
    /// Passkey (WebAuthn) credentials bound to the old name, which stop working.
    pub passkeys: usize,
}

impl QueryServerWriteTransaction<'_> {
    /// Describes a rename to `new_name` without changing anything.
    pub fn plan_domain_rename(&mut self, new_name: &str) -> Result<RenamePlan> {
        let new_name = new_name.trim().to_lowercase();
        if let Some(p) = iname_problem(&new_name) {
            return Err(OperationError::InvalidRequest(format!("domain name '{new_name}' is invalid: it {p}")));
        }
        let old_name = self
            .domain_name()
            .ok_or_else(|| OperationError::InvalidState("the database has no domain entry".into()))?;
        let spns = self.search_ids(&Filter::Or(vec![Filter::eq("class", "account"), Filter::eq("class", "group")]))?;
        // No credential type bound to the domain name exists yet, so none can break.
        Ok(RenamePlan { old_name, new_name, spns: spns.len() as usize, passkeys: 0 })
    }

    /// Renames the domain, regenerating every spn and its index entries, in this transaction.
    pub fn rename_domain(&mut self, new_name: &str) -> Result<()> {
        let new_name = new_name.trim().to_lowercase();
        self.guarded(|w| {
            let domain = w
                .entry_by_uuid(UUID_DOMAIN_INFO)?
                .ok_or_else(|| OperationError::InvalidState("the database has no domain entry".into()))?;
            let mut renamed = domain.entry.clone();
            renamed.set_single("domain_name", Value::Iname(new_name));
            w.modify_pairs(&Identity::internal(), vec![(domain, renamed)])?;
            Ok(())
        })
    }

    /// Sets a new password on the account named `name` (name, spn or uuid).
    pub fn set_account_password(&mut self, name: &str, password: &str, params: &PasswordParams) -> Result<()> {
        self.guarded(|w| {
            let uuid = match uuid::Uuid::parse_str(name) {
                Ok(u) => Some(u),
                Err(_) => w.resolve_name(name)?,
            };
            let target = match uuid {
                Some(u) => w.entry_by_uuid(u)?,
                None => None,
            }
            .filter(|e| e.has_class("account"))
            .ok_or_else(|| OperationError::InvalidRequest(format!("no account named '{name}'")))?;
            let mut updated = target.entry.clone();
            updated.set_single("primary_credential", Value::Credential(Credential::from_password(password, params)?));
            w.modify_pairs(&Identity::internal(), vec![(target, updated)])?;
            Ok(())
        })
    }
}

/// Whether `account` holds the login session `session` (not revoked).
pub fn session_active(account: &crate::entry::Entry, session: uuid::Uuid) -> bool {
    let id = session.to_string();
    account
        .get("user_auth_session")
        .into_iter()
        .flatten()
        .any(|v| v.as_str().is_some_and(|s| s.split(' ').next() == Some(&id)))
}

impl QueryServerWriteTransaction<'_> {
    /// Records a login session on the account (dropping expired ones), so it can be listed and
    /// revoked.
    pub fn add_auth_session(
        &mut self,
        account: uuid::Uuid,
        session: uuid::Uuid,
        exp: i64,
        mech: &str,
        now: i64,
    ) -> Result<()> {
        self.guarded(|w| {
            let e =
                w.entry_by_uuid(account)?.ok_or_else(|| OperationError::InvalidRequest("no such account".into()))?;
            let mut n = e.entry.clone();
            let keep: crate::entry::ValueSet = n
                .get("user_auth_session")
                .into_iter()
                .flatten()
                .filter(|v| {
                    v.as_str()
                        .and_then(|s| s.split(' ').nth(1))
                        .and_then(|x| x.parse::<i64>().ok())
                        .is_some_and(|x| x > now)
                })
                .cloned()
                .collect();
            n.set("user_auth_session", keep);
            n.add("user_auth_session", Value::Utf8(format!("{session} {exp} {mech}")));
            w.modify_pairs(&Identity::internal(), vec![(e, n)])?;
            Ok(())
        })
    }

    /// Revokes one session of an account. Returns whether it existed.
    pub fn revoke_auth_session(&mut self, account: uuid::Uuid, session: uuid::Uuid) -> Result<bool> {
        self.guarded(|w| {
            let Some(e) = w.entry_by_uuid(account)? else { return Ok(false) };
            if !session_active(&e, session) {
                return Ok(false);
            }
            let id = session.to_string();
            let mut n = e.entry.clone();
            let keep: crate::entry::ValueSet = n
                .get("user_auth_session")
                .into_iter()
                .flatten()
                .filter(|v| v.as_str().and_then(|s| s.split(' ').next()) != Some(id.as_str()))
                .cloned()
                .collect();
            n.set("user_auth_session", keep);
            w.modify_pairs(&Identity::internal(), vec![(e, n)])?;
            Ok(true)
        })
    }
}
