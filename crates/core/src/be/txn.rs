//! Transactions over a [`Backend`](super::Backend): index maintenance, planning, searching
//! and reindexing, written once for every storage engine.

use super::index::{PRESENCE_KEY, entry_index_keys};
use super::plan::Plan;
use super::{BackendRead, BackendWrite, IdSet, IdlLookup};
use crate::entry::{Entry, EntryId, StoredEntry, ValidEntry};
use crate::filter::Filter;
use crate::identity::Limits;
use crate::schema::Schema;
use crate::value::{IndexType, trigrams};
use crate::{OperationError, Result};
use std::collections::{BTreeSet, HashMap, HashSet};
use tracing::{debug, warn};
use uuid::Uuid;

/// Reports progress of long operations (reindex, restore, rename).
pub trait Progress {
    fn start(&mut self, _what: &str, _total: u64) {}
    fn advance(&mut self, _n: u64) {}
    fn finish(&mut self) {}
}

/// Progress that goes nowhere, for callers that don't show any.
impl Progress for () {}

fn not_built(itype: IndexType, attr: &str) {
    warn!("Index {itype} {attr} not found");
}

/// What read and write transactions share: lookups, planning and searching.
pub trait BeTxn {
    fn raw(&mut self) -> &mut dyn BackendRead;

    /// Looks up one index key; write transactions see their own uncommitted changes.
    fn idl(&mut self, itype: IndexType, attr: &str, key: &str) -> Result<IdlLookup> {
        self.raw().idl(itype, attr, key)
    }

    fn entry_by_id(&mut self, id: EntryId) -> Result<Option<StoredEntry>> {
        match self.raw().entry(id)? {
            Some(bytes) => Ok(Some(StoredEntry { id, entry: Entry::decode(&bytes)? })),
            None => Ok(None),
        }
    }

    fn entry_by_uuid(&mut self, uuid: Uuid) -> Result<Option<StoredEntry>> {
        match self.raw().id_for_uuid(uuid)? {
            Some(id) => self.entry_by_id(id),
            None => Ok(None),
        }
    }

    fn entries_by_ids(&mut self, ids: &IdSet) -> Result<Vec<StoredEntry>> {
        let mut out = Vec::with_capacity(ids.len() as usize);
        self.raw().entries(ids, &mut |id, bytes| {
            out.push(StoredEntry { id, entry: Entry::decode(bytes)? });
            Ok(())
        })?;
        Ok(out)
    }

    /// Turns a filter into candidate ids using the indexes schema declares and storage has.
    fn plan(&mut self, f: &Filter, schema: &Schema) -> Result<Plan> {
        let declares = |attr: &str, t: IndexType| schema.attribute(attr).is_some_and(|a| a.index.contains(&t));
        Ok(match f {
            Filter::Eq(a, k) if declares(a, IndexType::Equality) => match self.idl(IndexType::Equality, a, k)? {
                IdlLookup::Found(s) => Plan::Indexed(s),
                IdlLookup::NotBuilt => {
                    not_built(IndexType::Equality, a);
                    Plan::AllIds
                }
            },
            Filter::Pres(a) if declares(a, IndexType::Presence) => {
                match self.idl(IndexType::Presence, a, PRESENCE_KEY)? {
                    IdlLookup::Found(s) => Plan::Indexed(s),
                    IdlLookup::NotBuilt => {
                        not_built(IndexType::Presence, a);
                        Plan::AllIds
                    }
                }
            }
            Filter::Sub(a, needle) if declares(a, IndexType::SubString) => {
                let mut acc: Option<IdSet> = None;
                for gram in trigrams(needle) {
                    match self.idl(IndexType::SubString, a, &gram)? {
                        IdlLookup::Found(s) => {
                            let next = match acc.take() {
                                Some(prev) => prev & s,
                                None => s,
                            };
                            if next.is_empty() {
                                return Ok(Plan::Indexed(next));
                            }
                            acc = Some(next);
                        }
                        IdlLookup::NotBuilt => {
                            not_built(IndexType::SubString, a);
                            return Ok(Plan::AllIds);
                        }
                    }
                }
                // Grams only narrow the candidates: "abcab" contains every gram of "abcabc".
                acc.map(Plan::Partial).unwrap_or(Plan::AllIds)
            }
            Filter::Eq(..) | Filter::Pres(_) | Filter::Sub(..) => Plan::AllIds,
            Filter::Or(fs) => {
                let mut parts = Vec::with_capacity(fs.len());
                for f in fs {
                    let p = self.plan(f, schema)?;
                    if p == Plan::AllIds {
                        return Ok(Plan::AllIds);
                    }
                    parts.push(p);
                }
                Plan::union(parts)
            }
            Filter::And(fs) => {
                let mut acc: Option<IdSet> = None;
                let mut partial = false;
                for f in fs.iter().filter(|f| !matches!(f, Filter::AndNot(_))) {
                    match self.plan(f, schema)? {
                        Plan::Indexed(s) => acc = Some(acc.map_or(s.clone(), |a| a & s)),
                        Plan::Partial(s) => {
                            partial = true;
                            acc = Some(acc.map_or(s.clone(), |a| a & s));
                        }
                        Plan::AllIds => partial = true,
                    }
                    if acc.as_ref().is_some_and(IdSet::is_empty) {
                        return Ok(Plan::Indexed(IdSet::new()));
                    }
                }
                for f in fs {
                    let Filter::AndNot(inner) = f else { continue };
                    match (&mut acc, self.plan(inner, schema)?) {
                        (Some(a), Plan::Indexed(s)) => *a -= s,
                        _ => partial = true,
                    }
                }
                match acc {
                    None => Plan::AllIds,
                    Some(s) if partial => Plan::Partial(s),
                    Some(s) => Plan::Indexed(s),
                }
            }
            Filter::AndNot(_) => Plan::AllIds,
        })
    }

