//! Property test: for random entries and random filters, the query planner (with indexes
//! built), the fallback used while an index is declared but not built, and a naive evaluator
//! written independently here all return the same entries.

use idm_core::be::Plan;
use idm_core::entry::Entry;
use idm_core::identity::Identity;
use idm_core::proto::{Filter, Modify, ModifyList, ProtoEntry};
use idm_core::server::{QueryServer, QueryServerTransaction};
use idm_core::value::Value;
use idm_testkit::*;
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

/// Attributes the generated entries use: (name, case-insensitive comparison).
const ATTRS: &[(&str, bool)] =
    &[("name", true), ("displayname", false), ("description", false), ("mail", true), ("extra", true), ("class", true)];

type Data = BTreeMap<String, BTreeMap<String, Vec<String>>>;

fn word() -> impl Strategy<Value = String> {
    // Overlapping patterns ("aba", "bab" but not "abab") make substring index candidates a
    // strict superset of the matches, which the planner must re-test.
    prop::sample::select(vec!["Ab", "ab", "AB", "aba", "bab", "abab", "xyx", "yxy", "Xy", "a1", "0b", "abxy", "yyx"])
        .prop_map(str::to_string)
}

fn text() -> impl Strategy<Value = String> {
    prop::collection::vec(word(), 1..4).prop_map(|ws| ws.join(" "))
}

fn entry_attrs() -> impl Strategy<Value = BTreeMap<String, Vec<String>>> {
    (
        "[abxy][abxy01]{2,7}",
        text(),
        prop::option::of(text()),
        prop::option::of("[abxy]{1,6}"),
        prop::collection::vec(text(), 0..3),
    )
        .prop_map(|(name, display, desc, mail_dom, extra)| {
            let mut m = BTreeMap::new();
            m.insert("class".into(), vec!["person".into(), "account".into()]);
            m.insert("displayname".into(), vec![display]);
            if let Some(d) = desc {
                m.insert("description".into(), vec![d]);
            }
            if let Some(d) = mail_dom {
                m.insert("mail".into(), vec![format!("{name}@{d}.Example.com")]);
            }
            if !extra.is_empty() {
                m.insert("extra".into(), extra);
            }
            m.insert("name".into(), vec![name]);
            m
        })
}

fn leaf() -> impl Strategy<Value = Filter> {
    let attr = prop::sample::select(ATTRS.iter().map(|a| a.0).collect::<Vec<_>>());
    prop_oneof![
        (attr.clone(), prop_oneof![text(), word(), Just("person".to_string())])
            .prop_map(|(a, v)| Filter::Eq(a.into(), v)),
        (
            attr.clone().prop_filter("class is not a substring target", |a| *a != "class"),
            prop_oneof![word(), "[abxy]{3,6}", "[abxy01 ]{1,5}"]
        )
            .prop_flat_map(|(a, v)| {
                prop::sample::select(vec![
                    Filter::Sub(a.into(), v.clone()),
                    Filter::Stw(a.into(), v.clone()),
                    Filter::Enw(a.into(), v),
                ])
            }),
        (prop::sample::select(vec!["displayname", "description", "extra"]), prop_oneof![word(), text()])
            .prop_map(|(a, v)| Filter::Lt(a.into(), v)),
        attr.prop_map(|a| Filter::Pres(a.into())),
    ]
}

fn filter() -> impl Strategy<Value = Filter> {
    leaf().prop_recursive(3, 16, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Filter::And),
            prop::collection::vec(inner.clone(), 0..4).prop_map(Filter::Or),
            inner.prop_map(|f| Filter::AndNot(Box::new(f))),
        ]
    })
}

fn insensitive(attr: &str) -> bool {
    ATTRS.iter().any(|(a, ci)| *a == attr && *ci)
}

