//! `verify`: checks every invariant the plugins and indexes maintain, from one snapshot, and
//! reports each problem with the entry and attribute at fault. Nothing is repaired.

use crate::Result;
use crate::be::{IdSet, Progress, entry_index_keys};
use crate::builtins::UUID_DOMAIN_INFO;
use crate::entry::{Entry, EntryId, ValueSet};
use crate::plugins::spn::expected_spn;
use crate::server::{QueryServerReadTransaction, QueryServerTransaction};
use crate::value::{IndexType, Value};
use idm_proto::ConsistencyError;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use uuid::Uuid;

#[derive(Debug, Default)]
pub struct VerifyReport {
    pub errors: Vec<ConsistencyError>,
    /// Conditions that are not corruption but need an operator's attention.
    pub warnings: Vec<String>,
    pub entries: u64,
}

impl VerifyReport {
    pub fn is_clean(&self) -> bool {
        self.errors.is_empty()
    }
}

fn attr_err(uuid: Uuid, attr: &str, detail: String) -> ConsistencyError {
    ConsistencyError::Attribute { uuid, attr: attr.to_string(), detail }
}

fn closure(start: &[Uuid], parents: &HashMap<Uuid, Vec<Uuid>>) -> BTreeSet<Uuid> {
    let mut all = BTreeSet::new();
    let mut stack: Vec<Uuid> = start.to_vec();
    while let Some(g) = stack.pop() {
        if all.insert(g) {
            stack.extend(parents.get(&g).into_iter().flatten().copied());
        }
    }
    all
}

fn refs_of(vs: Option<&ValueSet>) -> BTreeSet<Uuid> {
    vs.into_iter().flatten().filter_map(Value::as_uuid).collect()
}

/// An order-independent fingerprint of a set of (key, id) pairs: two sums of independent
/// 64-bit hashes plus a count. Comparing fingerprints checks an index against entry content in
/// constant memory; only an index whose fingerprint differs is examined key by key.
#[derive(Default, Clone, Copy, PartialEq, Eq, Debug)]
struct Fingerprint(u64, u64, u64);

impl Fingerprint {
    fn add(&mut self, key: &str, id: EntryId) {
        use std::hash::{Hash, Hasher};
        let mut a = std::collections::hash_map::DefaultHasher::new();
        (key, id).hash(&mut a);
        let mut b = std::collections::hash_map::DefaultHasher::new();
        (id, key, 0x5eed_u16).hash(&mut b);
        self.0 = self.0.wrapping_add(a.finish());
        self.1 = self.1.wrapping_add(b.finish());
        self.2 += 1;
    }
}

