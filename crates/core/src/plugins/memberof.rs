//! memberOf: every entry carries `directmemberof` (groups listing it in `member`) and
//! `memberof` (every group reachable through nesting). Recomputed after each write for the
//! entries whose membership could have changed, in the same transaction; cycles terminate
//! because each group is visited once.

use crate::entry::{Entry, EntryId, StoredEntry, ValueSet};
use crate::filter::Filter;
use crate::identity::Identity;
use crate::server::{QueryServerTransaction, QueryServerWriteTransaction};
use crate::value::Value;
use crate::{OperationError, Result};
use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use uuid::Uuid;

pub const DERIVED: [&str; 2] = ["memberof", "directmemberof"];

/// Groups in the recycle bin confer no membership.
fn is_group(e: &Entry) -> bool {
    e.has_class("group") && !e.has_class("recycled") && !e.has_class("tombstone")
}

fn members(e: &Entry) -> BTreeSet<Uuid> {
    if is_group(e) { e.refs("member").collect() } else { BTreeSet::new() }
}

fn refuse_derived(attr: &str) -> OperationError {
    OperationError::InvalidAttribute(format!(
        "{attr} is maintained by the server; change group membership through the group's 'member' attribute"
    ))
}

pub(crate) fn pre_create(ident: &Identity, cands: &mut [Entry]) -> Result<()> {
    for e in cands.iter_mut() {
        for attr in DERIVED {
            if e.has(attr) && !ident.is_internal() {
                return Err(refuse_derived(attr));
            }
            e.purge(attr);
        }
    }
    Ok(())
}

pub(crate) fn pre_modify(ident: &Identity, pairs: &[(StoredEntry, Entry)]) -> Result<()> {
    if ident.is_internal() {
        return Ok(());
    }
    for (old, new) in pairs {
        for attr in DERIVED {
            if old.get(attr) != new.get(attr) {
                return Err(refuse_derived(attr));
            }
        }
    }
    Ok(())
}

pub(crate) fn post_create(qs: &mut QueryServerWriteTransaction, created: &[StoredEntry]) -> Result<()> {
    let seeds: BTreeSet<Uuid> = created.iter().flat_map(|c| members(c)).collect();
    update(qs, seeds, &HashSet::new())
}

pub(crate) fn post_modify(qs: &mut QueryServerWriteTransaction, changed: &[(StoredEntry, StoredEntry)]) -> Result<()> {
    let mut seeds = BTreeSet::new();
    for (o, n) in changed {
        let (before, after) = (members(o), members(n));
        seeds.extend(before.symmetric_difference(&after));
        // Moving into or out of the recycle bin changes the entry's own membership too.
        if o.has_class("recycled") != n.has_class("recycled") {
            seeds.extend(n.uuid());
        }
    }
    update(qs, seeds, &HashSet::new())
}

pub(crate) fn post_delete(qs: &mut QueryServerWriteTransaction, deleted: &[StoredEntry]) -> Result<()> {
    let gone: HashSet<Uuid> = deleted.iter().filter_map(|d| d.uuid()).collect();
    let seeds = deleted.iter().flat_map(|d| members(d)).collect();
    update(qs, seeds, &gone)
}

/// Groups that list `u` as a member, memoised for one recomputation.
pub(crate) fn parents(
    qs: &mut dyn QueryServerTransaction,
    u: Uuid,
    cache: &mut HashMap<Uuid, Vec<Uuid>>,
) -> Result<Vec<Uuid>> {
    if let Some(p) = cache.get(&u) {
        return Ok(p.clone());
    }
    let f = Filter::And(vec![
        Filter::eq("class", "group"),
        Filter::eq_uuid("member", u),
        Filter::AndNot(Box::new(Filter::Or(vec![Filter::eq("class", "recycled"), Filter::eq("class", "tombstone")]))),
    ]);
    let p = qs.search_uuids(&f)?;
    cache.insert(u, p.clone());
    Ok(p)
}

/// The membership an entry should have: (direct groups, all groups through nesting).
pub(crate) fn expected(
    qs: &mut dyn QueryServerTransaction,
    u: Uuid,
    cache: &mut HashMap<Uuid, Vec<Uuid>>,
) -> Result<(ValueSet, ValueSet)> {
    let direct = parents(qs, u, cache)?;
    let mut all = BTreeSet::new();
    let mut stack = direct.clone();
    while let Some(g) = stack.pop() {
        if all.insert(g) {
            stack.extend(parents(qs, g, cache)?);
        }
    }
    Ok((direct.into_iter().map(Value::Refer).collect(), all.into_iter().map(Value::Refer).collect()))
}

/// `start` and every group reachable from it through `member` edges (`parents` maps an entry to
/// the groups that list it), memoised per start group. For whole-database passes (verify,
/// restore) that hold the membership graph in memory.
pub fn group_closure(
    start: &[Uuid],
    parents: &HashMap<Uuid, Vec<Uuid>>,
    memo: &mut HashMap<Uuid, BTreeSet<Uuid>>,
) -> BTreeSet<Uuid> {
    let mut all = BTreeSet::new();
    for g in start {
        if !memo.contains_key(g) {
            let mut reach = BTreeSet::new();
            let mut stack = vec![*g];
            while let Some(x) = stack.pop() {
                for p in parents.get(&x).into_iter().flatten() {
                    if reach.insert(*p) {
                        stack.push(*p);
                    }
                }
            }
            memo.insert(*g, reach);
        }
        all.insert(*g);
        all.extend(memo.get(g).into_iter().flatten().copied());
    }
    all
}

/// Entries recomputed per step, bounding memory on bulk membership changes.
const CHUNK: usize = 4096;

/// Recomputes membership for `seeds` and everything nested below them.
fn update(qs: &mut QueryServerWriteTransaction, seeds: BTreeSet<Uuid>, gone: &HashSet<Uuid>) -> Result<()> {
    if seeds.is_empty() {
        return Ok(());
    }
    // Walk down from the seeds; only groups need loading, to follow their members.
    let groups = qs.search_ids(&Filter::eq("class", "group"))?;
    let mut affected: HashSet<Uuid> = HashSet::new();
    let mut order: Vec<EntryId> = Vec::new();
    let mut queue: VecDeque<Uuid> = seeds.into_iter().collect();
    while let Some(u) = queue.pop_front() {
        if gone.contains(&u) || !affected.insert(u) {
            continue;
        }
        let Some(id) = qs.be().id_for_uuid(u)? else {
            continue;
        };
        order.push(id);
        if groups.contains(id)
            && let Some(g) = qs.be().entry_by_id(id)?
        {
            queue.extend(members(&g).into_iter().filter(|m| !affected.contains(m)));
        }
    }
    // Only `member` defines membership and it does not change below, so the parent cache
    // stays valid across chunks.
    let mut cache = HashMap::new();
    for chunk in order.chunks(CHUNK) {
        let mut pairs = Vec::new();
        for id in chunk {
            let Some(e) = qs.be().entry_by_id(*id)? else {
                continue;
            };
            let Some(u) = e.uuid() else { continue };
            let (direct, all) = expected(qs, u, &mut cache)?;
            let empty = ValueSet::new();
            if e.get("directmemberof").unwrap_or(&empty) != &direct || e.get("memberof").unwrap_or(&empty) != &all {
                let mut n = e.entry.clone();
                n.set("directmemberof", direct);
                n.set("memberof", all);
                super::credential::guard(&e, &mut n);
                pairs.push((e, n));
            }
        }
        qs.write_derived(pairs)?;
    }
    Ok(())
}
