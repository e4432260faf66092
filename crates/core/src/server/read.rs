use super::NameCache;
use super::ServerState;
use crate::access::CallerAccess;
use crate::be::{BeRead, BeTxn, IdSet, Plan};
use crate::entry::{Entry, StoredEntry};
use crate::filter::{Filter, FilterContext};
use crate::identity::{Identity, Limits};
use crate::schema::Schema;
use crate::value::Value;
use crate::{OperationError, Result};
use idm_proto::{Filter as ProtoFilter, ProtoEntry};
use std::sync::{Arc, Mutex};
use uuid::Uuid;

/// Wraps a caller's filter so recycled and tombstoned entries stay invisible.
pub(crate) fn exclude_deleted(f: Filter) -> Filter {
    Filter::And(vec![
        f,
        Filter::AndNot(Box::new(Filter::Or(vec![Filter::eq("class", "recycled"), Filter::eq("class", "tombstone")]))),
    ])
}

/// Operations shared by read and write transactions.
pub trait QueryServerTransaction {
    fn be(&mut self) -> &mut dyn BeTxn;
    fn state(&self) -> &ServerState;

    fn schema(&self) -> Arc<Schema> {
        self.state().schema.clone()
    }

    fn domain_name(&self) -> Option<String> {
        self.state().domain_name.clone()
    }

    /// Searches with no limits and no access control.
    fn internal_search(&mut self, f: &Filter) -> Result<Vec<StoredEntry>> {
        let schema = self.schema();
        self.be().search(f, &schema, &Limits::unlimited())
    }

    fn entry_by_uuid(&mut self, uuid: Uuid) -> Result<Option<StoredEntry>> {
        self.be().entry_by_uuid(uuid)
    }

    /// Ids of the entries matching `f`, answered from the indexes alone when they are exact.
    fn search_ids(&mut self, f: &Filter) -> Result<Arc<IdSet>> {
        let schema = self.schema();
        match self.be().plan(f, &schema)? {
            Plan::Indexed(ids) => Ok(ids),
            _ => Ok(Arc::new(self.internal_search(f)?.iter().map(|e| e.id).collect())),
        }
    }

    /// Uuids of the entries matching `f`, without decoding entries when the indexes are exact.
    fn search_uuids(&mut self, f: &Filter) -> Result<Vec<Uuid>> {
        let ids = self.search_ids(f)?;
        let mut out = Vec::with_capacity(ids.len() as usize);
        for id in ids.iter() {
            if let Some(u) = self.be().uuid_for_id(id)? {
                out.push(u);
            }
        }
        Ok(out)
    }

    /// The uuid of the live entry with this name or spn.
    fn resolve_name(&mut self, name: &str) -> Result<Option<Uuid>> {
        let n = name.trim().to_lowercase();
        let f = if n.contains('@') { Filter::eq("spn", n) } else { Filter::eq("name", n) };
        Ok(self.search_uuids(&exclude_deleted(f))?.into_iter().next())
    }

    /// Validates and resolves a caller's filter; callers never see deleted entries.
    fn filter_from_proto(&mut self, ident: &Identity, pf: &ProtoFilter) -> Result<Filter> {
        let f = self.filter_from_proto_all(ident, pf)?;
        Ok(if ident.is_internal() { f } else { exclude_deleted(f) })
    }

    /// As [`QueryServerTransaction::filter_from_proto`], but deleted entries are not excluded.
    fn filter_from_proto_all(&mut self, ident: &Identity, pf: &ProtoFilter) -> Result<Filter> {
        let schema = self.schema();
        let mut resolve = |n: &str| self.resolve_name(n);
        let mut ctx =
            FilterContext { schema: &schema, self_uuid: ident.uuid(), limits: &ident.limits, resolve: &mut resolve };
        Filter::from_proto(pf, &mut ctx)
    }

    /// Entries in the recycle bin matching `pf`, as `ident` may see them.
    fn search_recycled(&mut self, ident: &Identity, pf: &ProtoFilter) -> Result<Vec<StoredEntry>> {
        let f = Filter::And(vec![Filter::eq("class", "recycled"), self.filter_from_proto_all(ident, pf)?]);
        self.search_filter(ident, &f, true)
    }

    /// The access profiles that apply to `ident`; `None` for internal operations, which are
    /// not checked.
    fn caller_access(&mut self, ident: &Identity) -> Result<Option<Arc<CallerAccess>>> {
        let Some(u) = ident.uuid() else { return Ok(None) };
        if let Some(access) = ident.access() {
            return Ok(Some(access));
        }
        let caller = self.entry_by_uuid(u)?.ok_or(OperationError::NotAuthenticated)?;
        self.access_for(&caller).map(Some)
    }

    /// Compiles the access profiles that apply to the account `caller`. An account that was
    /// deleted (recycled or a tombstone) has no rights left.
    fn access_for(&mut self, caller: &Entry) -> Result<Arc<CallerAccess>> {
        if caller.has_class("recycled") || caller.has_class("tombstone") {
            return Err(OperationError::NotAuthenticated);
        }
        let schema = self.schema();
        Ok(Arc::new(CallerAccess::new(self.state().acps.clone(), caller, &schema)?))
    }

