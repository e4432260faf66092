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
    let binned = r.search_recycled(&idm(), &Filter::Pres("class".into())).unwrap();
    assert_eq!(binned.len(), 1);
    assert_eq!(binned[0].refs("recycled_directmemberof").count(), 1, "the bin shows the groups to restore");
    drop(r);

    // Reviving brings it back, into the groups it was in.
    as_idm(&qs, |w| w.revive(&idm(), "alice")).unwrap();
    let alice = get(&qs, "alice").unwrap();
    assert!(alice.get("recycled_directmemberof").is_none());
    assert!(get(&qs, "team").unwrap().refs("member").eq([alice.uuid().unwrap()]));
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
    // inner keeps its own members and is back in outer.
    let dana = get(&qs, "dana").unwrap();
    let inner = get(&qs, "inner").unwrap().uuid().unwrap();
    assert!(dana.refs("memberof").any(|u| u == inner) && dana.refs("memberof").any(|u| u == outer));
    assert_verified(&qs);
}

#[test]
fn revive_restores_memberships_only_if_the_caller_may_grant_them_all() {
    let db = TestDb::new();
    let qs = db.open();
    create(&qs, &[person("erin"), group("team", &["erin"]), group("hp_team", &["erin"]), group("gone", &["erin"])])
        .unwrap();
    let add =
        idm_core::proto::ModifyList::new(vec![idm_core::proto::Modify::Present("member".into(), "hp_team".into())]);
    modify(&qs, &eq("name", "idm_high_privilege"), &add).unwrap();
    let erin = get(&qs, "erin").unwrap().uuid().unwrap();
    let admin = Identity::user(idm_core::builtins::UUID_ADMIN, Limits::admin());
    let members = |g: &str| get(&qs, g).unwrap().refs("member").collect::<Vec<_>>();

    // erin is high privilege, so only admin may delete her; a group she was in goes too.
    as_idm(&qs, |w| w.delete(&admin, &eq("name", "erin")).map(drop)).unwrap();
    as_idm(&qs, |w| w.delete(&idm(), &eq("name", "gone")).map(drop)).unwrap();
    // idm_admin may not put her back into a high-privilege group, so the revive is refused
    // whole, naming the group.
    let err = as_idm(&qs, |w| w.revive(&idm(), "erin")).unwrap_err();
    assert!(err.to_string().contains("hp_team"), "{err}");
    assert!(get(&qs, "erin").is_none() && members("team").is_empty());
    // admin revives her into both; the deleted group is not brought back.
    as_idm(&qs, |w| w.revive(&admin, "erin")).unwrap();
    assert_eq!((members("team"), members("hp_team")), (vec![erin], vec![erin]));
    assert!(get(&qs, "gone").is_none());
    assert_verified(&qs);

    // Deleting a group removes it from what entries in the bin would rejoin, so purging it
    // leaves no reference behind.
    as_idm(&qs, |w| w.delete(&admin, &eq("name", "erin")).map(drop)).unwrap();
    as_idm(&qs, |w| w.delete(&admin, &eq("name", "hp_team")).map(drop)).unwrap();
    let binned = qs.read().unwrap().internal_search(&idm_core::filter::Filter::eq("name", "erin")).unwrap();
    assert_eq!(binned[0].refs("recycled_directmemberof").count(), 1, "only team is left to rejoin");
    let mut w = qs.write().unwrap();
    w.purge_recycle_bin(Duration::ZERO, Duration::ZERO).unwrap();
    w.commit().unwrap();
    assert_eq!((count(&qs, "recycled"), count(&qs, "tombstone")), (0, 0));
    assert_verified(&qs);
}

#[test]
fn references_to_deleted_entries_are_refused() {
    let db = TestDb::new();
    let qs = db.open();
    create(&qs, &[person("fay"), group("crew", &[])]).unwrap();
    let fay = get(&qs, "fay").unwrap().uuid().unwrap().to_string();
    as_idm(&qs, |w| w.delete(&idm(), &eq("name", "fay")).map(drop)).unwrap();
    let add = |who: &str| {
        idm_core::proto::ModifyList::new(vec![idm_core::proto::Modify::Present("member".into(), who.into())])
    };
    // By uuid, a recycled entry is refused (its name no longer resolves at all).
    let err = modify(&qs, &eq("name", "crew"), &add(&fay)).unwrap_err();
    assert!(err.to_string().contains(&fay) && err.to_string().contains("deleted"), "{err}");
    let err = create(&qs, &[group("crew2", &[&fay])]).unwrap_err();
    assert!(err.to_string().contains("deleted"), "{err}");
    // A tombstone too.
    let mut w = qs.write().unwrap();
    w.purge_recycle_bin(Duration::ZERO, Duration::from_secs(3600)).unwrap();
    w.commit().unwrap();
    assert_eq!(count(&qs, "tombstone"), 1);
    let err = modify(&qs, &eq("name", "crew"), &add(&fay)).unwrap_err();
    assert!(err.to_string().contains("deleted"), "{err}");
    assert!(get(&qs, "crew").unwrap().get("member").is_none());
    assert_verified(&qs);
}

#[test]
fn a_person_and_their_group_deleted_together() {
    let db = TestDb::new();
    let qs = db.open();
    create(&qs, &[person("gil"), group("band", &["gil"]), group("fans", &["gil"])]).unwrap();
    let both = Filter::Or(vec![eq("name", "gil"), eq("name", "band")]);
    as_idm(&qs, |w| w.delete(&idm(), &both).map(drop)).unwrap();
    assert_verified(&qs);
    as_idm(&qs, |w| w.revive(&idm(), "gil")).unwrap();
    // Only the group that is still live is rejoined.
    assert_eq!(get(&qs, "gil").unwrap().refs("memberof").count(), 1);
    assert_verified(&qs);
}
