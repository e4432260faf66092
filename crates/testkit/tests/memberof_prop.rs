//! Property test: on random group graphs (nesting and cycles included), after every create,
//! modify and delete, each entry's `directmemberof` and `memberof` equal the graph's direct
//! parents and transitive closure, and deleting an entry removes every reference to it.

use idm_core::proto::{Modify, ModifyList};
use idm_core::value::Value;
use idm_testkit::*;
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

const PERSONS: usize = 4;
const GROUPS: usize = 5;

#[derive(Debug, Clone)]
enum Op {
    Add(usize, usize),
    Remove(usize, usize),
    Delete(usize),
    Recreate(usize),
}

fn name(i: usize) -> String {
    if i < PERSONS { format!("p{i}") } else { format!("g{}", i - PERSONS) }
}

fn op() -> impl Strategy<Value = Op> {
    let g = PERSONS..PERSONS + GROUPS;
    let any = 0..PERSONS + GROUPS;
    prop_oneof![
        4 => (g.clone(), any.clone()).prop_map(|(g, t)| Op::Add(g, t)),
        2 => (g, any.clone()).prop_map(|(g, t)| Op::Remove(g, t)),
        1 => any.clone().prop_map(Op::Delete),
        1 => any.prop_map(Op::Recreate),
    ]
}

/// The model: which entries exist and each group's members.
#[derive(Default)]
struct Model {
    exists: BTreeSet<usize>,
    members: BTreeMap<usize, BTreeSet<usize>>,
}

impl Model {
    fn parents(&self, x: usize) -> BTreeSet<usize> {
        self.members.iter().filter(|(g, ms)| self.exists.contains(g) && ms.contains(&x)).map(|(g, _)| *g).collect()
    }

    fn closure(&self, x: usize) -> BTreeSet<usize> {
        let mut all = BTreeSet::new();
        let mut stack: Vec<usize> = self.parents(x).into_iter().collect();
        while let Some(g) = stack.pop() {
            if all.insert(g) {
                stack.extend(self.parents(g));
            }
        }
        all
    }
}

fn entry_for(i: usize) -> idm_core::proto::ProtoEntry {
    if i < PERSONS { person(&name(i)) } else { group(&name(i), &[]) }
}

fn check(qs: &idm_core::server::QueryServer, m: &Model) -> Result<(), TestCaseError> {
    let all = dump(qs);
    let uuid_name: BTreeMap<uuid::Uuid, String> =
        all.iter().filter_map(|(u, e)| e.first("name").and_then(Value::as_str).map(|n| (*u, n.to_string()))).collect();
    let names = |e: &idm_core::entry::Entry, attr: &str| -> BTreeSet<String> {
        e.refs(attr).map(|u| uuid_name.get(&u).cloned().unwrap_or_else(|| format!("dangling {u}"))).collect()
    };
    for i in 0..PERSONS + GROUPS {
        let e = get(qs, &name(i));
        prop_assert_eq!(e.is_some(), m.exists.contains(&i), "existence of {}", name(i));
        let Some(e) = e else { continue };
        let want_direct: BTreeSet<String> = m.parents(i).into_iter().map(name).collect();
        let want_all: BTreeSet<String> = m.closure(i).into_iter().map(name).collect();
        prop_assert_eq!(names(&e, "directmemberof"), want_direct, "directmemberof of {}", name(i));
        prop_assert_eq!(names(&e, "memberof"), want_all, "memberof of {}", name(i));
        if i >= PERSONS {
            let want_members: BTreeSet<String> =
                m.members.get(&i).into_iter().flatten().filter(|x| m.exists.contains(x)).map(|x| name(*x)).collect();
            prop_assert_eq!(names(&e, "member"), want_members, "members of {}", name(i));
        }
    }
    // No reference anywhere points at an entry that no longer exists.
    for e in all.values() {
        for (attr, vs) in e.attrs() {
            for v in vs {
                if let Value::Refer(u) = v {
                    prop_assert!(all.contains_key(u), "{} of {} refers to deleted {}", attr, e.label(), u);
                }
            }
        }
    }
    assert_verified(qs);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]

    #[test]
    fn memberof_is_the_transitive_closure(ops in prop::collection::vec(op(), 1..25)) {
        let db = TestDb::new();
        let qs = db.open();
        let mut m = Model::default();
        let all: Vec<_> = (0..PERSONS + GROUPS).map(entry_for).collect();
        create(&qs, &all).unwrap();
        m.exists.extend(0..PERSONS + GROUPS);
        check(&qs, &m)?;
        for op in ops {
            let member_change = |g: usize, t: usize, add: bool| {
                let mv = if add { Modify::Present("member".into(), name(t)) } else { Modify::Removed("member".into(), name(t)) };
                modify(&qs, &eq("name", &name(g)), &ModifyList::new(vec![mv])).unwrap();
            };
            match op {
                Op::Add(g, t) if m.exists.contains(&g) && m.exists.contains(&t) => {
                    member_change(g, t, true);
                    m.members.entry(g).or_default().insert(t);
                }
                Op::Remove(g, t) if m.exists.contains(&g) && m.exists.contains(&t) => {
                    member_change(g, t, false);
                    m.members.entry(g).or_default().remove(&t);
                }
                Op::Delete(t) if m.exists.contains(&t) => {
                    delete(&qs, &eq("name", &name(t))).unwrap();
                    m.exists.remove(&t);
                    m.members.remove(&t);
                    m.members.values_mut().for_each(|ms| { ms.remove(&t); });
                }
                Op::Recreate(t) if !m.exists.contains(&t) => {
                    create(&qs, &[entry_for(t)]).unwrap();
                    m.exists.insert(t);
                }
                _ => continue,
            }
            check(&qs, &m)?;
        }
    }
}

#[test]
fn nested_groups_and_a_cycle() {
    let db = TestDb::new();
    let qs = db.open();
    create(&qs, &[person("ann"), group("inner", &["ann"]), group("middle", &["inner"]), group("outer", &["middle"])])
        .unwrap();
    // Close a cycle: outer is a member of inner.
    modify(&qs, &eq("name", "inner"), &ModifyList::new(vec![Modify::Present("member".into(), "outer".into())]))
        .unwrap();
    let groups_of = |n: &str| -> BTreeSet<String> {
        let all = dump(&qs);
        let e = get(&qs, n).unwrap();
        e.refs("memberof")
            .map(|u| all[&u].first("name").and_then(Value::as_str).unwrap_or_default().to_string())
            .collect()
    };
    let all3: BTreeSet<String> = ["inner", "middle", "outer"].into_iter().map(str::to_string).collect();
    assert_eq!(groups_of("ann"), all3);
    assert_eq!(groups_of("inner"), all3, "a group in a cycle is transitively a member of itself");
    // Deleting middle breaks the chain: outer (empty now) is still a member of inner.
    delete(&qs, &eq("name", "middle")).unwrap();
    assert_eq!(groups_of("ann"), ["inner"].into_iter().map(str::to_string).collect());
    assert_eq!(groups_of("outer"), ["inner"].into_iter().map(str::to_string).collect());
    assert_verified(&qs);
}
