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
use rustc_hash::FxHashMap;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use tracing::{debug, warn};
use uuid::Uuid;

/// Sees (and may change) each entry during a reindex; returns whether it changed it.
pub type Inspect<'i> = dyn FnMut(EntryId, &mut Entry) -> Result<bool> + 'i;

type IndexLists = Vec<FxHashMap<String, Vec<EntryId>>>;

/// When the terms of an `and` planned so far leave this few candidates, the remaining terms
/// are tested on the entries instead of read from indexes (Kanidm's filter-test threshold).
const FILTER_TEST_THRESHOLD: u64 = 8;

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

    /// Looks up one index key (`None`: the index is not built); write transactions see their
    /// own uncommitted changes.
    fn idl(&mut self, itype: IndexType, attr: &str, key: &str) -> Result<Option<Arc<IdSet>>> {
        Ok(match self.raw().idl(itype, attr, key)? {
            IdlLookup::Found(s) => Some(Arc::new(s)),
            IdlLookup::NotBuilt => None,
        })
    }

    fn entry_by_id(&mut self, id: EntryId) -> Result<Option<StoredEntry>> {
        match self.raw().entry(id)? {
            Some(bytes) => Ok(Some(StoredEntry { id, entry: Entry::decode(&bytes)? })),
            None => Ok(None),
        }
    }

    fn id_for_uuid(&mut self, uuid: Uuid) -> Result<Option<EntryId>> {
        self.raw().id_for_uuid(uuid)
    }

    fn uuid_for_id(&mut self, id: EntryId) -> Result<Option<Uuid>> {
        self.raw().uuid_for_id(id)
    }

    fn entry_by_uuid(&mut self, uuid: Uuid) -> Result<Option<StoredEntry>> {
        match self.id_for_uuid(uuid)? {
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

    /// Turns a filter into candidate ids using the indexes schema declares and storage has,
    /// as exactly as they allow (callers may use an `Indexed` answer without reading entries).
    fn plan(&mut self, f: &Filter, schema: &Schema) -> Result<Plan> {
        self.plan_terms(f, schema, false)
    }

    /// [`Self::plan`]; with `shortcut`, for a caller that reads and tests the candidates
    /// anyway, an `and` stops reading indexes once it is down to a few candidates.
    fn plan_terms(&mut self, f: &Filter, schema: &Schema, shortcut: bool) -> Result<Plan> {
        let declares = |attr: &str, t: IndexType| schema.attribute(attr).is_some_and(|a| a.index.contains(&t));
        Ok(match f {
            Filter::Eq(a, k) if declares(a, IndexType::Equality) => match self.idl(IndexType::Equality, a, k)? {
                Some(s) => Plan::Indexed(s),
                None => {
                    not_built(IndexType::Equality, a);
                    Plan::AllIds
                }
            },
            Filter::Pres(a) if declares(a, IndexType::Presence) => {
                match self.idl(IndexType::Presence, a, PRESENCE_KEY)? {
                    Some(s) => Plan::Indexed(s),
                    None => {
                        not_built(IndexType::Presence, a);
                        Plan::AllIds
                    }
                }
            }
            // A prefix or suffix contains its grams just as a substring does.
            Filter::Sub(a, needle) | Filter::Stw(a, needle) | Filter::Enw(a, needle)
                if declares(a, IndexType::SubString) =>
            {
                let mut acc: Option<IdSet> = None;
                for gram in trigrams(needle) {
                    match self.idl(IndexType::SubString, a, &gram)? {
                        Some(s) => {
                            let next = match acc.take() {
                                Some(prev) => prev & &*s,
                                None => (*s).clone(),
                            };
                            if next.is_empty() {
                                return Ok(Plan::Indexed(Arc::new(next)));
                            }
                            acc = Some(next);
                        }
                        None => {
                            not_built(IndexType::SubString, a);
                            return Ok(Plan::AllIds);
                        }
                    }
                }
                // Grams only narrow the candidates: "abcab" contains every gram of "abcabc".
                acc.map(|s| Plan::Partial(Arc::new(s))).unwrap_or(Plan::AllIds)
            }
            Filter::Eq(..) | Filter::Pres(_) | Filter::Sub(..) | Filter::Stw(..) | Filter::Enw(..) | Filter::Lt(..) => {
                Plan::AllIds
            }
            Filter::Or(fs) => {
                let mut parts = Vec::with_capacity(fs.len());
                for f in fs {
                    let p = self.plan_terms(f, schema, shortcut)?;
                    if p == Plan::AllIds {
                        return Ok(Plan::AllIds);
                    }
                    parts.push(p);
                }
                Plan::union(parts)
            }
            Filter::And(fs) => {
                // Shared sets are intersected by reference: a large list such as class=group
                // is never copied just to narrow it.
                let mut acc: Option<Arc<IdSet>> = None;
                let mut partial = false;
                for f in fs.iter().filter(|f| !matches!(f, Filter::AndNot(_))) {
                    let s = match self.plan_terms(f, schema, shortcut)? {
                        Plan::Indexed(s) => s,
                        Plan::Partial(s) => {
                            partial = true;
                            s
                        }
                        Plan::AllIds => {
                            partial = true;
                            continue;
                        }
                    };
                    let next = match acc.take() {
                        None => s,
                        Some(a) => Arc::new(&*a & &*s),
                    };
                    if next.is_empty() {
                        return Ok(Plan::Indexed(next));
                    }
                    // A handful of candidates is cheaper to test against the rest of the
                    // filter than to narrow with more index reads (access control appends
                    // terms such as `entry_managed_by` to every search).
                    if shortcut && next.len() <= FILTER_TEST_THRESHOLD {
                        return Ok(Plan::Partial(next));
                    }
                    acc = Some(next);
                }
                for f in fs {
                    let Filter::AndNot(inner) = f else { continue };
                    match (&mut acc, self.plan_terms(inner, schema, shortcut)?) {
                        (Some(a), Plan::Indexed(s)) => *a = Arc::new(&**a - &*s),
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

    /// Every entry matching `f`, exactly. `limits` bounds the work, not the answer: no more than
    /// `search_max_partial` candidates are read (a full scan reads every entry). How
    /// many entries a caller may receive is decided above, after access control, so these
    /// refusals name the limit, never a count of candidates.
    fn search(&mut self, f: &Filter, schema: &Schema, limits: &Limits) -> Result<Vec<StoredEntry>> {
        // Every candidate is read and tested below, so a short list need not be narrowed.
        let plan = self.plan_terms(f, schema, true)?;
        debug!(
            ?f,
            plan = match &plan {
                Plan::Indexed(_) => "indexed",
                Plan::Partial(_) => "partial",
                Plan::AllIds => "unindexed",
            },
            "filter planned"
        );
        let mut out = Vec::new();
        let too_many = || {
            OperationError::ResourceLimit(format!(
                "the filter would test more than your limit of {} entries; narrow it with indexed terms",
                limits.search_max_partial
            ))
        };
        match plan {
            Plan::Indexed(ids) => {
                if ids.len() > limits.search_max_partial as u64 {
                    return Err(too_many());
                }
                out = self.entries_by_ids(&ids)?;
            }
            Plan::Partial(ids) => {
                if ids.len() > limits.search_max_partial as u64 {
                    return Err(too_many());
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
                if limits.search_max_partial != usize::MAX
                    && self.raw().entry_count()? > limits.search_max_partial as u64
                {
                    return Err(OperationError::ResourceLimit(format!(
                        "the filter uses no indexed attribute, so it would test every entry, more than your limit \
                         of {}; add an indexed term",
                        limits.search_max_partial
                    )));
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
        Ok(out)
    }

    /// Calls `f` for every entry in storage.
    fn for_each_entry(&mut self, f: &mut dyn FnMut(StoredEntry) -> Result<()>) -> Result<()> {
        self.raw().all_entries(&mut |id, bytes| f(StoredEntry { id, entry: Entry::decode(bytes)? }))
    }
}

/// A read snapshot.
pub struct BeRead<'a> {
    inner: Box<dyn BackendRead + Send + 'a>,
}

impl<'a> BeRead<'a> {
    pub fn new(inner: Box<dyn BackendRead + Send + 'a>) -> Self {
        BeRead { inner }
    }
}

impl BeTxn for BeRead<'_> {
    fn raw(&mut self) -> &mut dyn BackendRead {
        &mut *self.inner
    }
}

/// Changes this transaction made to one id list.
#[derive(Default)]
struct IdlDelta {
    added: IdSet,
    removed: IdSet,
}

/// Per index type, per attribute, per key.
type PerKey<T> = [HashMap<String, HashMap<String, T>>; 3];

fn slot(t: IndexType) -> usize {
    match t {
        IndexType::Equality => 0,
        IndexType::Presence => 1,
        IndexType::SubString => 2,
    }
}

fn per_key_mut<'m, T: Default>(m: &'m mut PerKey<T>, t: IndexType, attr: &str, key: &str) -> &'m mut T {
    let per_type = &mut m[slot(t)];
    if !per_type.contains_key(attr) {
        per_type.insert(attr.to_string(), HashMap::new());
    }
    let per_attr = per_type.get_mut(attr).unwrap_or_else(|| unreachable!("inserted above"));
    if !per_attr.contains_key(key) {
        per_attr.insert(key.to_string(), T::default());
    }
    per_attr.get_mut(key).unwrap_or_else(|| unreachable!("inserted above"))
}

/// The write transaction. Entries are written through; index changes are kept as per-key
/// deltas and applied once at commit, so the cost of a batch depends on what it changes, not
/// on how long the id lists it touches have grown.
pub struct BeWrite<'a> {
    inner: Box<dyn BackendWrite + 'a>,
    deltas: PerKey<IdlDelta>,
    /// Lists read during this transaction, kept current as deltas are added.
    views: PerKey<Arc<IdSet>>,
    built: BTreeSet<(IndexType, String)>,
    warned: HashSet<(IndexType, String)>,
    next_id: Option<EntryId>,
    /// Ids are never reused and uuids never change, so these only lose entries on delete.
    uuid_of: HashMap<EntryId, Uuid>,
    id_of: HashMap<Uuid, EntryId>,
    /// Entries this transaction created, changed or deleted: what caches built on them must
    /// forget when it commits.
    touched: HashSet<Uuid>,
}

impl<'a> BeWrite<'a> {
    pub fn new(mut inner: Box<dyn BackendWrite + 'a>) -> Result<Self> {
        let built = inner.built_indexes()?;
        Ok(BeWrite {
            inner,
            deltas: Default::default(),
            views: Default::default(),
            built,
            warned: HashSet::new(),
            next_id: None,
            uuid_of: HashMap::new(),
            id_of: HashMap::new(),
            touched: HashSet::new(),
        })
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

    fn apply_keys(
        &mut self,
        old: Option<&Entry>,
        new: Option<&Entry>,
        id: EntryId,
        m: &HashMap<String, Vec<IndexType>>,
    ) -> Result<()> {
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
                    self.touch(*t, attr, k, id, false);
                }
                for k in after.difference(&before) {
                    self.touch(*t, attr, k, id, true);
                }
            }
        }
        Ok(())
    }

    /// Records that `id` gains (`add`) or loses a key.
    fn touch(&mut self, t: IndexType, attr: &str, key: &str, id: EntryId, add: bool) {
        let d = per_key_mut(&mut self.deltas, t, attr, key);
        if add {
            d.removed.remove(id);
            d.added.insert(id);
        } else {
            d.added.remove(id);
            d.removed.insert(id);
        }
        if let Some(v) = self.views[slot(t)].get_mut(attr).and_then(|m| m.get_mut(key)) {
            // Unshared except while a plan holds it; the plan then keeps the version it read.
            let v = Arc::make_mut(v);
            if add {
                v.insert(id)
            } else {
                v.remove(id)
            };
        }
    }

    /// Stores new entries, assigning ids.
    pub fn create(&mut self, entries: Vec<ValidEntry>, schema: &Schema) -> Result<Vec<StoredEntry>> {
        let m = self.maintained(schema);
        let mut out = Vec::with_capacity(entries.len());
        for e in entries {
            let e = e.into_inner();
            let uuid =
                e.uuid().ok_or_else(|| OperationError::InvalidState("entry without uuid reached storage".into()))?;
            let id = self.allocate_id()?;
            self.inner.put_entry(id, uuid, &e.encode()?)?;
            self.touched.insert(uuid);
            self.apply_keys(None, Some(&e), id, &m)?;
            out.push(StoredEntry { id, entry: e });
        }
        self.limit_memory()?;
        Ok(out)
    }

    /// Replaces stored entries with new versions.
    pub fn modify<'e>(
        &mut self,
        changes: impl Iterator<Item = (&'e StoredEntry, ValidEntry)>,
        schema: &Schema,
    ) -> Result<Vec<StoredEntry>> {
        let m = self.maintained(schema);
        let mut out = Vec::new();
        for (old, new) in changes {
            let new = new.into_inner();
            if new != old.entry {
                let uuid = new
                    .uuid()
                    .ok_or_else(|| OperationError::InvalidState("entry without uuid reached storage".into()))?;
                self.inner.put_entry(old.id, uuid, &new.encode()?)?;
                self.touched.insert(uuid);
                self.apply_keys(Some(&old.entry), Some(&new), old.id, &m)?;
            }
            out.push(StoredEntry { id: old.id, entry: new });
        }
        self.limit_memory()?;
        Ok(out)
    }

    pub fn delete(&mut self, entries: &[StoredEntry], schema: &Schema) -> Result<()> {
        let m = self.maintained(schema);
        for e in entries {
            self.inner.delete_entry(e.id)?;
            if let Some(u) = self.uuid_of.remove(&e.id) {
                self.id_of.remove(&u);
            }
            if let Some(u) = e.uuid() {
                self.id_of.remove(&u);
                self.touched.insert(u);
            }
            self.apply_keys(Some(&e.entry), None, e.id, &m)?;
        }
        self.limit_memory()
    }

    /// Drops indexes the schema no longer declares, so a later re-declaration starts unbuilt
    /// instead of trusting a stale index.
    pub fn drop_undeclared_indexes(&mut self, schema: &Schema) -> Result<()> {
        let declared = schema.declared_indexes();
        let stale: Vec<_> = self.built.difference(&declared).cloned().collect();
        for (t, a) in stale {
            warn!("index {t} {a} is no longer declared in schema; dropping it");
            self.inner.drop_index(t, &a)?;
            self.deltas[slot(t)].remove(&a);
            self.views[slot(t)].remove(&a);
            self.built.remove(&(t, a));
        }
        Ok(())
    }

    /// Rebuilds every index the schema declares from entry content. Returns the entry count.
    pub fn reindex(&mut self, schema: &Schema, progress: &mut dyn Progress) -> Result<u64> {
        self.reindex_with(schema, progress, &mut |_, _| Ok(false))
    }

    /// Rebuilds every declared index, passing each entry to `inspect` first; an entry that
    /// `inspect` changes (returns true) is stored in its new form and indexed as such. An error
    /// from `inspect` stops the reindex and is returned.
    ///
    /// Two threads share the work: this one reads, decodes and inspects entries while a worker
    /// collects their index keys.
    pub fn reindex_with(
        &mut self,
        schema: &Schema,
        progress: &mut dyn Progress,
        inspect: &mut Inspect<'_>,
    ) -> Result<u64> {
        for (t, a) in std::mem::take(&mut self.built) {
            self.inner.drop_index(t, &a)?;
        }
        self.deltas = Default::default();
        self.views = Default::default();
        let declared = schema.declared_indexes();
        let indexes: Vec<(IndexType, String)> = declared.iter().cloned().collect();
        let mut slots_of: HashMap<&str, Vec<usize>> = HashMap::new();
        for (slot, (t, a)) in indexes.iter().enumerate() {
            self.inner.create_index(*t, a)?;
            slots_of.entry(a.as_str()).or_default().push(slot);
        }
        let total = self.inner.entry_count()?;
        progress.start("reindexing entries", total);
        const BATCH: usize = 512;
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<(EntryId, Entry)>>(8);
        let inner = &mut self.inner;
        let mut changed = Vec::new();
        let (scanned, worked) = std::thread::scope(|s| {
            let (indexes, slots_of) = (&indexes, &slots_of);
            let worker = s.spawn(move || -> Result<IndexLists> {
                // Entries arrive in id order, so each key's ids are appended already sorted.
                let mut lists: IndexLists = vec![FxHashMap::default(); indexes.len()];
                for batch in rx {
                    for (id, e) in batch {
                        for (attr, _) in e.attrs() {
                            for slot in slots_of.get(attr.as_str()).into_iter().flatten() {
                                let list = &mut lists[*slot];
                                for k in entry_index_keys(&e, indexes[*slot].0, attr) {
                                    match list.get_mut(&k) {
                                        Some(ids) => ids.push(id),
                                        None => {
                                            list.insert(k, vec![id]);
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                Ok(lists)
            });
            let mut batch = Vec::with_capacity(BATCH);
            let mut count = 0u64;
            let scanned = inner.all_entries(&mut |id, bytes| {
                let mut e = Entry::decode(bytes)?;
                if inspect(id, &mut e)? {
                    changed.push((id, e.clone()));
                }
                batch.push((id, e));
                count += 1;
                if batch.len() == BATCH {
                    progress.advance(BATCH as u64);
                    // A closed channel means the worker stopped with an error, reported below.
                    tx.send(std::mem::replace(&mut batch, Vec::with_capacity(BATCH)))
                        .map_err(|_| OperationError::InvalidState("reindex worker stopped".into()))?;
                }
                Ok(())
            });
            if scanned.is_ok() && !batch.is_empty() {
                progress.advance(batch.len() as u64);
                let _ = tx.send(batch);
            }
            drop(tx);
            let worked = worker.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
            (scanned.map(|_| count), worked)
        });
        let count = scanned?;
        let lists = worked?;
        for (id, e) in changed {
            let uuid = e.uuid().ok_or_else(|| OperationError::InvalidState("entry without uuid".into()))?;
            self.inner.put_entry(id, uuid, &e.encode()?)?;
            self.touched.insert(uuid);
        }
        for ((t, attr), keys) in indexes.iter().zip(lists) {
            let mut keys: Vec<_> = keys.into_iter().collect();
            keys.sort_unstable_by(|a, b| a.0.cmp(&b.0));
            for (k, ids) in keys {
                self.inner.load_idl(*t, attr, &k, &ids)?;
            }
        }
        progress.finish();
        self.built = declared;
        Ok(count)
    }

    /// Writes collected index changes to storage (still inside the transaction).
    fn flush_deltas(&mut self) -> Result<()> {
        for t in IndexType::ALL {
            for (attr, keys) in sorted(std::mem::take(&mut self.deltas[slot(t)])) {
                for (k, d) in sorted(keys) {
                    if !(d.added.is_empty() && d.removed.is_empty()) {
                        self.inner.apply_idl_delta(t, &attr, &k, &d.added, &d.removed)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Bounds memory in very large transactions (a domain rename, a huge import): pending
    /// index changes are written early — still inside the transaction, so nothing becomes
    /// visible before commit — and cached lists are dropped.
    fn limit_memory(&mut self) -> Result<()> {
        const MAX_KEYS: usize = 100_000;
        if key_count(&self.deltas) > MAX_KEYS {
            self.flush_deltas()?;
        }
        if key_count(&self.views) > MAX_KEYS {
            self.views = Default::default();
        }
        Ok(())
    }

    /// The entries this transaction created, changed or deleted so far.
    pub fn take_touched(&mut self) -> HashSet<Uuid> {
        std::mem::take(&mut self.touched)
    }

    /// Applies collected index changes, then commits storage.
    pub fn commit(mut self) -> Result<()> {
        self.flush_deltas()?;
        self.inner.commit()
    }
}

fn key_count<T>(m: &PerKey<T>) -> usize {
    m.iter().flat_map(|t| t.values()).map(HashMap::len).sum()
}

/// Key order makes storage writes sequential.
fn sorted<T>(m: HashMap<String, T>) -> Vec<(String, T)> {
    let mut v: Vec<_> = m.into_iter().collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

impl BeTxn for BeWrite<'_> {
    fn raw(&mut self) -> &mut dyn BackendRead {
        &mut *self.inner
    }

    fn id_for_uuid(&mut self, uuid: Uuid) -> Result<Option<EntryId>> {
        if let Some(id) = self.id_of.get(&uuid) {
            return Ok(Some(*id));
        }
        let id = self.inner.id_for_uuid(uuid)?;
        if let Some(id) = id {
            self.id_of.insert(uuid, id);
        }
        Ok(id)
    }

    fn uuid_for_id(&mut self, id: EntryId) -> Result<Option<Uuid>> {
        if let Some(u) = self.uuid_of.get(&id) {
            return Ok(Some(*u));
        }
        let u = self.inner.uuid_for_id(id)?;
        if let Some(u) = u {
            self.uuid_of.insert(id, u);
        }
        Ok(u)
    }

    fn idl(&mut self, itype: IndexType, attr: &str, key: &str) -> Result<Option<Arc<IdSet>>> {
        if let Some(v) = self.views[slot(itype)].get(attr).and_then(|m| m.get(key)) {
            return Ok(Some(v.clone()));
        }
        if !self.built.contains(&(itype, attr.to_string())) {
            return Ok(None);
        }
        let mut ids = match self.inner.idl(itype, attr, key)? {
            IdlLookup::Found(s) => s,
            IdlLookup::NotBuilt => return Ok(None),
        };
        if let Some(d) = self.deltas[slot(itype)].get(attr).and_then(|m| m.get(key)) {
            ids |= &d.added;
            ids -= &d.removed;
        }
        let ids = Arc::new(ids);
        *per_key_mut(&mut self.views, itype, attr, key) = ids.clone();
        Ok(Some(ids))
    }
}
