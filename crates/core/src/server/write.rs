use super::read::QueryServerTransaction;
use super::{QueryServer, ServerState};
use crate::access::CallerAccess;
use crate::be::{BeTxn, BeWrite, Progress};
use crate::builtins::UUID_DOMAIN_INFO;
use crate::entry::{Entry, StoredEntry, ValidEntry};
use crate::filter::Filter;
use crate::identity::Identity;
use crate::modify::ModifyList;
use crate::plugins;
use crate::schema::Schema;
use crate::value::Value;
use crate::{OperationError, Result};
use idm_proto::{Filter as ProtoFilter, ModifyList as ProtoModifyList, ProtoEntry};
use std::collections::HashMap;
use std::sync::{Arc, MutexGuard};
use time::OffsetDateTime;
use tracing::info;
use uuid::Uuid;

/// The single write transaction. Every operation is all-or-nothing: if one fails, the
/// transaction refuses further work and can only be dropped, which discards everything.
pub struct QueryServerWriteTransaction<'a> {
    qs: &'a QueryServer,
    // Dropped last: other writers wait until this transaction is gone.
    be: BeWrite<'a>,
    state: ServerState,
    state_changed: bool,
    /// Whether this transaction changed access profiles or schema.
    access_changed: bool,
    failed: bool,
    now: OffsetDateTime,
    /// Where long internal work (a domain rename's spn regeneration) reports progress.
    progress: Box<dyn Progress + 'a>,
    _lock: MutexGuard<'a, ()>,
}

impl QueryServerTransaction for QueryServerWriteTransaction<'_> {
    fn be(&mut self) -> &mut dyn BeTxn {
        &mut self.be
    }
    fn state(&self) -> &ServerState {
        &self.state
    }
}

impl<'a> QueryServerWriteTransaction<'a> {
    pub(crate) fn new(qs: &'a QueryServer, lock: MutexGuard<'a, ()>, state: Arc<ServerState>) -> Result<Self> {
        Ok(QueryServerWriteTransaction {
            qs,
            be: BeWrite::new(qs.be.write()?)?,
            state: (*state).clone(),
            state_changed: false,
            access_changed: false,
            failed: false,
            now: OffsetDateTime::now_utc(),
            progress: Box::new(()),
            _lock: lock,
        })
    }

    /// Sets where long internal work in this transaction reports progress.
    pub fn set_progress(&mut self, progress: Box<dyn Progress + 'a>) {
        self.progress = progress;
    }

