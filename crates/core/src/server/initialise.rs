//! First start and upgrades: built-in schema, domain, accounts, groups and access profiles.
//! Only missing built-ins are created, so reopening never resets an administrator's changes.

use super::QueryServer;
use super::read::QueryServerTransaction;
use super::write::QueryServerWriteTransaction;
use crate::be::meta;
use crate::builtins::{
    LIMIT_ATTRIBUTES, SYSTEM_VERSION, UUID_SYSTEM_INFO, builtin_accounts_and_groups, builtin_acps, builtin_schema,
    domain_info, group_grants, session_keys, system_config, system_info,
};
use crate::entry::Entry;
use crate::filter::Filter;
use crate::identity::Identity;
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
        let stored_version = match self.be().entry_by_uuid(UUID_SYSTEM_INFO)? {
            Some(si) => match si.first("version") {
                Some(Value::Uint32(v)) => *v,
                _ => 0,
            },
            None => SYSTEM_VERSION,
        };
        if stored_version < 3 {
            self.drop_obsolete_values()?;
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
                self.create_missing(vec![domain_info(&domain_name, Uuid::new_v4())])?;
            }
            Some(existing) if existing != domain_name => {
                return Err(OperationError::InvalidState(format!(
                    "the database belongs to domain '{existing}' but the configuration says '{domain_name}'; \
                     to rename the domain, stop the server and run `kanidmd domain_name_change`"
                )));
            }
            Some(_) => {}
        }
        self.create_missing(vec![system_info(), system_config(), session_keys()])?;
        self.create_missing(builtin_accounts_and_groups())?;
        self.create_missing(builtin_acps())?;
        if stored_version < SYSTEM_VERSION {
            self.migrate_builtins(stored_version)?;
            if let Some(si) = self.be().entry_by_uuid(UUID_SYSTEM_INFO)? {
                let mut n = si.entry.clone();
                n.set_single("version", Value::Uint32(SYSTEM_VERSION));
                self.modify_pairs(&Identity::internal(), vec![(si, n)])?;
            }
        }
        Ok(())
    }

    /// Version 3 replaced text sessions, the shared token key and the two reset-token
    /// attributes with typed values. The old values are dropped before the built-in classes
    /// stop allowing them (their tokens were signed with a key that no longer exists, so no
    /// session or reset token survives the upgrade: people log in again).
    fn drop_obsolete_values(&mut self) -> Result<()> {
        let schema = self.schema();
        for attr in OBSOLETE_IN_3.iter().chain(["user_auth_session"].iter()) {
            if schema.attribute(attr).is_none() {
                continue;
            }
            let holders = self.internal_search(&Filter::pres(attr))?;
            if holders.is_empty() {
                continue;
            }
            info!("upgrading: dropping {} old '{attr}' values", holders.len());
            let pairs = holders
                .into_iter()
                .map(|h| {
                    let mut n = h.entry.clone();
                    n.purge(attr);
                    (h, n)
                })
                .collect();
            self.modify_pairs(&Identity::internal(), pairs)?;
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
        if from < 3 {
            self.migrate_to_3()?;
        }
        if from < 4 {
            // Version 4: entry managers. The built-in profiles that read, write or create
            // accounts and groups gain `entry_managed_by`, and the profile managers may make
            // entry-manager profiles; the two entry-manager profiles are created as missing.
            self.add_new_names_to_builtin_acps(&["entry_managed_by", "access_control_receiver_entry_manager"])?;
        }
        if from < 5 {
            // Version 5: account policy bounds credentials too; the profiles that read and
            // set policy attributes gain them.
            self.add_new_names_to_builtin_acps(&["credential_type_minimum", "password_min_length"])?;
        }
        if from < 6 {
            // Version 6: passkeys; those who read an account's password state read its
            // passkeys' labels too.
            self.add_new_names_to_builtin_acps(&["passkeys"])?;
        }
        if from < 7 {
            // Version 7: who an account policy binds is the system administrators' to change;
            // lower administrators' and managers' group profiles no longer reach policy groups.
            use crate::builtins::acp::{GROUP_NON_HP, GROUP_NON_HP_NON_POLICY, RETARGETED_IN_7, filter};
            for name in RETARGETED_IN_7 {
                self.retarget_builtin_acp(name, &filter(GROUP_NON_HP), filter(GROUP_NON_HP_NON_POLICY))?;
            }
            for attr in ["acp_modify_presentattr", "acp_modify_removedattr"] {
                self.add_to_builtin_acp("idm_acp_policy_manage", attr, Value::Iutf8("member".into()))?;
            }
        }
        if from < 8 {
            // Version 8: OAuth2 clients. Their administrators' group (created as missing) is
            // high privilege, like every built-in administrator group.
            self.add_high_privilege_member(crate::builtins::uuid_suffix(0x0043))?;
        }
        if from < 9 {
            // Version 9: OAuth2 scope, supplementary scope and claim maps, which the client
            // administrators' profile (created in version 8) reads, writes and creates.
            self.add_new_names_to_builtin_acps(&[
                "oauth2_rs_scope_map",
                "oauth2_rs_sup_scope_map",
                "oauth2_rs_claim_map",
            ])?;
        }
        Ok(())
    }

    /// Makes `member` a member of `idm_high_privilege` (built-in groups added by an upgrade).
    fn add_high_privilege_member(&mut self, member: Uuid) -> Result<()> {
        let Some(hp) = self.be().entry_by_uuid(crate::builtins::UUID_IDM_HIGH_PRIVILEGE)? else { return Ok(()) };
        let mut n = hp.entry.clone();
        if n.add("member", Value::Refer(member)) {
            self.modify_pairs(&Identity::internal(), vec![(hp, n)])?;
        }
        Ok(())
    }

    /// Gives the stored built-in profiles the values naming `added` (attributes or classes) that
    /// today's built-in profiles hold, leaving every other value as an administrator left it.
    fn add_new_names_to_builtin_acps(&mut self, added: &[&str]) -> Result<()> {
        const LISTS: [&str; 6] = [
            "acp_search_attr",
            "acp_modify_presentattr",
            "acp_modify_removedattr",
            "acp_modify_class",
            "acp_create_class",
            "acp_create_attr",
        ];
        for fresh in builtin_acps() {
            let Some(name) = fresh.first_str("name") else { continue };
            for attr in LISTS {
                for v in fresh.get(attr).into_iter().flatten() {
                    if v.as_str().is_some_and(|s| added.contains(&s)) {
                        self.add_to_builtin_acp(name, attr, v.clone())?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Version 3: typed sessions, key objects, reset tokens as typed values, and limits and
    /// server rights as data on the administrator groups.
    fn migrate_to_3(&mut self) -> Result<()> {
        // The session attribute keeps its name and takes the typed syntax; its old values are
        // gone (drop_obsolete_values).
        let schema_entries = builtin_schema();
        let session_def = schema_entries
            .iter()
            .find(|e| e.first_str("attributename") == Some("user_auth_session"))
            .and_then(|e| e.uuid());
        if let Some(u) = session_def
            && let Some(stored) = self.be().entry_by_uuid(u)?
        {
            let mut n = stored.entry.clone();
            n.set_single("syntax", Value::Syntax(crate::value::SyntaxType::Session));
            n.set_single("description", Value::Utf8("Sessions of an account.".into()));
            if n != stored.entry {
                self.modify_pairs(&Identity::internal(), vec![(stored, n)])?;
            }
        }
        // Definitions nothing may use any more.
        let f = Filter::Or(OBSOLETE_IN_3.iter().map(|a| Filter::eq("attributename", *a)).collect());
        let gone = self.internal_search(&Filter::And(vec![Filter::eq("class", "attributetype"), f]))?;
        if !gone.is_empty() {
            self.remove_entries(&Identity::internal(), gone)?;
        }
        let public: Vec<&str> = LIMIT_ATTRIBUTES.iter().chain(&POLICY_READS_3).copied().collect();
        for (acp, values) in [
            ("idm_acp_all_read", public.as_slice()),
            ("idm_acp_self_read", ACCOUNT_READS_3),
            ("idm_acp_people_read", ACCOUNT_READS_3),
            ("idm_acp_account_read", ACCOUNT_READS_3),
            ("idm_acp_hp_account_read", ACCOUNT_READS_3),
        ] {
            for v in values {
                self.add_to_builtin_acp(acp, "acp_search_attr", Value::Iutf8(v.to_string()))?;
            }
        }
        for acp in ["idm_acp_people_write", "idm_acp_account_write", "idm_acp_hp_account_write"] {
            for attr in ["acp_modify_presentattr", "acp_modify_removedattr"] {
                for old in OBSOLETE_IN_3 {
                    self.remove_from_builtin_acp(acp, attr, &Value::Iutf8(old.to_string()))?;
                }
                self.add_to_builtin_acp(acp, attr, Value::Iutf8("credential_update_intent_token".into()))?;
            }
        }
        // The administrator groups' limits and rights, unless an administrator set their own.
        for group in builtin_accounts_and_groups() {
            let Some(u) = group.uuid() else { continue };
            let grants = group_grants(u);
            if grants.is_empty() {
                continue;
            }
            let Some(stored) = self.be().entry_by_uuid(u)? else { continue };
            let mut n = stored.entry.clone();
            for (attr, v) in grants {
                if attr == "server_right" || !n.has(attr) {
                    n.add(attr, v);
                }
            }
            if n != stored.entry {
                info!("upgrading built-in group '{}': limits and server rights", stored.label());
                self.modify_pairs(&Identity::internal(), vec![(stored, n)])?;
            }
        }
        Ok(())
    }

    fn builtin_acp(&mut self, acp_name: &str) -> Result<Option<crate::entry::StoredEntry>> {
        let Some(u) = builtin_acps().iter().find(|e| e.first_str("name") == Some(acp_name)).and_then(|e| e.uuid())
        else {
            return Ok(None);
        };
        self.be().entry_by_uuid(u)
    }

    fn add_to_builtin_acp(&mut self, acp_name: &str, attr: &str, value: Value) -> Result<()> {
        let Some(stored) = self.builtin_acp(acp_name)? else { return Ok(()) };
        if stored.get(attr).is_some_and(|vs| vs.contains(&value)) {
            return Ok(());
        }
        info!("upgrading built-in '{acp_name}': adding {attr} value");
        let mut updated = stored.entry.clone();
        updated.add(attr, value);
        self.modify_pairs(&Identity::internal(), vec![(stored, updated)])?;
        Ok(())
    }

    /// Gives a built-in profile a new target, unless an administrator changed its old one.
    fn retarget_builtin_acp(&mut self, acp_name: &str, old: &Value, new: Value) -> Result<()> {
        let Some(stored) = self.builtin_acp(acp_name)? else { return Ok(()) };
        if !stored.get("acp_targetscope").is_some_and(|vs| vs.contains(old)) {
            return Ok(());
        }
        info!("upgrading built-in '{acp_name}': new target");
        let mut updated = stored.entry.clone();
        updated.set_single("acp_targetscope", new);
        self.modify_pairs(&Identity::internal(), vec![(stored, updated)])?;
        Ok(())
    }

    fn remove_from_builtin_acp(&mut self, acp_name: &str, attr: &str, value: &Value) -> Result<()> {
        let Some(stored) = self.builtin_acp(acp_name)? else { return Ok(()) };
        let mut updated = stored.entry.clone();
        if updated.remove_value(attr, value) {
            info!("upgrading built-in '{acp_name}': removing an obsolete {attr} value");
            self.modify_pairs(&Identity::internal(), vec![(stored, updated)])?;
        }
        Ok(())
    }
}

/// Attributes version 3 removed.
const OBSOLETE_IN_3: [&str; 3] = ["domain_token_key", "credential_reset_token", "credential_reset_expire"];
/// Values version 3 added to the public read profile: the limits and policy groups carry.
const POLICY_READS_3: [&str; 2] = ["authsession_expiry", "privilege_expiry"];
const ACCOUNT_READS_3: &[&str] = &["credential_update_intent_token", "softlock_until", "softlock_level"];