    /// Every entry matching `f`, exactly, within `limits`.
    fn search(&mut self, f: &Filter, schema: &Schema, limits: &Limits) -> Result<Vec<StoredEntry>> {
        let plan = self.plan(f, schema)?;
        debug!(?f, plan = match &plan { Plan::Indexed(_) => "indexed", Plan::Partial(_) => "partial", Plan::AllIds => "unindexed" }, "filter planned");
        let mut out = Vec::new();
        let too_many = |n: usize| {
            OperationError::ResourceLimit(format!(
                "search matched {n} entries, more than the limit of {}; narrow the filter",
                limits.search_max_results
            ))
        };
        match plan {
            Plan::Indexed(ids) => {
                if ids.len() as usize > limits.search_max_results {
                    return Err(too_many(ids.len() as usize));
                }
                out = self.entries_by_ids(&ids)?;
            }
            Plan::Partial(ids) => {
                if ids.len() as usize > limits.search_max_partial {
                    return Err(OperationError::ResourceLimit(format!(
                        "filter would test {} candidate entries, more than the limit of {}; use indexed attributes",
                        ids.len(),
                        limits.search_max_partial
                    )));
                }
                self.raw().entries(&ids, &mut |id, bytes| {
                    let entry = Entry::decode(bytes)?;
                    if f.matches(&entry) {
                        out.push(StoredEntry { id, entry });
                    }
                    Ok(())
                })?;
            }
            Plan::AllIds => {
                if !limits.allow_unindexed {
                    return Err(OperationError::ResourceLimit(
                        "filter uses no indexed attribute and would scan every entry; add an indexed term".into(),
                    ));
                }
                self.raw().all_entries(&mut |id, bytes| {
                    let entry = Entry::decode(bytes)?;
                    if f.matches(&entry) {
                        out.push(StoredEntry { id, entry });
                    }
                    Ok(())
                })?;
            }
        }
        if out.len() > limits.search_max_results {
            return Err(too_many(out.len()));
        }
        Ok(out)
    }

    /// Calls `f` for every entry in storage.
    fn for_each_entry(&mut self, f: &mut dyn FnMut(StoredEntry) -> Result<()>) -> Result<()> {
        self.raw().all_entries(&mut |id, bytes| f(StoredEntry { id, entry: Entry::decode(bytes)? }))
    }
}

/// A read snapshot.
pub struct BeRead<'a> {
    inner: Box<dyn BackendRead + 'a>,
}

impl<'a> BeRead<'a> {
    pub fn new(inner: Box<dyn BackendRead + 'a>) -> Self {
        BeRead { inner }
    }
}

impl BeTxn for BeRead<'_> {
    fn raw(&mut self) -> &mut dyn BackendRead {
        &mut *self.inner
    }
}

type DirtyIdls = [HashMap<String, HashMap<String, IdSet>>; 3];

fn slot(t: IndexType) -> usize {
    match t {
        IndexType::Equality => 0,
        IndexType::Presence => 1,
        IndexType::SubString => 2,
    }
}