impl QueryServerReadTransaction<'_> {
    pub fn verify(&mut self, progress: &mut dyn Progress) -> Result<VerifyReport> {
        let mut r = VerifyReport::default();
        for problem in self.be().raw().integrity_check()? {
            r.errors.push(ConsistencyError::StorageIntegrity(problem));
        }
        if !r.errors.is_empty() {
            return Ok(r);
        }
        let schema = self.schema();
        let built = self.be().raw().built_indexes()?;
        for (t, a) in schema.declared_indexes().difference(&built) {
            r.warnings.push(format!("index {t} {a} is declared in schema but not built: run `kanidmd reindex`"));
        }
        let mut built_by_attr: HashMap<String, Vec<IndexType>> = HashMap::new();
        for (t, a) in &built {
            built_by_attr.entry(a.clone()).or_default().push(*t);
        }
        let total = self.be().raw().entry_count()?;

        // Pass 1: decoding, uuids, schema, uniqueness, index fingerprints, the group graph.
        progress.start("verifying entries", total * 2);
        let mut uuids: HashMap<Uuid, EntryId> = HashMap::new();
        let mut unique_seen: HashMap<(String, String), Uuid> = HashMap::new();
        let mut expected: HashMap<(IndexType, String), Fingerprint> = HashMap::new();
        let mut parents: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
        let mut domain: Option<String> = None;
        let unique: Vec<String> = schema.unique_attributes().map(str::to_string).collect();
        let mut errors = Vec::new();
        self.be().raw().all_entries(&mut |id, bytes| {
            progress.advance(1);
            let e = match Entry::decode(bytes) {
                Ok(e) => e,
                Err(err) => {
                    errors.push(ConsistencyError::EntryDecode { id, reason: err.to_string() });
                    return Ok(());
                }
            };
            let Some(u) = e.uuid() else {
                errors.push(ConsistencyError::EntryDecode { id, reason: "entry has no uuid".into() });
                return Ok(());
            };
            if let Some(other) = uuids.insert(u, id) {
                errors.push(ConsistencyError::Entry {
                    uuid: u,
                    detail: format!("uuid is used by entries {other} and {id}"),
                });
            }
            if u == UUID_DOMAIN_INFO {
                domain = e.first("domain_name").and_then(Value::as_str).map(str::to_string);
            }
            if let Err(err) = schema.check(&e) {
                errors.push(ConsistencyError::Entry {
                    uuid: u,
                    detail: format!("'{}' violates schema: {err}", e.label()),
                });
            }
            for attr in &unique {
                for v in e.get(attr).into_iter().flatten() {
                    let Some(k) = v.eq_key() else { continue };
                    if let Some(first) = unique_seen.insert((attr.clone(), k.clone()), u) {
                        errors.push(attr_err(u, attr, format!("value '{k}' is also used by {first}")));
                    }
                }
            }
            for (attr, _) in e.attrs() {
                for t in built_by_attr.get(attr.as_str()).into_iter().flatten() {
                    let fp = expected.entry((*t, attr.clone())).or_default();
                    for k in entry_index_keys(&e, *t, attr) {
                        fp.add(&k, id);
                    }
                }
            }
            if e.has_class("group") {
                for m in e.refs("member") {
                    parents.entry(m).or_default().push(u);
                }
            }
            Ok(())
        })?;
        r.errors.append(&mut errors);

        // Indexes: compare fingerprints; examine in detail only those that differ.
        for (t, a) in &built {
            let mut stored = Fingerprint::default();
            self.be().raw().index_contents(*t, a, &mut |key, ids| {
                ids.iter().for_each(|id| stored.add(key, id));
                Ok(())
            })?;
            if stored != expected.get(&(*t, a.clone())).copied().unwrap_or_default() {
                let mut found = self.index_differences(*t, a)?;
                r.errors.append(&mut found);
            }
        }

        // Pass 2: references, membership and spns, which need the whole picture from pass 1.
        let ref_attrs: Vec<String> = schema.reference_attributes().map(str::to_string).collect();
        let mut memo: HashMap<Uuid, BTreeSet<Uuid>> = HashMap::new();
        let mut errors = Vec::new();
        self.be().raw().all_entries(&mut |_, bytes| {
            progress.advance(1);
            let Ok(e) = Entry::decode(bytes) else { return Ok(()) };
            let Some(u) = e.uuid() else { return Ok(()) };
            check_entry(&e, u, &ref_attrs, &uuids, &parents, &mut memo, domain.as_deref(), &mut errors);
            Ok(())
        })?;
        r.errors.append(&mut errors);
        progress.finish();
        r.entries = total;
        Ok(r)
    }

    /// Lists every missing or extra key of one index, comparing it with entry content.
    fn index_differences(&mut self, t: IndexType, a: &str) -> Result<Vec<ConsistencyError>> {
        let mut want: BTreeMap<String, IdSet> = BTreeMap::new();
        self.be().raw().all_entries(&mut |id, bytes| {
            if let Ok(e) = Entry::decode(bytes) {
                for k in entry_index_keys(&e, t, a) {
                    want.entry(k).or_default().insert(id);
                }
            }
            Ok(())
        })?;
        let index_err = |key: &str, detail: String| ConsistencyError::Index {
            itype: t.to_string(),
            attr: a.to_string(),
            key: key.to_string(),
            detail,
        };
        let ids_of = |s: &IdSet| s.iter().collect::<Vec<_>>();
        let mut found = Vec::new();
        self.be().raw().index_contents(t, a, &mut |key, ids| {
            match want.remove(key) {
                None => found
                    .push(index_err(key, format!("extra key listing ids {:?} that no entry produces", ids_of(&ids)))),
                Some(w) if w != ids => found.push(index_err(
                    key,
                    format!("ids differ: missing {:?}, extra {:?}", ids_of(&(&w - &ids)), ids_of(&(&ids - &w))),
                )),
                Some(_) => {}
            }
            Ok(())
        })?;
        for (key, ids) in want {
            found.push(index_err(&key, format!("missing key for ids {:?}", ids_of(&ids))));
        }
        Ok(found)
    }
}

#[allow(clippy::too_many_arguments)]
fn check_entry(
    e: &Entry,
    u: Uuid,
    ref_attrs: &[String],
    uuids: &HashMap<Uuid, EntryId>,
    parents: &HashMap<Uuid, Vec<Uuid>>,
    memo: &mut HashMap<Uuid, BTreeSet<Uuid>>,
    domain: Option<&str>,
    errors: &mut Vec<ConsistencyError>,
) {
    for attr in ref_attrs {
        for target in e.refs(attr) {
            if !uuids.contains_key(&target) {
                errors.push(attr_err(u, attr, format!("refers to {target}, which does not exist")));
            }
        }
    }
    let direct: Vec<Uuid> = parents.get(&u).cloned().unwrap_or_default();
    let want_direct: BTreeSet<Uuid> = direct.iter().copied().collect();
    let want_all = memo.entry(u).or_insert_with(|| closure(&direct, parents)).clone();
    for (attr, want) in [("directmemberof", &want_direct), ("memberof", &want_all)] {
        let have = refs_of(e.get(attr));
        if &have != want {
            errors.push(attr_err(
                u,
                attr,
                format!(
                    "is {:?} but group membership says {:?}",
                    have.iter().map(Uuid::to_string).collect::<Vec<_>>(),
                    want.iter().map(Uuid::to_string).collect::<Vec<_>>()
                ),
            ));
        }
    }
    if let Some(domain) = domain {
        let want = expected_spn(e, domain);
        let have = e.first("spn").cloned();
        if want != have {
            errors.push(attr_err(
                u,
                "spn",
                format!(
                    "is {} but should be {}",
                    have.map(|v| v.to_proto_string()).unwrap_or_else(|| "absent".into()),
                    want.map(|v| v.to_proto_string()).unwrap_or_else(|| "absent".into())
                ),
            ));
        }
    }
}
