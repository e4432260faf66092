//! Search limits apply to what a caller may see, and no answer tells a caller how many entries
//! matched on values it may not read: terms on unreadable attributes match nothing before the
//! planner runs, the result limit is applied after access control, and messages never carry
//! candidate counts.

use idm_core::builtins::{UUID_ANONYMOUS, UUID_IDM_ADMIN};
use idm_core::identity::{Identity, Limits};
use idm_core::proto::{Filter, OperationError, ProtoEntry};
use idm_core::server::{QueryServer, QueryServerTransaction};
use idm_testkit::*;

const PEOPLE: usize = 1_100;

fn setup() -> (TestDb, QueryServer, uuid::Uuid) {
    let db = TestDb::new();
    let qs = db.open();
    let people: Vec<ProtoEntry> = (0..PEOPLE)
        .map(|i| {
            let mut p = person(&format!("p{i:04}"));
            p.attrs.insert("mail".into(), vec![format!("p{i:04}@example.com")]);
            p
        })
        .collect();
    create(&qs, &people).unwrap();
    create(&qs, &[person("carol")]).unwrap();
    let carol = get(&qs, "carol").unwrap().uuid().unwrap();
    (db, qs, carol)
}

fn no_count(e: &OperationError) {
    let text = format!("{e} {e:?}");
    for n in [PEOPLE, PEOPLE + 1, PEOPLE + 2, PEOPLE + 3, PEOPLE + 4] {
        assert!(!text.contains(&n.to_string()), "the message carries a count: {text}");
    }
}

#[test]
fn unreadable_attributes_give_no_count_oracle() {
    let (_db, qs, carol) = setup();
    let mut r = qs.read().unwrap();
    for who in [Identity::user(carol, Limits::user()), Identity::user(UUID_ANONYMOUS, Limits::user())] {
        // Every person has a mail carol may not read: she learns nothing, not even how many.
        for f in [
            Filter::Sub("mail".into(), "@example".into()),
            Filter::Sub("mail".into(), "p0".into()),
            Filter::Pres("mail".into()),
            Filter::And(vec![Filter::Eq("class".into(), "person".into()), Filter::Pres("mail".into())]),
        ] {
            let found = r.search(&who, &f).unwrap_or_else(|e| panic!("{f:?}: {e}"));
            assert!(found.is_empty(), "{f:?}: {} entries", found.len());
        }
        // What she may read still counts against her limit, and she is told the limit only.
        let err = r.search(&who, &Filter::Eq("class".into(), "person".into())).unwrap_err();
        assert!(matches!(&err, OperationError::ResourceLimit(m) if m.contains("1000")), "{err}");
        no_count(&err);
    }
}

#[test]
fn the_result_limit_applies_after_access_control() {
    let (_db, qs, _) = setup();
    let mut r = qs.read().unwrap();
    // idm_admin may read mail: the same search now exceeds the (small) limit, without a count.
    let small = Limits { search_max_results: 50, ..Limits::user() };
    let idm = Identity::user(UUID_IDM_ADMIN, small.clone());
    let err = r.search(&idm, &Filter::Sub("mail".into(), "@example".into())).unwrap_err();
    assert!(matches!(&err, OperationError::ResourceLimit(m) if m.contains("50")), "{err}");
    no_count(&err);
    // Within the limit it answers exactly.
    let found = r.search(&idm, &Filter::Sub("mail".into(), "p000".into())).unwrap();
    assert_eq!(found.len(), 10);
    // A candidate set beyond what the caller may test is refused naming the limit only.
    let tiny = Identity::user(UUID_IDM_ADMIN, Limits { search_max_partial: 20, ..small });
    let err = r.search(&tiny, &Filter::Sub("mail".into(), "@example".into())).unwrap_err();
    assert!(matches!(&err, OperationError::ResourceLimit(m) if m.contains("20")), "{err}");
    no_count(&err);
}

#[test]
fn modify_and_delete_give_no_count_either() {
    let (_db, qs, carol) = setup();
    let who = Identity::user(carol, Limits::user());
    let f = Filter::Sub("mail".into(), "@example".into());
    // Today's code answered both with "search matched 1100 entries, more than the limit".
    let mut w = qs.write().unwrap();
    assert_eq!(w.delete(&who, &f).unwrap_err(), OperationError::NoMatchingEntries);
    drop(w);
    let mut w = qs.write().unwrap();
    let ml = idm_core::proto::ModifyList::new(vec![idm_core::proto::Modify::Present("displayname".into(), "X".into())]);
    assert_eq!(w.modify(&who, &f, &ml).unwrap_err(), OperationError::NoMatchingEntries);
}
