//! The query server: transactions that run every operation through filter resolution,
//! plugins, schema validation and storage, all-or-nothing.
//!
//! Readers get consistent snapshots and run concurrently; one writer at a time. Schema and
//! domain settings are published with each commit, together with the storage snapshot they
//! describe, so a reader never pairs new data with an old schema.

mod domain;
pub(crate) mod initialise;
mod names;
mod read;
mod recycle;
pub mod scim;
mod write;

pub use domain::RenamePlan;
pub use initialise::INDEX_VERSION;
pub use names::name_filter;
pub use read::{QueryServerReadTransaction, QueryServerTransaction};
pub use recycle::{RECYCLE_BIN_RETENTION, TOMBSTONE_RETENTION};
pub use scim::ScimRead;
pub use write::QueryServerWriteTransaction;

use crate::access::AccessControlProfile;
use crate::be::{Backend, BeRead, BeTxn};
use crate::builtins::{UUID_DOMAIN_INFO, builtin_schema};
use crate::filter::Filter;
use crate::identity::Limits;
use crate::schema::Schema;
use crate::value::Value;
use crate::{OperationError, Result};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use uuid::Uuid;

/// What every transaction needs beside storage, published atomically at commit.
#[derive(Clone, Debug)]
pub struct ServerState {
    pub schema: Arc<Schema>,
    /// `None` until the domain entry exists (an uninitialised database).
    pub domain_name: Option<String>,
    pub domain_uuid: Option<Uuid>,
    /// Enabled access control profiles.
    pub acps: Arc<Vec<AccessControlProfile>>,
    /// Increases with every commit; caches of derived data are valid for one generation.
    pub generation: u64,
    /// The generation whose commit last changed the access profiles or the schema: compiled
    /// access of older generations is stale.
    pub access_generation: u64,
}

/// How references are shown (the target's spn or name), cached for one generation of the
/// database: any commit starts a new generation and so an empty cache.
#[derive(Default)]
pub(crate) struct NameCache {
    generation: u64,
    names: std::collections::HashMap<Uuid, String>,
}

impl NameCache {
    const MAX: usize = 200_000;

    pub(crate) fn get(&mut self, generation: u64, u: &Uuid) -> Option<String> {
        if generation > self.generation {
            self.generation = generation;
            self.names.clear();
        }
        if generation == self.generation { self.names.get(u).cloned() } else { None }
    }

    pub(crate) fn insert(&mut self, generation: u64, u: Uuid, name: String) {
        if generation == self.generation {
            if self.names.len() >= Self::MAX {
                self.names.clear();
            }
            self.names.insert(u, name);
        }
    }
}

pub struct QueryServer {
    be: Arc<dyn Backend>,
    state: RwLock<Arc<ServerState>>,
    write_lock: Mutex<()>,
    names: Mutex<NameCache>,
    /// The generation whose commit last changed each entry, for entries changed since start.
    changes: RwLock<HashMap<Uuid, u64>>,
}

/// The schema compiled into this binary, used to read the stored schema.
pub fn bootstrap_schema() -> Result<Schema> {
    Schema::from_entries(&builtin_schema())
}

fn load_state(txn: &mut dyn BeTxn, bootstrap: &Schema) -> Result<ServerState> {
    if txn.raw().entry_count()? == 0 {
        return Ok(ServerState {
            schema: Arc::new(bootstrap.clone()),
            domain_name: None,
            domain_uuid: None,
            acps: Arc::new(Vec::new()),
            generation: 0,
            access_generation: 0,
        });
    }
    let f = Filter::Or(vec![Filter::eq("class", "attributetype"), Filter::eq("class", "classtype")]);
    let stored = txn.search(&f, bootstrap, &Limits::unlimited())?;
    let schema =
        if stored.is_empty() { bootstrap.clone() } else { Schema::from_entries(stored.iter().map(|s| &s.entry))? };
    let domain = txn.entry_by_uuid(UUID_DOMAIN_INFO)?;
    let domain_name = domain.as_ref().and_then(|d| d.first("domain_name")).and_then(Value::as_str).map(str::to_string);
    let domain_uuid = domain.as_ref().and_then(|d| d.first("domain_uuid")).and_then(Value::as_uuid);
    let acps = load_acps(txn, &schema)?;
    Ok(ServerState { schema: Arc::new(schema), domain_name, domain_uuid, acps, generation: 0, access_generation: 0 })
}