    /// The entries matching `f` that `ident` may see, whole, with the access that decided it.
    /// Terms are restricted to readable values before planning, so neither the candidates
    /// gathered nor any limit reached depends on values the caller cannot read. `deleted`:
    /// whether `f` may match recycled entries.
    fn visible_matches(
        &mut self,
        ident: &Identity,
        f: &Filter,
        deleted: bool,
    ) -> Result<(Vec<StoredEntry>, Option<Arc<CallerAccess>>)> {
        let access = self.caller_access(ident)?;
        let schema = self.schema();
        let found = match &access {
            None => self.be().search(f, &schema, &ident.limits)?,
            Some(a) => {
                let mut found = self.be().search(&a.restrict(f, deleted), &schema, &ident.limits)?;
                found.retain(|e| a.visible(f, e));
                found
            }
        };
        if found.len() > ident.limits.search_max_results {
            return Err(OperationError::ResourceLimit(format!(
                "the search matched more than your limit of {} entries; narrow the filter",
                ident.limits.search_max_results
            )));
        }
        Ok((found, access))
    }

    /// How many live entries matching `pf` the caller may see. Answered from the indexes
    /// when the filter tests a single attribute and is fully indexed (every match then passed
    /// a positive term on that attribute, which restriction limited to where it is readable);
    /// otherwise counted from the visible matches, within the caller's limits.
    fn count(&mut self, ident: &Identity, pf: &ProtoFilter) -> Result<u64> {
        let f = self.filter_from_proto(ident, pf)?;
        let mut used = Vec::new();
        f.attributes(&mut used);
        used.sort_unstable();
        used.dedup();
        if used.len() == 1 {
            let restricted = match self.caller_access(ident)? {
                Some(a) => a.restrict(&f, false),
                None => f.clone(),
            };
            let schema = self.schema();
            if let Plan::Indexed(ids) = self.be().plan(&restricted, &schema)? {
                return Ok(ids.len());
            }
        }
        Ok(self.visible_matches(ident, &f, false)?.0.len() as u64)
    }

    /// Searches with a resolved filter on behalf of `ident`: within its limits, showing only
    /// the entries and attributes its access profiles let it read.
    fn search_filter(&mut self, ident: &Identity, f: &Filter, deleted: bool) -> Result<Vec<StoredEntry>> {
        let (found, access) = self.visible_matches(ident, f, deleted)?;
        Ok(match access {
            Some(a) => found.into_iter().map(|e| a.reduce(e)).collect(),
            None => found,
        })
    }

    /// Searches on behalf of `ident`: within its limits, showing only the entries and
    /// attributes its access profiles let it read.
    fn search(&mut self, ident: &Identity, pf: &ProtoFilter) -> Result<Vec<StoredEntry>> {
        let f = self.filter_from_proto(ident, pf)?;
        self.search_filter(ident, &f, false)
    }

    /// How a reference to `u` is shown: the target's spn, else its name, else the uuid.
    fn display_name(&mut self, u: Uuid) -> Result<String> {
        uncached_display_name(self, u)
    }

    /// The caller's view of an entry: strings, with references shown as the target's spn
    /// (or name, or uuid when it has neither).
    fn to_proto_entry(&mut self, e: &Entry) -> Result<ProtoEntry> {
        let mut out = ProtoEntry::default();
        for (attr, vs) in e.attrs() {
            let mut strs = Vec::with_capacity(vs.len());
            for v in vs {
                strs.push(match v {
                    Value::Refer(u) => self.display_name(*u)?,
                    Value::OauthScopeMap(u, scopes) => crate::value::scope_map_text(&self.display_name(*u)?, scopes),
                    Value::OauthClaimMap(m) => m.text(&self.display_name(m.group)?),
                    other => other.to_proto_string(),
                });
            }
            out.attrs.insert(attr.clone(), strs);
        }
        Ok(out)
    }
}

fn uncached_display_name<T: QueryServerTransaction + ?Sized>(txn: &mut T, u: Uuid) -> Result<String> {
    Ok(match txn.entry_by_uuid(u)? {
        Some(t) => {
            t.first("spn").or_else(|| t.first("name")).map(Value::to_proto_string).unwrap_or_else(|| u.to_string())
        }
        None => u.to_string(),
    })
}

pub struct QueryServerReadTransaction<'a> {
    be: BeRead<'a>,
    state: Arc<ServerState>,
    names: &'a Mutex<NameCache>,
}

impl<'a> QueryServerReadTransaction<'a> {
    pub(crate) fn new(be: BeRead<'a>, state: Arc<ServerState>, names: &'a Mutex<NameCache>) -> Self {
        QueryServerReadTransaction { be, state, names }
    }

    fn cached_name(&self, u: &Uuid) -> Option<String> {
        self.names.lock().unwrap_or_else(|p| p.into_inner()).get(self.state.generation, u)
    }
}

impl QueryServerTransaction for QueryServerReadTransaction<'_> {
    fn be(&mut self) -> &mut dyn BeTxn {
        &mut self.be
    }

    /// Group entries can be large, so the names references show are cached per generation.
    fn display_name(&mut self, u: Uuid) -> Result<String> {
        if let Some(n) = self.cached_name(&u) {
            return Ok(n);
        }
        let n = uncached_display_name(self, u)?;
        self.names.lock().unwrap_or_else(|p| p.into_inner()).insert(self.state.generation, u, n.clone());
        Ok(n)
    }
    fn state(&self) -> &ServerState {
        &self.state
    }
}