/// The write transaction: entries are written through, index changes collect in memory and
/// are flushed once at commit, so a batch of writes touches each id list once.
pub struct BeWrite<'a> {
    inner: Box<dyn BackendWrite + 'a>,
    dirty: DirtyIdls,
    built: BTreeSet<(IndexType, String)>,
    warned: HashSet<(IndexType, String)>,
    next_id: Option<EntryId>,
}

fn idl_mut<'d>(
    dirty: &'d mut DirtyIdls,
    inner: &mut dyn BackendWrite,
    t: IndexType,
    attr: &str,
    key: &str,
) -> Result<&'d mut IdSet> {
    let per_attr = dirty[slot(t)].entry(attr.to_string()).or_default();
    if !per_attr.contains_key(key) {
        let current = match inner.idl(t, attr, key)? {
            IdlLookup::Found(s) => s,
            IdlLookup::NotBuilt => IdSet::new(),
        };
        per_attr.insert(key.to_string(), current);
    }
    per_attr.get_mut(key).ok_or_else(|| OperationError::InvalidState("index cache".into()))
}

impl<'a> BeWrite<'a> {
    pub fn new(mut inner: Box<dyn BackendWrite + 'a>) -> Result<Self> {
        let built = inner.built_indexes()?;
        Ok(BeWrite { inner, dirty: Default::default(), built, warned: HashSet::new(), next_id: None })
    }

    pub fn raw_write(&mut self) -> &mut dyn BackendWrite {
        &mut *self.inner
    }

    pub fn built_indexes(&self) -> &BTreeSet<(IndexType, String)> {
        &self.built
    }

    fn allocate_id(&mut self) -> Result<EntryId> {
        let next = match self.next_id {
            Some(n) => n,
            None => self.inner.max_id()? + 1,
        };
        self.next_id = Some(next + 1);
        Ok(next)
    }

    /// The index types to maintain per attribute: declared by schema and built in storage.
    fn maintained(&mut self, schema: &Schema) -> HashMap<String, Vec<IndexType>> {
        let mut out: HashMap<String, Vec<IndexType>> = HashMap::new();
        for (t, a) in schema.declared_indexes() {
            if self.built.contains(&(t, a.clone())) {
                out.entry(a).or_default().push(t);
            } else if self.warned.insert((t, a.clone())) {
                warn!("Index {t} {a} not found");
                warn!("index {a} {t} is declared in schema but not built; writes skip it until `kanidmd reindex` runs");
            }
        }
        out
    }

    fn apply_keys(&mut self, old: Option<&Entry>, new: Option<&Entry>, id: EntryId, m: &HashMap<String, Vec<IndexType>>) -> Result<()> {
        let mut attrs: BTreeSet<&str> = BTreeSet::new();
        attrs.extend(old.into_iter().flat_map(Entry::attr_names));
        attrs.extend(new.into_iter().flat_map(Entry::attr_names));
        for attr in attrs {
            let Some(types) = m.get(attr) else { continue };
            let (ov, nv) = (old.and_then(|e| e.get(attr)), new.and_then(|e| e.get(attr)));
            if ov == nv {
                continue;
            }
            for t in types {
                let before = old.map(|e| entry_index_keys(e, *t, attr)).unwrap_or_default();
                let after = new.map(|e| entry_index_keys(e, *t, attr)).unwrap_or_default();
                for k in before.difference(&after) {
                    idl_mut(&mut self.dirty, &mut *self.inner, *t, attr, k)?.remove(id);
                }
                for k in after.difference(&before) {
                    idl_mut(&mut self.dirty, &mut *self.inner, *t, attr, k)?.insert(id);
                }
            }
        }
        Ok(())
    }

    /// Stores new entries, assigning ids.
    pub fn create(&mut self, entries: Vec<ValidEntry>, schema: &Schema) -> Result<Vec<StoredEntry>> {
        let m = self.maintained(schema);
        let mut out = Vec::with_capacity(entries.len());
        for e in entries {
            let e = e.into_inner();
            let uuid = e.uuid().ok_or_else(|| OperationError::InvalidState("entry without uuid reached storage".into()))?;
            let id = self.allocate_id()?;
            self.inner.put_entry(id, uuid, &e.encode()?)?;
            self.apply_keys(None, Some(&e), id, &m)?;
            out.push(StoredEntry { id, entry: e });
        }
        Ok(out)
    }

