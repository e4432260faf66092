//! The storage boundary.
//!
//! [`Backend`], [`BackendRead`] and [`BackendWrite`] are all a storage engine implements: a
//! table of encoded entries keyed by id and uuid, one id-list table per (index type,
//! attribute), and a small metadata table. Everything that gives those tables meaning —
//! which keys an entry produces, how a filter becomes id lists, when an index is missing —
//! lives above, in [`txn`], so every engine behaves identically.

mod index;
mod plan;
mod txn;

pub use index::entry_index_keys;
pub use plan::Plan;
pub use txn::{BeRead, BeTxn, BeWrite, Inspect, Progress};

use crate::Result;
use crate::entry::EntryId;
use crate::value::IndexType;
use roaring::RoaringTreemap;
use std::collections::BTreeSet;
use uuid::Uuid;

/// A set of entry ids: the value stored for each index key.
pub type IdSet = RoaringTreemap;

/// The result of looking up one index key.
#[derive(Debug, Clone, PartialEq)]
pub enum IdlLookup {
    /// The index has never been built: the caller must fall back to testing entries.
    NotBuilt,
    /// The ids with this key (empty when the key is absent).
    Found(IdSet),
}

/// Metadata keys every backend stores.
pub mod meta {
    /// Version of the entry encoding.
    pub const DB_VERSION: &str = "db_version";
    /// Version of the index key format; a binary with a newer one reindexes on start.
    pub const INDEX_VERSION: &str = "index_version";
}

/// A consistent snapshot of the store.
pub trait BackendRead {
    /// The encoded entry with this id.
    fn entry(&mut self, id: EntryId) -> Result<Option<Vec<u8>>>;
    /// Calls `f` for each id in `ids` that exists, in id order.
    fn entries(&mut self, ids: &IdSet, f: &mut dyn FnMut(EntryId, &[u8]) -> Result<()>) -> Result<()>;
    /// Calls `f` for every entry, in id order.
    fn all_entries(&mut self, f: &mut dyn FnMut(EntryId, &[u8]) -> Result<()>) -> Result<()>;
    fn id_for_uuid(&mut self, uuid: Uuid) -> Result<Option<EntryId>>;
    fn uuid_for_id(&mut self, id: EntryId) -> Result<Option<Uuid>>;
    fn entry_count(&mut self) -> Result<u64>;
    /// The ids stored under `key` in index (`itype`, `attr`).
    fn idl(&mut self, itype: IndexType, attr: &str, key: &str) -> Result<IdlLookup>;
    /// Which indexes exist in storage (built), whatever the schema declares.
    fn built_indexes(&mut self) -> Result<BTreeSet<(IndexType, String)>>;
    /// Every key of one index with its ids, in key order (used by verify).
    fn index_contents(
        &mut self,
        itype: IndexType,
        attr: &str,
        f: &mut dyn FnMut(&str, IdSet) -> Result<()>,
    ) -> Result<()>;
    fn meta(&mut self, key: &str) -> Result<Option<Vec<u8>>>;
    /// The storage engine's own consistency check; each string is one problem.
    fn integrity_check(&mut self) -> Result<Vec<String>>;
}

/// The single write transaction. Dropping it without [`BackendWrite::commit`] discards every
/// change.
pub trait BackendWrite: BackendRead {
    /// Inserts or replaces the entry with this id.
    fn put_entry(&mut self, id: EntryId, uuid: Uuid, data: &[u8]) -> Result<()>;
    fn delete_entry(&mut self, id: EntryId) -> Result<()>;
    /// Adds and removes ids under one key. Storage need not read the whole list to do this.
    fn apply_idl_delta(
        &mut self,
        itype: IndexType,
        attr: &str,
        key: &str,
        added: &IdSet,
        removed: &IdSet,
    ) -> Result<()>;
    /// Stores the ids under one key of an index created in this transaction (reindex). `ids`
    /// is sorted and the key has no stored ids yet.
    fn load_idl(&mut self, itype: IndexType, attr: &str, key: &str, ids: &[EntryId]) -> Result<()>;
    /// Creates an empty index, marking it built.
    fn create_index(&mut self, itype: IndexType, attr: &str) -> Result<()>;
    fn drop_index(&mut self, itype: IndexType, attr: &str) -> Result<()>;
    fn set_meta(&mut self, key: &str, value: &[u8]) -> Result<()>;
    fn max_id(&mut self) -> Result<EntryId>;
    fn commit(self: Box<Self>) -> Result<()>;
}

/// A storage engine: hands out concurrent read snapshots and one writer at a time.
pub trait Backend: Send + Sync {
    fn read(&self) -> Result<Box<dyn BackendRead + Send + '_>>;
    /// Blocks until no other write transaction is open.
    fn write(&self) -> Result<Box<dyn BackendWrite + '_>>;
}
