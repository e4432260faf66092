//! `verify`: checks every invariant the plugins and indexes maintain and reports each problem
//! with the entry and attribute at fault. Nothing is repaired.
//!
//! One scan of the entries gathers everything: schema validity, uniqueness, a fingerprint of
//! the index keys the entries should produce, the group graph, and a small summary per entry
//! for the checks that need the whole database (references, memberOf, SPNs). Indexes are
//! compared by fingerprint in constant memory; only an index whose fingerprint differs is
//! examined key by key to name the problem.

use crate::Result;
use crate::be::{IdSet, Progress, entry_index_keys};
use crate::builtins::UUID_DOMAIN_INFO;
use crate::entry::{Entry, EntryId};
use crate::plugins::spn::has_spn;
use crate::server::{QueryServer, QueryServerReadTransaction, QueryServerTransaction};
use crate::value::{IndexType, Value};
use idm_proto::ConsistencyError;
use rustc_hash::FxHashMap;
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

/// An order-independent fingerprint of a set of (key, id) pairs: two sums of independent
/// 64-bit hashes plus a count.
#[derive(Default, Clone, Copy, PartialEq, Eq, Debug)]
struct Fingerprint(u64, u64, u64);

impl Fingerprint {
    fn add(&mut self, key: &str, id: EntryId) {
        use std::hash::Hasher;
        // Corruption is not adversarial, so a fast hash suffices; two seeds make a collision
        // that hides a real difference vanishingly unlikely.
        let mut a = rustc_hash::FxHasher::with_seed(0x51_7cc1_b727_220a);
        a.write(key.as_bytes());
        a.write_u64(id);
        let mut b = rustc_hash::FxHasher::with_seed(0x2545_f491_4f6c_dd1d);
        b.write_u64(id.rotate_left(17));
        b.write(key.as_bytes());
        self.0 = self.0.wrapping_add(a.finish());
        self.1 = self.1.wrapping_add(b.finish().rotate_left(29) ^ id);
        self.2 += 1;
    }
}

type Fingerprints = FxHashMap<(IndexType, String), Fingerprint>;

/// What the whole-database checks need to know about one entry.
struct Summary {
    uuid: Uuid,
    /// (reference attribute, target) pairs.
    refs: Vec<(usize, Uuid)>,
    direct: BTreeSet<Uuid>,
    all: BTreeSet<Uuid>,
    spn: Option<Value>,
    /// The name, when the entry should carry an spn.
    spn_name: Option<String>,
}

/// What one scan of the entries found.
#[derive(Default)]
struct EntryScan {
    errors: Vec<ConsistencyError>,
    uuids: FxHashMap<Uuid, EntryId>,
    expected: Fingerprints,
    parents: HashMap<Uuid, Vec<Uuid>>,
    summaries: Vec<Summary>,
    domain: Option<String>,
}

impl QueryServer {
    /// Verifies using both cores: one thread reads the entries while another reads the indexes
    /// and runs the storage integrity check. The two read separate snapshots, which hold the
    /// same content only while nothing writes, so this is for offline use (under the lock).
    pub fn verify(&self, progress: &mut dyn Progress) -> Result<VerifyReport> {
        let mut entries = self.read()?;
        let mut indexes = self.read()?;
        let built = indexes.be().raw().built_indexes()?;
        std::thread::scope(|s| {
            let stored = s.spawn(move || -> Result<(Vec<String>, Fingerprints)> {
                let problems = indexes.be().raw().integrity_check()?;
                let fps = indexes.stored_fingerprints()?;
                Ok((problems, fps))
            });
            let scan = entries.scan_entries(progress, &built);
            let (problems, stored) = stored.join().unwrap_or_else(|p| std::panic::resume_unwind(p))?;
            entries.finish_verify(scan?, problems, stored, progress)
        })
    }
}

