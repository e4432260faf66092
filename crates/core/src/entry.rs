//! Entries: a set of attributes, each a set of typed values.
//!
//! An [`Entry`] may be in any state; only a [`ValidEntry`] — produced by
//! [`crate::schema::Schema::validate`] — can be handed to the backend for writing, so the
//! compiler enforces that nothing unvalidated is ever stored.

use crate::value::Value;
use crate::{OperationError, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::ops::Deref;
use uuid::Uuid;

pub use crate::valueset::ValueSet;
pub type EntryId = u64;

#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Entry {
    attrs: BTreeMap<String, ValueSet>,
}

/// The stored and backed-up form. Versioned so later layouts can be read and upgraded.
#[derive(Serialize, Deserialize)]
pub enum DbEntry {
    V1 { attrs: BTreeMap<String, ValueSet> },
}

#[derive(Serialize)]
enum DbEntryRef<'a> {
    V1 { attrs: &'a BTreeMap<String, ValueSet> },
}

impl Entry {
    pub fn new() -> Self {
        Entry::default()
    }

    pub fn get(&self, attr: &str) -> Option<&ValueSet> {
        self.attrs.get(attr)
    }

    pub fn first(&self, attr: &str) -> Option<&Value> {
        self.attrs.get(attr).and_then(ValueSet::first)
    }

    pub fn first_str(&self, attr: &str) -> Option<&str> {
        self.first(attr).and_then(Value::as_str)
    }

    pub fn uuid(&self) -> Option<Uuid> {
        self.first("uuid").and_then(Value::as_uuid)
    }

    pub fn has_class(&self, class: &str) -> bool {
        self.attrs.get("class").is_some_and(|vs| vs.iter().any(|v| v.as_str() == Some(class)))
    }

    pub fn classes(&self) -> impl Iterator<Item = &str> {
        self.attrs.get("class").into_iter().flatten().filter_map(Value::as_str)
    }

    pub fn has(&self, attr: &str) -> bool {
        self.attrs.get(attr).is_some_and(|vs| !vs.is_empty())
    }

    pub fn attrs(&self) -> impl Iterator<Item = (&String, &ValueSet)> {
        self.attrs.iter()
    }

    pub fn attr_names(&self) -> impl Iterator<Item = &str> {
        self.attrs.keys().map(String::as_str)
    }

    /// Reference values (uuids) of one attribute: plain references, and those a value embeds
    /// (a scope map's group).
    pub fn refs(&self, attr: &str) -> impl Iterator<Item = Uuid> + '_ {
        self.attrs.get(attr).into_iter().flatten().filter_map(|v| v.referenced().or_else(|| v.as_uuid()))
    }

    pub fn add(&mut self, attr: &str, v: Value) -> bool {
        self.attrs.entry(attr.to_string()).or_default().insert(v)
    }

    pub fn set(&mut self, attr: &str, vs: ValueSet) {
        if vs.is_empty() {
            self.attrs.remove(attr);
        } else {
            self.attrs.insert(attr.to_string(), vs);
        }
    }

    pub fn set_single(&mut self, attr: &str, v: Value) {
        self.set(attr, ValueSet::single(v));
    }

    pub fn purge(&mut self, attr: &str) -> bool {
        self.attrs.remove(attr).is_some()
    }

    /// Removes every value of `attr` that names the entry `u` (plain references and values
    /// that embed one). Whether anything was removed.
    pub fn remove_refs_to(&mut self, attr: &str, u: Uuid) -> bool {
        let Some(vs) = self.attrs.get_mut(attr) else {
            return false;
        };
        let before = vs.len();
        vs.retain(|x| x.referenced().or_else(|| x.as_uuid()) != Some(u));
        let changed = vs.len() != before;
        if vs.is_empty() {
            self.attrs.remove(attr);
        }
        changed
    }

    /// Removes values whose equality key (or, for values with none, whose full value) matches.
    pub fn remove_value(&mut self, attr: &str, v: &Value) -> bool {
        let Some(vs) = self.attrs.get_mut(attr) else {
            return false;
        };
        let key = v.eq_key();
        let before = vs.len();
        vs.retain(|x| if key.is_some() { x.eq_key() != key } else { x != v });
        let changed = vs.len() != before;
        if vs.is_empty() {
            self.attrs.remove(attr);
        }
        changed
    }

    pub fn encode(&self) -> Result<Vec<u8>> {
        postcard::to_allocvec(&DbEntryRef::V1 { attrs: &self.attrs }).map_err(|e| OperationError::Serde(e.to_string()))
    }

    pub fn decode(bytes: &[u8]) -> Result<Entry> {
        let db: DbEntry = postcard::from_bytes(bytes).map_err(|e| OperationError::Serde(e.to_string()))?;
        Ok(Entry::from_db(db))
    }

    pub fn from_db(db: DbEntry) -> Entry {
        match db {
            DbEntry::V1 { mut attrs } => {
                attrs.retain(|_, vs| !vs.is_empty());
                Entry { attrs }
            }
        }
    }

    pub fn to_db(&self) -> DbEntry {
        DbEntry::V1 { attrs: self.attrs.clone() }
    }

    /// Serialises the stored form as JSON without cloning the entry (used by backups).
    pub fn write_json(&self, w: &mut impl std::io::Write) -> Result<()> {
        serde_json::to_writer(w, &DbEntryRef::V1 { attrs: &self.attrs })
            .map_err(|e| OperationError::Serde(e.to_string()))
    }

    /// A short human label for messages: name, else uuid.
    pub fn label(&self) -> String {
        self.first("name")
            .and_then(|v| v.eq_key())
            .or_else(|| self.uuid().map(|u| u.to_string()))
            .unwrap_or_else(|| "(entry without uuid)".into())
    }
}

/// An entry that passed schema validation. Only these reach storage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidEntry(pub(crate) Entry);

impl ValidEntry {
    pub fn into_inner(self) -> Entry {
        self.0
    }
}

impl Deref for ValidEntry {
    type Target = Entry;
    fn deref(&self) -> &Entry {
        &self.0
    }
}

/// An entry read from storage, with its storage id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredEntry {
    pub id: EntryId,
    pub entry: Entry,
}

impl Deref for StoredEntry {
    type Target = Entry;
    fn deref(&self) -> &Entry {
        &self.entry
    }
}
