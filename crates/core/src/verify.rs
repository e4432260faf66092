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

type Expected = HashMap<(IndexType, String), BTreeMap<String, IdSet>>;

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
        let total = self.be().raw().entry_count()?;

        // Pass 1: decoding, uuids, schema, uniqueness, expected index keys, the group graph.
        progress.start("verifying entries", total * 2);
        let mut uuids: HashMap<Uuid, EntryId> = HashMap::new();
        let mut unique_seen: HashMap<(String, String), Uuid> = HashMap::new();
        let mut expected: Expected = HashMap::new();
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
            if let Err(err) = schema.validate(e.clone()) {
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
            for (t, a) in &built {
                for k in entry_index_keys(&e, *t, a) {
                    expected.entry((*t, a.clone())).or_default().entry(k).or_default().insert(id);
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

        // Indexes: every stored key must be expected with the same ids, and vice versa.
        for (t, a) in &built {
            let mut want = expected.remove(&(*t, a.clone())).unwrap_or_default();
            let mut found = Vec::new();
            self.be().raw().index_contents(*t, a, &mut |key, ids| {
                match want.remove(key) {
                    None => found.push(ConsistencyError::Index {
                        itype: t.to_string(),
                        attr: a.clone(),
                        key: key.to_string(),
                        detail: format!(
                            "extra key listing ids {:?} that no entry produces",
                            ids.iter().collect::<Vec<_>>()
                        ),
                    }),
                    Some(w) if w != ids => found.push(ConsistencyError::Index {
                        itype: t.to_string(),
                        attr: a.clone(),
                        key: key.to_string(),
                        detail: format!(
                            "ids differ: missing {:?}, extra {:?}",
                            (&w - &ids).iter().collect::<Vec<_>>(),
                            (&ids - &w).iter().collect::<Vec<_>>()
                        ),
                    }),
                    Some(_) => {}
                }
                Ok(())
            })?;
            for (key, ids) in want {
                found.push(ConsistencyError::Index {
                    itype: t.to_string(),
                    attr: a.clone(),
                    key,
                    detail: format!("missing key for ids {:?}", ids.iter().collect::<Vec<_>>()),
                });
            }
            r.errors.append(&mut found);
        }

        // Pass 2: references, membership and spns, which need the whole picture from pass 1.
        let ref_attrs: Vec<String> = schema.reference_attributes().map(str::to_string).collect();
        let mut memo: HashMap<Uuid, BTreeSet<Uuid>> = HashMap::new();
        let mut errors = Vec::new();
        self.be().raw().all_entries(&mut |_, bytes| {
            progress.advance(1);
            let Ok(e) = Entry::decode(bytes) else {
                return Ok(());
            };
            let Some(u) = e.uuid() else { return Ok(()) };
            check_entry(&e, u, &ref_attrs, &uuids, &parents, &mut memo, domain.as_deref(), &mut errors);
            Ok(())
        })?;
        r.errors.append(&mut errors);
        progress.finish();
        r.entries = total;
        Ok(r)
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