impl QueryServerReadTransaction<'_> {
    /// Verifies this snapshot on one thread.
    pub fn verify(&mut self, progress: &mut dyn Progress) -> Result<VerifyReport> {
        let problems = self.be().raw().integrity_check()?;
        let built = self.be().raw().built_indexes()?;
        let scan = self.scan_entries(progress, &built)?;
        let stored = self.stored_fingerprints()?;
        self.finish_verify(scan, problems, stored, progress)
    }

    fn stored_fingerprints(&mut self) -> Result<Fingerprints> {
        let mut out = Fingerprints::default();
        for (t, a) in self.be().raw().built_indexes()? {
            let mut fp = Fingerprint::default();
            self.be().raw().index_contents(t, &a, &mut |key, ids| {
                ids.iter().for_each(|id| fp.add(key, id));
                Ok(())
            })?;
            out.insert((t, a), fp);
        }
        Ok(out)
    }

    fn scan_entries(
        &mut self,
        progress: &mut dyn Progress,
        built: &BTreeSet<(IndexType, String)>,
    ) -> Result<EntryScan> {
        let schema = self.schema();
        let mut built_by_attr: HashMap<String, Vec<IndexType>> = HashMap::new();
        for (t, a) in built {
            built_by_attr.entry(a.clone()).or_default().push(*t);
        }
        let unique: Vec<String> = schema.unique_attributes().map(str::to_string).collect();
        let ref_attrs: Vec<String> = schema.reference_attributes().map(str::to_string).collect();
        let mut unique_seen: FxHashMap<(usize, String), Uuid> = FxHashMap::default();
        let total = self.be().raw().entry_count()?;
        progress.start("verifying entries", total);
        let mut s = EntryScan::default();
        self.be().raw().all_entries(&mut |id, bytes| {
            progress.advance(1);
            let e = match Entry::decode(bytes) {
                Ok(e) => e,
                Err(err) => {
                    s.errors.push(ConsistencyError::EntryDecode { id, reason: err.to_string() });
                    return Ok(());
                }
            };
            let Some(u) = e.uuid() else {
                s.errors.push(ConsistencyError::EntryDecode { id, reason: "entry has no uuid".into() });
                return Ok(());
            };
            if let Some(other) = s.uuids.insert(u, id) {
                s.errors.push(ConsistencyError::Entry {
                    uuid: u,
                    detail: format!("uuid is used by entries {other} and {id}"),
                });
            }
            if u == UUID_DOMAIN_INFO {
                s.domain = e.first_str("domain_name").map(str::to_string);
            }
            if let Err(err) = schema.check(&e) {
                s.errors.push(ConsistencyError::Entry {
                    uuid: u,
                    detail: format!("'{}' violates schema: {err}", e.label()),
                });
            }
            // Deleted entries keep their values but no longer hold them.
            let live = !(e.has_class("recycled") || e.has_class("tombstone"));
            for (i, attr) in unique.iter().enumerate().filter(|_| live) {
                for v in e.get(attr).into_iter().flatten() {
                    let Some(k) = v.eq_key() else { continue };
                    if let Some(first) = unique_seen.insert((i, k.clone()), u) {
                        s.errors.push(attr_err(u, attr, format!("value '{k}' is also used by {first}")));
                    }
                }
            }
            for (attr, _) in e.attrs() {
                for t in built_by_attr.get(attr.as_str()).into_iter().flatten() {
                    let fp = s.expected.entry((*t, attr.clone())).or_default();
                    for k in entry_index_keys(&e, *t, attr) {
                        fp.add(&k, id);
                    }
                }
            }
            let deleted = e.has_class("recycled") || e.has_class("tombstone");
            if e.has_class("group") && !deleted {
                for m in e.refs("member") {
                    s.parents.entry(m).or_default().push(u);
                }
            }
            s.summaries.push(Summary {
                uuid: u,
                refs: ref_attrs.iter().enumerate().flat_map(|(i, a)| e.refs(a).map(move |t| (i, t))).collect(),
                direct: e.refs("directmemberof").collect(),
                all: e.refs("memberof").collect(),
                spn: e.first("spn").cloned(),
                spn_name: has_spn(&e).then(|| e.first_str("name").map(str::to_string)).flatten(),
            });
            Ok(())
        })?;
        progress.finish();
        let _ = ref_attrs;
        Ok(s)
    }

    fn finish_verify(
        &mut self,
        mut scan: EntryScan,
        storage_problems: Vec<String>,
        stored: Fingerprints,
        progress: &mut dyn Progress,
    ) -> Result<VerifyReport> {
        let mut r = VerifyReport { entries: scan.summaries.len() as u64, ..Default::default() };
        r.errors.extend(storage_problems.into_iter().map(ConsistencyError::StorageIntegrity));
        let schema = self.schema();
        let built: BTreeSet<(IndexType, String)> = stored.keys().cloned().collect();
        for (t, a) in schema.declared_indexes().difference(&built) {
            r.warnings.push(format!("index {t} {a} is declared in schema but not built: run `kanidmd reindex`"));
        }
        r.errors.append(&mut scan.errors);
        for ((t, a), fp) in &stored {
            if *fp != scan.expected.get(&(*t, a.clone())).copied().unwrap_or_default() {
                let mut found = self.index_differences(*t, a)?;
                r.errors.append(&mut found);
            }
        }
        let ref_attrs: Vec<String> = schema.reference_attributes().map(str::to_string).collect();
        let mut memo: HashMap<Uuid, BTreeSet<Uuid>> = HashMap::new();
        progress.start("checking references and membership", scan.summaries.len() as u64);
        for s in &scan.summaries {
            for (i, target) in &s.refs {
                if !scan.uuids.contains_key(target) {
                    r.errors.push(attr_err(
                        s.uuid,
                        &ref_attrs[*i],
                        format!("refers to {target}, which does not exist"),
                    ));
                }
            }
            let direct: Vec<Uuid> = scan.parents.get(&s.uuid).cloned().unwrap_or_default();
            let want_direct: BTreeSet<Uuid> = direct.iter().copied().collect();
            let want_all = crate::plugins::group_closure(&direct, &scan.parents, &mut memo);
            for (attr, have, want) in [("directmemberof", &s.direct, &want_direct), ("memberof", &s.all, &want_all)] {
                if have != want {
                    r.errors.push(attr_err(
                        s.uuid,
                        attr,
                        format!(
                            "is {:?} but group membership says {:?}",
                            have.iter().map(Uuid::to_string).collect::<Vec<_>>(),
                            want.iter().map(Uuid::to_string).collect::<Vec<_>>()
                        ),
                    ));
                }
            }
            if let Some(domain) = &scan.domain {
                let want = s.spn_name.as_ref().map(|n| Value::Spn(n.clone(), domain.clone()));
                if want != s.spn {
                    let show =
                        |v: &Option<Value>| v.as_ref().map(Value::to_proto_string).unwrap_or_else(|| "absent".into());
                    r.errors.push(attr_err(
                        s.uuid,
                        "spn",
                        format!("is {} but should be {}", show(&s.spn), show(&want)),
                    ));
                }
            }
            progress.advance(1);
        }
        progress.finish();
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
