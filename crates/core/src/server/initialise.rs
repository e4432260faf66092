//! First start and upgrades: built-in schema, domain, accounts, groups and access profiles.
//! Only missing built-ins are created, so reopening never resets an administrator's changes.

use super::QueryServer;
use super::read::QueryServerTransaction;
use super::write::QueryServerWriteTransaction;
use crate::be::meta;
use crate::builtins::{
    SYSTEM_VERSION, UUID_SYSTEM_INFO, builtin_accounts_and_groups, builtin_acps, builtin_schema, domain_info,
    system_config, system_info,
};
use crate::entry::Entry;
use crate::value::{Value, iname_problem};
use crate::{OperationError, Result};
use tracing::info;
use uuid::Uuid;

/// Version of the index key format. A database indexed by an older format is reindexed on
/// start.
pub const INDEX_VERSION: u32 = 1;

fn read_u32(bytes: Option<Vec<u8>>) -> u32 {
    bytes.and_then(|b| <[u8; 4]>::try_from(b.as_slice()).ok()).map(u32::from_be_bytes).unwrap_or(0)
}

fn new_token_key() -> String {
    format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple())
}

impl QueryServer {
    /// Creates the built-in content of a new database for `domain_name`, or brings an
    /// existing one up to date. Refuses a database that belongs to a different domain.
    pub fn initialise(&self, domain_name: &str) -> Result<()> {
        let mut w = self.write()?;
        w.initialise(domain_name)?;
        w.commit()
    }
}

impl QueryServerWriteTransaction<'_> {
    fn create_missing(&mut self, entries: Vec<Entry>) -> Result<usize> {
        let mut missing = Vec::new();
        for e in entries {
            let Some(u) = e.uuid() else { continue };
            if self.be().id_for_uuid(u)?.is_none() {
                missing.push(e);
            }
        }
        let n = missing.len();
        if n > 0 {
            self.internal_create(missing)?;
        }
        Ok(n)
    }

    /// Brings the server-owned parts of built-in classes (`systemmay`, `systemmust`) up to this
    /// binary's definitions. What administrators own (`may`, `must`) is left alone.
    fn update_builtin_classes(&mut self) -> Result<()> {
        let mut pairs = Vec::new();
        for def in builtin_schema().into_iter().filter(|e| e.has_class("classtype")) {
            let Some(u) = def.uuid() else { continue };
            let Some(stored) = self.be().entry_by_uuid(u)? else { continue };
            let mut updated = stored.entry.clone();
            for attr in ["systemmay", "systemmust"] {
                updated.set(attr, def.get(attr).cloned().unwrap_or_default());
            }
            if updated != stored.entry {
                info!("updating built-in class '{}'", def.first_str("classname").unwrap_or_default());
                pairs.push((stored, updated));
            }
        }
        if !pairs.is_empty() {
            self.modify_pairs(&crate::identity::Identity::internal(), pairs)?;
        }
        Ok(())
    }

    pub(crate) fn initialise(&mut self, domain_name: &str) -> Result<()> {
        let domain_name = domain_name.trim().to_lowercase();
        if let Some(p) = iname_problem(&domain_name) {
            return Err(OperationError::InvalidRequest(format!("domain name '{domain_name}' is invalid: it {p}")));
        }
        let fresh = self.be().raw().entry_count()? == 0;
        let stored_index_version = read_u32(self.be().raw().meta(meta::INDEX_VERSION)?);
        if fresh {
            // Build empty indexes first so every built-in is indexed as it is written.
            self.reindex(&mut ())?;
        } else if stored_index_version < INDEX_VERSION {
            info!(
                "the index format of this server ({INDEX_VERSION}) is newer than the database's ({stored_index_version}): reindexing"
            );
            self.reindex(&mut ())?;
        }
        let n = self.create_missing(builtin_schema())?;
        if n > 0 && !fresh {
            info!("added {n} built-in schema definitions; reindexing");
            self.reindex(&mut ())?;
        }
        self.update_builtin_classes()?;
        match self.domain_name() {
            None => {
                info!("initialising domain '{domain_name}'");
                self.create_missing(vec![domain_info(&domain_name, Uuid::new_v4(), new_token_key())])?;
            }
            Some(existing) if existing != domain_name => {
                return Err(OperationError::InvalidState(format!(
                    "the database belongs to domain '{existing}' but the configuration says '{domain_name}'; \
                     to rename the domain, stop the server and run `kanidmd domain_name_change`"
                )));
            }
            Some(_) => {}
        }
        self.create_missing(vec![system_info(), system_config()])?;
        self.create_missing(builtin_accounts_and_groups())?;
        self.create_missing(builtin_acps())?;
        if let Some(si) = self.be().entry_by_uuid(UUID_SYSTEM_INFO)? {
            let stored = match si.first("version") {
                Some(Value::Uint32(v)) => *v,
                _ => 0,
            };
            if stored < SYSTEM_VERSION {
                self.migrate_builtins(stored)?;
                let mut n = si.entry.clone();
                n.set_single("version", Value::Uint32(SYSTEM_VERSION));
                self.modify_pairs(&crate::identity::Identity::internal(), vec![(si, n)])?;
            }
        }
        Ok(())
    }

    /// Changes to built-ins that already exist, applied once per version step. Each step adds
    /// only what that version introduced, so administrators' own changes to built-ins survive.
    fn migrate_builtins(&mut self, from: u32) -> Result<()> {
        if from < 2 {
            // Version 2: the recycle bin shows the groups a revive will restore.
            self.add_to_builtin_acp(
                "idm_acp_recycle_bin",
                "acp_search_attr",
                Value::Iutf8("recycled_directmemberof".into()),
            )?;
        }
        Ok(())
    }

    fn add_to_builtin_acp(&mut self, acp_name: &str, attr: &str, value: Value) -> Result<()> {
        let Some(u) = builtin_acps().iter().find(|e| e.first_str("name") == Some(acp_name)).and_then(|e| e.uuid())
        else {
            return Ok(());
        };
        let Some(stored) = self.be().entry_by_uuid(u)? else { return Ok(()) };
        if stored.get(attr).is_some_and(|vs| vs.contains(&value)) {
            return Ok(());
        }
        info!("upgrading built-in '{acp_name}': adding {attr} value");
        let mut updated = stored.entry.clone();
        updated.add(attr, value);
        self.modify_pairs(&crate::identity::Identity::internal(), vec![(stored, updated)])?;
        Ok(())
    }
}
