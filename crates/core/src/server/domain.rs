//! Domain-wide operations: renaming the domain.

use super::read::QueryServerTransaction;
use super::write::QueryServerWriteTransaction;
use crate::builtins::UUID_DOMAIN_INFO;
use crate::filter::Filter;
use crate::identity::Identity;
use crate::value::{Value, iname_problem};
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
    /// The accounts holding them, by name.
    pub affected: Vec<String>,
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
        // Passkeys are bound to the domain (the WebAuthn relying party) they were enrolled for.
        let (mut passkeys, mut affected) = (0, Vec::new());
        for e in self.internal_search(&Filter::And(vec![Filter::eq("class", "account"), Filter::pres("passkeys")]))? {
            let n = e
                .get("passkeys")
                .into_iter()
                .flatten()
                .filter(|v| matches!(v, Value::Passkey(p) if p.rp_id == old_name))
                .count();
            if n > 0 {
                passkeys += n;
                affected.push(e.first_str("name").unwrap_or_default().to_string());
            }
        }
        affected.sort();
        Ok(RenamePlan { old_name, new_name, spns: spns.len() as usize, passkeys, affected })
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
}
