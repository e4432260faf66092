//! The recycle bin in the engine: callers' deletes are reversible for a while, then entries
//! become tombstones, then disappear; names are free for reuse meanwhile.

use idm_core::builtins::UUID_IDM_ADMIN;
use idm_core::identity::{Identity, Limits};
use idm_core::proto::{Filter, OperationError};
use idm_core::server::{QueryServer, QueryServerTransaction};
use idm_testkit::*;
use std::time::Duration;

fn idm() -> Identity {
    Identity::user(UUID_IDM_ADMIN, Limits::admin())
}

fn as_idm(
    qs: &QueryServer,
    op: impl FnOnce(&mut idm_core::server::QueryServerWriteTransaction<'_>) -> Result<(), OperationError>,
) -> Result<(), OperationError> {
    let mut w = qs.write()?;
    op(&mut w)?;
    w.commit()
}

fn count(qs: &QueryServer, class: &str) -> usize {
    qs.read().unwrap().internal_search(&idm_core::filter::Filter::eq("class", class)).unwrap().len()
}

#[test]
fn delete_revive_reuse_and_purge() {
    let db = TestDb::new();
    let qs = db.open();
    create(&qs, &[person("alice"), group("team", &["alice"])]).unwrap();
    as_idm(&qs, |w| w.delete(&idm(), &eq("name", "alice")).map(drop)).unwrap();
    // Hidden from searches and resolution; references to it removed; still stored.
    assert!(get(&qs, "alice").is_none());
    assert!(get(&qs, "team").unwrap().get("member").is_none());
    assert_eq!(count(&qs, "recycled"), 1);
    assert_verified(&qs);
    // The bin shows it to those allowed.
    let mut r = qs.read().unwrap();
    assert_eq!(r.search_recycled(&idm(), &Filter::Pres("class".into())).unwrap().len(), 1);
    drop(r);

    // Reviving brings it back.
    as_idm(&qs, |w| w.revive(&idm(), "alice")).unwrap();
    assert!(get(&qs, "alice").is_some());
    assert_verified(&qs);

    // While deleted, its name may be reused; reviving it then is refused, naming the clash.
    as_idm(&qs, |w| w.delete(&idm(), &eq("name", "alice")).map(drop)).unwrap();
    create(&qs, &[person("alice")]).unwrap();
    assert_verified(&qs);
    let err = as_idm(&qs, |w| w.revive(&idm(), "alice")).unwrap_err();
    assert!(err.to_string().contains("alice"), "{err}");

    // Purging: old bin entries become tombstones, old tombstones go.
    let purge = |recycled: Duration, tomb: Duration| {
        let mut w = qs.write().unwrap();
        let n = w.purge_recycle_bin(recycled, tomb).unwrap();
        w.commit().unwrap();
        n
    };
    assert_eq!(purge(Duration::from_secs(3600), Duration::from_secs(3600)), (0, 0), "nothing is old enough yet");
    assert_eq!(purge(Duration::ZERO, Duration::from_secs(3600)), (1, 0));
    assert_eq!((count(&qs, "recycled"), count(&qs, "tombstone")), (0, 1));
    assert_verified(&qs);
    assert_eq!(purge(Duration::ZERO, Duration::ZERO), (0, 1));
    assert_eq!(count(&qs, "tombstone"), 0);
    assert_verified(&qs);
}

#[test]
fn a_deleted_group_confers_no_membership_until_revived() {
    let db = TestDb::new();
    let qs = db.open();
    create(&qs, &[person("dana"), group("inner", &["dana"]), group("outer", &["inner"])]).unwrap();
    let outer = get(&qs, "outer").unwrap().uuid().unwrap();
    assert!(get(&qs, "dana").unwrap().refs("memberof").any(|u| u == outer));
    as_idm(&qs, |w| w.delete(&idm(), &eq("name", "inner")).map(drop)).unwrap();
    assert!(get(&qs, "dana").unwrap().get("memberof").is_none());
    assert_verified(&qs);
    as_idm(&qs, |w| w.revive(&idm(), "inner")).unwrap();
    // inner keeps its own members; its membership of outer was removed with the delete.
    let dana = get(&qs, "dana").unwrap();
    let inner = get(&qs, "inner").unwrap().uuid().unwrap();
    assert!(dana.refs("memberof").any(|u| u == inner) && !dana.refs("memberof").any(|u| u == outer));
    assert_verified(&qs);
}