pub(crate) fn load_acps(txn: &mut dyn BeTxn, schema: &Schema) -> Result<Arc<Vec<AccessControlProfile>>> {
    let found = txn.search(&Filter::eq("class", "access_control_profile"), schema, &Limits::unlimited())?;
    Ok(Arc::new(found.iter().filter_map(|e| AccessControlProfile::from_entry(&e.entry)).collect()))
}

impl QueryServer {
    /// Opens a query server over existing storage without changing it. Use
    /// [`QueryServer::initialise`] to create or upgrade built-in content.
    pub fn new(be: Arc<dyn Backend>) -> Result<QueryServer> {
        let bootstrap = bootstrap_schema()?;
        let state = {
            let mut txn = BeRead::new(be.read()?);
            load_state(&mut txn, &bootstrap)?
        };
        Ok(QueryServer {
            be,
            state: RwLock::new(Arc::new(state)),
            write_lock: Mutex::new(()),
            names: Mutex::new(NameCache::default()),
            changes: RwLock::new(HashMap::new()),
        })
    }

    pub fn state(&self) -> Arc<ServerState> {
        self.state.read().map(|s| s.clone()).unwrap_or_else(|p| p.into_inner().clone())
    }

    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.be
    }

    /// A consistent read snapshot.
    pub fn read(&self) -> Result<QueryServerReadTransaction<'_>> {
        // Holding the state lock while the storage snapshot is taken pairs them: a writer
        // publishes new state only while holding the write side of this lock.
        let guard = self.state.read().map_err(|_| OperationError::InvalidState("state lock poisoned".into()))?;
        let state = guard.clone();
        let be = BeRead::new(self.be.read()?);
        drop(guard);
        Ok(QueryServerReadTransaction::new(be, state, &self.names))
    }

    /// The write transaction; waits for any other writer to finish.
    pub fn write(&self) -> Result<QueryServerWriteTransaction<'_>> {
        let lock = self.write_lock.lock().map_err(|_| OperationError::InvalidState("write lock poisoned".into()))?;
        let state = self.state();
        QueryServerWriteTransaction::new(self, lock, state)
    }

    /// Commits under the state lock and publishes the next generation of state, so every
    /// reader pairs a snapshot with the state (and caches) that describe it. The entries the
    /// commit touched are stamped with the new generation before it becomes visible, so a
    /// reader of that generation never trusts a cache built before it.
    pub(crate) fn publish(
        &self,
        mut state: ServerState,
        touched: HashSet<Uuid>,
        access_changed: bool,
        commit: impl FnOnce() -> Result<()>,
    ) -> Result<()> {
        let mut guard = self.state.write().map_err(|_| OperationError::InvalidState("state lock poisoned".into()))?;
        commit()?;
        state.generation = guard.generation + 1;
        state.access_generation = if access_changed { state.generation } else { guard.access_generation };
        if !touched.is_empty() {
            let mut changes = self.changes.write().unwrap_or_else(|p| p.into_inner());
            for u in touched {
                changes.insert(u, state.generation);
            }
        }
        *guard = Arc::new(state);
        Ok(())
    }

    /// The latest generation whose commit changed any of `entries` (0: none since start).
    /// A value derived from those entries at generation `g` is current while this is `<= g`.
    pub fn last_change(&self, entries: impl IntoIterator<Item = Uuid>) -> u64 {
        let changes = self.changes.read().unwrap_or_else(|p| p.into_inner());
        entries.into_iter().filter_map(|u| changes.get(&u).copied()).max().unwrap_or(0)
    }
}