    /// Replaces stored entries with new versions.
    pub fn modify(&mut self, changes: Vec<(StoredEntry, ValidEntry)>, schema: &Schema) -> Result<Vec<StoredEntry>> {
        let m = self.maintained(schema);
        let mut out = Vec::with_capacity(changes.len());
        for (old, new) in changes {
            let new = new.into_inner();
            if new == old.entry {
                out.push(StoredEntry { id: old.id, entry: new });
                continue;
            }
            let uuid = new.uuid().ok_or_else(|| OperationError::InvalidState("entry without uuid reached storage".into()))?;
            self.inner.put_entry(old.id, uuid, &new.encode()?)?;
            self.apply_keys(Some(&old.entry), Some(&new), old.id, &m)?;
            out.push(StoredEntry { id: old.id, entry: new });
        }
        Ok(out)
    }

    pub fn delete(&mut self, entries: &[StoredEntry], schema: &Schema) -> Result<()> {
        let m = self.maintained(schema);
        for e in entries {
            self.inner.delete_entry(e.id)?;
            self.apply_keys(Some(&e.entry), None, e.id, &m)?;
        }
        Ok(())
    }

    /// Drops indexes the schema no longer declares, so a later re-declaration starts unbuilt
    /// instead of trusting a stale index.
    pub fn drop_undeclared_indexes(&mut self, schema: &Schema) -> Result<()> {
        let declared = schema.declared_indexes();
        let stale: Vec<_> = self.built.difference(&declared).cloned().collect();
        for (t, a) in stale {
            warn!("index {t} {a} is no longer declared in schema; dropping it");
            self.inner.drop_index(t, &a)?;
            self.dirty[slot(t)].remove(&a);
            self.built.remove(&(t, a));
        }
        Ok(())
    }

    /// Rebuilds every index the schema declares from entry content. Returns the entry count.
    pub fn reindex(&mut self, schema: &Schema, progress: &mut dyn Progress) -> Result<u64> {
        for (t, a) in std::mem::take(&mut self.built) {
            self.inner.drop_index(t, &a)?;
        }
        self.dirty = Default::default();
        let declared = schema.declared_indexes();
        let mut by_attr: HashMap<String, Vec<IndexType>> = HashMap::new();
        for (t, a) in &declared {
            self.inner.create_index(*t, a)?;
            by_attr.entry(a.clone()).or_default().push(*t);
        }
        let total = self.inner.entry_count()?;
        progress.start("reindexing entries", total);
        let mut count = 0u64;
        let dirty = &mut self.dirty;
        self.inner.all_entries(&mut |id, bytes| {
            let e = Entry::decode(bytes)?;
            for (attr, _) in e.attrs() {
                let Some(types) = by_attr.get(attr.as_str()) else { continue };
                for t in types {
                    let per_attr = dirty[slot(*t)].entry(attr.clone()).or_default();
                    for k in entry_index_keys(&e, *t, attr) {
                        per_attr.entry(k).or_default().insert(id);
                    }
                }
            }
            count += 1;
            if count.is_multiple_of(1000) {
                progress.advance(1000);
            }
            Ok(())
        })?;
        progress.advance(count % 1000);
        progress.finish();
        self.built = declared;
        Ok(count)
    }

    /// Writes collected index changes, then commits storage.
    pub fn commit(mut self) -> Result<()> {
        for t in IndexType::ALL {
            let per_type = std::mem::take(&mut self.dirty[slot(t)]);
            let mut attrs: Vec<_> = per_type.into_iter().collect();
            attrs.sort_by(|a, b| a.0.cmp(&b.0));
            for (attr, keys) in attrs {
                let mut keys: Vec<_> = keys.into_iter().collect();
                keys.sort_by(|a, b| a.0.cmp(&b.0));
                for (k, ids) in keys {
                    self.inner.write_idl(t, &attr, &k, &ids)?;
                }
            }
        }
        self.inner.commit()
    }
}

impl BeTxn for BeWrite<'_> {
    fn raw(&mut self) -> &mut dyn BackendRead {
        &mut *self.inner
    }

    fn idl(&mut self, itype: IndexType, attr: &str, key: &str) -> Result<IdlLookup> {
        if let Some(s) = self.dirty[slot(itype)].get(attr).and_then(|m| m.get(key)) {
            return Ok(IdlLookup::Found(s.clone()));
        }
        if !self.built.contains(&(itype, attr.to_string())) {
            return Ok(IdlLookup::NotBuilt);
        }
        self.inner.idl(itype, attr, key)
    }
}