    pub(crate) fn take_progress(&mut self) -> Box<dyn Progress + 'a> {
        std::mem::replace(&mut self.progress, Box::new(()))
    }

    /// The time this transaction started; every time-based decision in it uses this.
    pub fn now(&self) -> OffsetDateTime {
        self.now
    }

    pub fn be_write(&mut self) -> &mut BeWrite<'a> {
        &mut self.be
    }

    pub(crate) fn guarded<T>(&mut self, op: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        if self.failed {
            return Err(OperationError::TransactionFailed);
        }
        let r = op(self);
        if r.is_err() {
            self.failed = true;
        }
        r
    }

    /// A name-resolution function with a cache for the duration of one operation. Names not
    /// found in the database are looked up in `batch` (entries being created alongside).
    fn parse_with_cache<T>(
        &mut self,
        batch: &HashMap<String, Uuid>,
        parse: impl FnOnce(&Schema, &mut dyn FnMut(&str) -> Result<Option<Uuid>>) -> Result<T>,
    ) -> Result<T> {
        let schema = self.schema();
        let domain = self.domain_name();
        let mut cache: HashMap<String, Option<Uuid>> = HashMap::new();
        let mut resolve = |n: &str| -> Result<Option<Uuid>> {
            if let Some(u) = cache.get(n) {
                return Ok(*u);
            }
            let mut u = self.resolve_name(n)?;
            if u.is_none() {
                let lower = n.trim().to_lowercase();
                let local = match (lower.rsplit_once('@'), domain.as_deref()) {
                    (Some((name, d)), Some(domain)) if d == domain => name.to_string(),
                    _ => lower,
                };
                u = batch.get(&local).copied();
            }
            cache.insert(n.to_string(), u);
            Ok(u)
        };
        parse(&schema, &mut resolve)
    }

    // ----- Operations on behalf of an identity -------------------------------------------

    /// Creates entries from caller input. Returns the new entries' uuids.
    pub fn create(&mut self, ident: &Identity, entries: &[ProtoEntry]) -> Result<Vec<Uuid>> {
        self.guarded(|w| {
            // Uuids are assigned before parsing so entries in one request can refer to each
            // other by name (a group and its new members, say).
            let mut batch = HashMap::new();
            let mut entries = entries.to_vec();
            let mut generated = Vec::with_capacity(entries.len());
            for pe in &mut entries {
                generated.push(pe.get("uuid").is_none());
                let uuid = match pe.get("uuid") {
                    Some([u]) => Uuid::parse_str(u.trim()).ok(),
                    Some(_) => None,
                    None => {
                        let u = crate::plugins::base::new_uuid();
                        pe.attrs.insert("uuid".into(), vec![u.to_string()]);
                        Some(u)
                    }
                };
                if let (Some(u), Some([name])) = (uuid, pe.get("name")) {
                    batch.insert(name.trim().to_lowercase(), u);
                }
            }
            let cands = w.parse_with_cache(&batch, |schema, resolve| {
                entries.iter().map(|pe| schema.entry_from_proto(pe, resolve)).collect::<Result<Vec<_>>>()
            })?;
            if let Some(access) = w.caller_access(ident)? {
                for (c, generated) in cands.iter().zip(generated) {
                    // The server assigned that uuid, so it is not the caller's to be allowed.
                    access.check_create(c, if generated { &["uuid"] } else { &[] })?;
                }
            }
            let created = w.create_entries(ident, cands)?;
            Ok(created.iter().filter_map(|e| e.uuid()).collect())
        })
    }

    /// Applies a modify list to every entry matching the filter. Returns how many changed.
    pub fn modify(&mut self, ident: &Identity, filter: &ProtoFilter, ml: &ProtoModifyList) -> Result<usize> {
        self.guarded(|w| {
            let f = w.filter_from_proto(ident, filter)?;
            let ml =
                w.parse_with_cache(&HashMap::new(), |schema, resolve| ModifyList::from_proto(ml, schema, resolve))?;
            w.modify_entries(ident, &f, &ml)
        })
    }

    /// Deletes every entry matching the filter. Returns how many were deleted.
    pub fn delete(&mut self, ident: &Identity, filter: &ProtoFilter) -> Result<usize> {
        self.guarded(|w| {
            let f = w.filter_from_proto(ident, filter)?;
            w.delete_entries(ident, &f)
        })
    }

    /// Applies a typed modify list to the entries matching a resolved filter on behalf of
    /// `ident`, under its access profiles: how the identity layer changes credentials, sessions
    /// and locks for a caller without a second set of rules.
    pub fn modify_as(&mut self, ident: &Identity, f: &Filter, ml: &ModifyList) -> Result<usize> {
        self.guarded(|w| {
            let f = if ident.is_internal() { f.clone() } else { super::read::exclude_deleted(f.clone()) };
            w.modify_entries(ident, &f, ml)
        })
    }

    // ----- Internal operations (plugins, migrations, offline tools) ----------------------

    pub fn internal_create(&mut self, entries: Vec<Entry>) -> Result<Vec<StoredEntry>> {
        self.guarded(|w| w.create_entries(&Identity::internal(), entries))
    }

    pub fn internal_modify(&mut self, f: &Filter, ml: &ModifyList) -> Result<usize> {
        self.guarded(|w| w.modify_entries(&Identity::internal(), f, ml))
    }

    pub fn internal_delete(&mut self, f: &Filter) -> Result<usize> {
        self.guarded(|w| w.delete_entries(&Identity::internal(), f))
    }

    /// Rebuilds every index the stored schema declares.
    pub fn reindex(&mut self, progress: &mut dyn Progress) -> Result<u64> {
        self.guarded(|w| {
            let schema = w.schema();
            let n = w.be.reindex(&schema, progress)?;
            w.be.raw_write()
                .set_meta(crate::be::meta::INDEX_VERSION, &super::initialise::INDEX_VERSION.to_be_bytes())?;
            Ok(n)
        })
    }

    pub fn commit(self) -> Result<()> {
        if self.failed {
            return Err(OperationError::TransactionFailed);
        }
        let QueryServerWriteTransaction { qs, mut be, state, access_changed, _lock, .. } = self;
        let touched = be.take_touched();
        qs.publish(state, touched, access_changed, || be.commit())
    }

    // ----- The pipelines ------------------------------------------------------------------

    pub(crate) fn create_entries(&mut self, ident: &Identity, mut cands: Vec<Entry>) -> Result<Vec<StoredEntry>> {
        ident.require_write()?;
        if cands.is_empty() {
            return Err(OperationError::EmptyRequest);
        }
        plugins::pre_create(self, ident, &mut cands)?;
        let schema = self.schema();
        let valid = cands.into_iter().map(|e| schema.validate(e)).collect::<Result<Vec<ValidEntry>>>()?;
        plugins::attrunique::check(self, valid.iter().map(|e| (None, None, &**e)))?;
        let created = self.be.create(valid, &schema)?;
        plugins::post_create(self, ident, &created)?;
        self.after_write(created.iter().map(|c| &c.entry))?;
        Ok(created)
    }

    /// Entries matching `f` that `ident` may see: what a modify or delete acts on.
    fn candidates(&mut self, ident: &Identity, f: &Filter) -> Result<(Vec<StoredEntry>, Option<Arc<CallerAccess>>)> {
        let (cands, access) = self.visible_matches(ident, f, false)?;
        if cands.is_empty() {
            return Err(OperationError::NoMatchingEntries);
        }
        Ok((cands, access))
    }

    pub(crate) fn modify_entries(&mut self, ident: &Identity, f: &Filter, ml: &ModifyList) -> Result<usize> {
        ident.require_write()?;
        let (cands, access) = self.candidates(ident, f)?;
        if let Some(a) = &access {
            cands.iter().try_for_each(|c| a.check_modify(c, ml))?;
        }
        let pairs = cands
            .into_iter()
            .map(|c| {
                let mut n = c.entry.clone();
                ml.apply(&mut n);
                (c, n)
            })
            .collect();
        Ok(self.modify_pairs(ident, pairs)?.len())
    }

    /// Writes new versions of stored entries through plugins and schema. Used by modify and
    /// by plugins that maintain derived attributes.
    pub(crate) fn modify_pairs(
        &mut self,
        ident: &Identity,
        mut pairs: Vec<(StoredEntry, Entry)>,
    ) -> Result<Vec<(StoredEntry, StoredEntry)>> {
        ident.require_write()?;
        plugins::pre_modify(self, ident, &mut pairs)?;
        let schema = self.schema();
        let (olds, valid) = validate_pairs(&schema, pairs)?;
        plugins::attrunique::check(self, olds.iter().zip(&valid).map(|(o, n)| (Some(o.id), Some(&o.entry), &**n)))?;
        let news = self.be.modify(olds.iter().zip(valid), &schema)?;
        let changed: Vec<(StoredEntry, StoredEntry)> =
            olds.into_iter().zip(news).filter(|(o, n)| o.entry != n.entry).collect();
        plugins::post_modify(self, ident, &changed)?;
        self.after_write(changed.iter().flat_map(|(o, n)| [&o.entry, &n.entry]))?;
        Ok(changed)
    }

    /// Writes entries whose only change is to attributes derived from other entries (memberOf).
    /// Such values come from existing entries and are neither unique nor caller-supplied, so the
    /// plugins that guard caller input have nothing to check; schema still does.
    pub(crate) fn write_derived(&mut self, pairs: Vec<(StoredEntry, Entry)>) -> Result<()> {
        let schema = self.schema();
        let (olds, valid) = validate_pairs(&schema, pairs)?;
        self.be.modify(olds.iter().zip(valid), &schema)?;
        Ok(())
    }

    /// Deletes what `f` matches: callers' deletes go to the recycle bin, internal ones (purges,
    /// migrations) remove entries outright.
    pub(crate) fn delete_entries(&mut self, ident: &Identity, f: &Filter) -> Result<usize> {
        ident.require_write()?;
        let (cands, access) = self.candidates(ident, f)?;
        if let Some(a) = &access {
            cands.iter().try_for_each(|c| a.check_delete(c))?;
        }
        if ident.is_internal() {
            self.remove_entries(ident, cands)
        } else {
            plugins::pre_delete(self, ident, &cands)?;
            self.recycle_entries(ident, cands)
        }
    }

    /// Removes entries from storage, with their references.
    pub(crate) fn remove_entries(&mut self, ident: &Identity, cands: Vec<StoredEntry>) -> Result<usize> {
        let schema = self.schema();
        plugins::pre_delete(self, ident, &cands)?;
        self.be.delete(&cands, &schema)?;
        plugins::post_delete(self, ident, &cands)?;
        self.after_write(cands.iter().map(|c| &c.entry))?;
        Ok(cands.len())
    }

    /// Reloads schema and domain settings when a write touched them, so the rest of the
    /// transaction — and every transaction after commit — sees them.
    fn after_write<'e>(&mut self, mut touched: impl Iterator<Item = &'e Entry>) -> Result<()> {
        let mut schema = false;
        let mut domain = false;
        let mut acps = false;
        for e in touched.by_ref() {
            schema |= e.has_class("attributetype") || e.has_class("classtype");
            domain |= e.uuid() == Some(UUID_DOMAIN_INFO);
            acps |= e.has_class("access_control_profile");
        }
        if schema {
            let f = Filter::Or(vec![Filter::eq("class", "attributetype"), Filter::eq("class", "classtype")]);
            let entries = self.internal_search(&f)?;
            let new = Schema::from_entries(entries.iter().map(|e| &e.entry))?;
            self.be.drop_undeclared_indexes(&new)?;
            info!("schema changed: {} attributes, {} classes", new.attributes().count(), new.classes().count());
            self.state.schema = Arc::new(new);
            self.state_changed = true;
        }
        if acps || schema {
            let schema = self.schema();
            self.state.acps = super::load_acps(&mut self.be, &schema)?;
            self.state_changed = true;
            self.access_changed = true;
        }
        if domain && let Some(d) = self.be.entry_by_uuid(UUID_DOMAIN_INFO)? {
            self.state.domain_name = d.first("domain_name").and_then(Value::as_str).map(str::to_string);
            self.state.domain_uuid = d.first("domain_uuid").and_then(Value::as_uuid);
            self.state_changed = true;
        }
        Ok(())
    }

    pub(crate) fn set_domain_name(&mut self, name: Option<String>) {
        self.state.domain_name = name;
        self.state_changed = true;
    }
}

/// Validates the new version of each pair, keeping the old versions alongside.
fn validate_pairs(schema: &Schema, pairs: Vec<(StoredEntry, Entry)>) -> Result<(Vec<StoredEntry>, Vec<ValidEntry>)> {
    let mut olds = Vec::with_capacity(pairs.len());
    let mut valid = Vec::with_capacity(pairs.len());
    for (old, new) in pairs {
        valid.push(schema.validate(new)?);
        olds.push(old);
    }
    Ok((olds, valid))
}