/// The meaning of a filter, written without any of the engine's code.
fn naive(f: &Filter, e: &BTreeMap<String, Vec<String>>) -> bool {
    let values = |a: &str| e.get(a).cloned().unwrap_or_default();
    match f {
        Filter::Eq(a, v) => {
            values(a).iter().any(|x| if insensitive(a) { x.to_lowercase() == v.to_lowercase() } else { x == v })
        }
        Filter::Sub(a, v) => values(a).iter().any(|x| x.to_lowercase().contains(&v.to_lowercase())),
        Filter::Stw(a, v) => values(a).iter().any(|x| x.to_lowercase().starts_with(&v.to_lowercase())),
        Filter::Enw(a, v) => values(a).iter().any(|x| x.to_lowercase().ends_with(&v.to_lowercase())),
        Filter::Lt(a, v) => {
            values(a).iter().any(|x| if insensitive(a) { x.to_lowercase() < v.to_lowercase() } else { x < v })
        }
        Filter::Pres(a) => !values(a).is_empty(),
        Filter::And(fs) => fs.iter().all(|f| naive(f, e)),
        Filter::Or(fs) => fs.iter().any(|f| naive(f, e)),
        Filter::AndNot(f) => !naive(f, e),
        Filter::SelfUuid => false,
    }
}

fn setup(data: &Data) -> (TestDb, QueryServer) {
    let db = TestDb::new();
    let qs = db.open();
    // A new attribute declared with every index type, which stays unbuilt until reindex.
    create(
        &qs,
        &[attribute_type("extra", "UTF8STRING_INSENSITIVE", true, false, &["EQUALITY", "PRESENCE", "SUBSTRING"])],
    )
    .unwrap();
    modify(&qs, &eq("classname", "person"), &ModifyList::new(vec![Modify::Present("may".into(), "extra".into())]))
        .unwrap();
    let entries: Vec<ProtoEntry> = data.values().map(|attrs| ProtoEntry { attrs: attrs.clone() }).collect();
    create(&qs, &entries).unwrap();
    (db, qs)
}

fn names_of(entries: &[Entry], data: &Data) -> BTreeSet<String> {
    entries
        .iter()
        .filter_map(|e| e.first("name").and_then(Value::as_str).map(str::to_string))
        .filter(|n| data.contains_key(n))
        .collect()
}

/// Searches with `f` and checks the result against the naive answer; when the plan claims to
/// be exact, its candidates must be exactly the matches.
fn check(qs: &QueryServer, f: &Filter, data: &Data, want: &BTreeSet<String>, stage: &str) -> Result<(), TestCaseError> {
    let mut r = qs.read().unwrap();
    let found = r.search(&Identity::internal(), f).unwrap();
    prop_assert_eq!(
        &names_of(&found.iter().map(|s| s.entry.clone()).collect::<Vec<_>>(), data),
        want,
        "{} {:?}",
        stage,
        f
    );
    let internal = r.filter_from_proto(&Identity::internal(), f).unwrap();
    let schema = r.schema();
    let found_ids: BTreeSet<u64> = found.iter().map(|s| s.id).collect();
    match r.be().plan(&internal, &schema).unwrap() {
        Plan::Indexed(ids) => {
            prop_assert_eq!(ids.iter().collect::<BTreeSet<_>>(), found_ids, "{} exact plan {:?}", stage, f)
        }
        Plan::Partial(ids) => {
            prop_assert!(found_ids.iter().all(|i| ids.contains(*i)), "{} partial plan lost matches {:?}", stage, f)
        }
        Plan::AllIds => {}
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]

    #[test]
    fn planner_fallback_and_naive_agree(
        raw in prop::collection::vec(entry_attrs(), 1..40),
        filters in prop::collection::vec(filter(), 30),
    ) {
        let data: Data = raw.into_iter().map(|e| (e["name"][0].clone(), e)).collect();
        let (_db, qs) = setup(&data);
        let wants: Vec<BTreeSet<String>> = filters
            .iter()
            .map(|f| data.iter().filter(|(_, e)| naive(f, e)).map(|(n, _)| n.clone()).collect())
            .collect();
        for (f, want) in filters.iter().zip(&wants) {
            check(&qs, f, &data, want, "unbuilt")?;
        }
        let mut w = qs.write().unwrap();
        w.reindex(&mut ()).unwrap();
        w.commit().unwrap();
        for (f, want) in filters.iter().zip(&wants) {
            check(&qs, f, &data, want, "indexed")?;
        }
        assert_verified(&qs);
    }
}
