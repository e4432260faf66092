//! Persistence, snapshots, run-time schema extension and the unbuilt-index fallback.

use idm_core::be::Plan;
use idm_core::identity::Identity;
use idm_core::proto::{Modify, ModifyList};
use idm_core::server::QueryServerTransaction;
use idm_core::value::{IndexType, Value};
use idm_testkit::*;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

fn count_persons(r: &mut impl QueryServerTransaction) -> usize {
    r.search(&Identity::internal(), &eq("class", "person")).unwrap().len()
}

#[test]
fn data_and_administrator_changes_survive_reopening() {
    let db = TestDb::new();
    let before;
    {
        let qs = db.open();
        create(&qs, &[person("alice"), group("staff", &["alice"])]).unwrap();
        // Change a built-in group: reopening must not reset or duplicate it.
        modify(
            &qs,
            &eq("name", "idm_admins"),
            &ModifyList::new(vec![
                Modify::Purged("description".into()),
                Modify::Present("description".into(), "Our IDM team".into()),
                Modify::Present("member".into(), "alice".into()),
            ]),
        )
        .unwrap();
        before = dump(&qs);
    }
    let qs = db.open();
    assert_eq!(before, dump(&qs), "reopening changed stored content");
    let admins = get(&qs, "idm_admins").unwrap();
    assert_eq!(admins.first_str("description"), Some("Our IDM team"));
    let alice = get(&qs, "alice").unwrap();
    assert!(alice.refs("memberof").any(|u| Some(u) == get(&qs, "idm_high_privilege").and_then(|g| g.uuid())));
    assert_verified(&qs);
}

#[test]
fn an_older_database_gets_each_later_version_step_once() {
    let db = TestDb::new();
    let as_version_1 =
        ModifyList::new(vec![Modify::Purged("version".into()), Modify::Present("version".into(), "1".into())]);
    let drop_attr = ModifyList::new(vec![Modify::Removed("acp_search_attr".into(), "recycled_directmemberof".into())]);
    let tuned = ModifyList::new(vec![Modify::Removed("acp_search_attr".into(), "description".into())]);
    let bin_acp = eq("name", "idm_acp_recycle_bin");
    let search_attrs = |qs: &idm_core::server::QueryServer| -> Vec<String> {
        get(qs, "idm_acp_recycle_bin")
            .unwrap()
            .get("acp_search_attr")
            .unwrap()
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect()
    };
    {
        // Make the database look as a version-1 binary left it, with an administrator's tuning.
        let qs = db.open();
        modify(&qs, &bin_acp, &drop_attr).unwrap();
        modify(&qs, &bin_acp, &tuned).unwrap();
        modify(&qs, &eq("class", "system_info"), &as_version_1).unwrap();
    }
    let qs = db.open();
    let attrs = search_attrs(&qs);
    assert!(attrs.contains(&"recycled_directmemberof".to_string()), "the version-2 step ran: {attrs:?}");
    assert!(!attrs.contains(&"description".to_string()), "the administrator's change survived: {attrs:?}");
    let info = qs.read().unwrap().internal_search(&idm_core::filter::Filter::eq("class", "system_info")).unwrap();
    assert_eq!(info[0].first("version"), Some(&Value::Uint32(idm_core::builtins::SYSTEM_VERSION)));
    // At the current version, nothing is applied again.
    modify(&qs, &bin_acp, &drop_attr).unwrap();
    drop(qs);
    let qs = db.open();
    assert!(!search_attrs(&qs).contains(&"recycled_directmemberof".to_string()));
    assert_verified(&qs);
}

#[test]
fn reopening_with_another_domain_is_refused() {
    let db = TestDb::new();
    drop(db.open());
    let qs = idm_core::server::QueryServer::new(open_backend(&db.path)).unwrap();
    let err = qs.initialise("other.example").unwrap_err().to_string();
    assert!(err.contains("example.com") && err.contains("domain_name_change"), "{err}");
}

#[test]
fn the_database_is_in_wal_mode() {
    let db = TestDb::new();
    let _qs = db.open();
    let mode: String = idm_testkit::sqlite_pragma(&db.path, "journal_mode");
    assert_eq!(mode, "wal");
}

#[test]
fn readers_see_stable_snapshots_while_a_writer_commits() {
    let db = TestDb::new();
    let qs = db.open();
    create(&qs, &[person("p0")]).unwrap();
    let mut old = qs.read().unwrap();
    assert_eq!(count_persons(&mut old), 1);
    create(&qs, &[person("p1"), person("p2")]).unwrap();
    let mut new = qs.read().unwrap();
    assert_eq!(count_persons(&mut new), 3);
    assert_eq!(count_persons(&mut old), 1, "an open snapshot must not see later commits");
    drop(old);
    drop(new);

    // Concurrent readers never see part of a batch, and one snapshot never changes.
    let qs = Arc::new(qs);
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (qs, stop) = (qs.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut seen = 0;
                let mut last = 0;
                while !stop.load(Ordering::Relaxed) {
                    let mut r = qs.read().unwrap();
                    let a = count_persons(&mut r);
                    std::thread::yield_now();
                    let b = count_persons(&mut r);
                    assert_eq!(a, b, "a snapshot changed under a reader");
                    assert_eq!(a % 5, 3, "a reader saw part of a batch: {a}");
                    assert!(a >= last, "snapshots went backwards");
                    last = a;
                    seen += 1;
                }
                seen
            })
        })
        .collect();
    for b in 0..20 {
        let batch: Vec<_> = (0..5).map(|i| person(&format!("w{b}x{i}"))).collect();
        create(&qs, &batch).unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        assert!(r.join().unwrap() > 0);
    }
}

/// Collects log output for assertions.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn take(&self) -> String {
        String::from_utf8(std::mem::take(&mut *self.0.lock().unwrap())).unwrap()
    }
}

#[test]
fn a_new_index_falls_back_until_reindex() {
    let db = TestDb::new();
    let qs = db.open();
    create(&qs, &[attribute_type("badge", "UTF8STRING_INSENSITIVE", false, true, &["EQUALITY"])]).unwrap();
    modify(&qs, &eq("classname", "person"), &ModifyList::new(vec![Modify::Present("may".into(), "badge".into())]))
        .unwrap();
    let mut people: Vec<_> = (0..20).map(|i| person(&format!("user{i}"))).collect();
    for (i, p) in people.iter_mut().enumerate() {
        p.attrs.insert("badge".into(), vec![format!("B-{i}")]);
    }
    create(&qs, &people).unwrap();
    // Uniqueness holds for the new attribute even without its index.
    let mut dup = person("user99");
    dup.attrs.insert("badge".into(), vec!["b-3".into()]);
    assert!(create(&qs, &[dup]).is_err());

    let logs = Captured::default();
    let sub = tracing_subscriber::fmt().with_writer({
        let logs = logs.clone();
        move || logs.clone()
    });
    let plan = |qs: &idm_core::server::QueryServer| {
        let mut r = qs.read().unwrap();
        let f = r.filter_from_proto(&Identity::internal(), &eq("badge", "b-7")).unwrap();
        let schema = r.schema();
        let plan = r.be().plan(&f, &schema).unwrap();
        let names: Vec<String> = r
            .search(&Identity::internal(), &eq("badge", "B-7"))
            .unwrap()
            .iter()
            .filter_map(|e| e.first("name").and_then(Value::as_str).map(str::to_string))
            .collect();
        (plan, names)
    };
    tracing::subscriber::with_default(sub.finish(), || {
        let (p, names) = plan(&qs);
        assert_eq!(p, Plan::AllIds, "an unbuilt index cannot be used");
        assert_eq!(names, vec!["user7"]);
        let out = logs.take();
        assert!(out.contains("Index EQUALITY badge not found"), "log was: {out}");

        let mut w = qs.write().unwrap();
        w.reindex(&mut ()).unwrap();
        w.commit().unwrap();
        let (p, names) = plan(&qs);
        assert!(matches!(p, Plan::Indexed(ref ids) if ids.len() == 1), "{p:?}");
        assert_eq!(names, vec!["user7"]);
        assert!(!logs.take().contains("not found"));
    });
    assert_verified(&qs);

    // Removing the declaration drops the index, so re-adding it later starts unbuilt again.
    modify(&qs, &eq("attributename", "badge"), &ModifyList::new(vec![Modify::Purged("index".into())])).unwrap();
    let built = qs.read().unwrap().be().raw().built_indexes().unwrap();
    assert!(!built.contains(&(IndexType::Equality, "badge".to_string())));
    modify(
        &qs,
        &eq("attributename", "badge"),
        &ModifyList::new(vec![Modify::Present("index".into(), "EQUALITY".into())]),
    )
    .unwrap();
    assert_eq!(plan(&qs).0, Plan::AllIds);
    assert_verified(&qs);
}

#[test]
fn schema_in_use_cannot_be_broken() {
    let db = TestDb::new();
    let qs = db.open();
    create(
        &qs,
        &[
            attribute_type("shoe_size", "UINT32", true, false, &[]),
            pe(&[("class", &["classtype"]), ("classname", &["customer"]), ("may", &["shoe_size"])]),
        ],
    )
    .unwrap();
    create(
        &qs,
        &[pe(&[
            ("class", &["person", "customer"]),
            ("name", &["cus1"]),
            ("displayname", &["C"]),
            ("shoe_size", &["42", "43"]),
        ])],
    )
    .unwrap();
    let before = dump(&qs);
    for (f, m) in [
        (
            eq("attributename", "shoe_size"),
            vec![Modify::Purged("multivalue".into()), Modify::Present("multivalue".into(), "false".into())],
        ),
        (
            eq("attributename", "shoe_size"),
            vec![Modify::Purged("syntax".into()), Modify::Present("syntax".into(), "UTF8STRING".into())],
        ),
        (
            eq("classname", "customer"),
            vec![Modify::Purged("classname".into()), Modify::Present("classname".into(), "client".into())],
        ),
        // cus1 has a shoe size, so customers must still be allowed one...
        (eq("classname", "customer"), vec![Modify::Purged("may".into())]),
        // ... and cus1 has no mail, so customers cannot be made to need one.
        (eq("classname", "customer"), vec![Modify::Present("must".into(), "mail".into())]),
    ] {
        let err = modify(&qs, &f, &ModifyList::new(m)).unwrap_err();
        assert!(err.to_string().contains("shoe_size") || err.to_string().contains("customer"), "{err}");
    }
    let err = modify(
        &qs,
        &eq("classname", "customer"),
        &ModifyList::new(vec![Modify::Present("must".into(), "mail".into())]),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("cus1") && err.contains("mail"), "the refusal names the entry and attribute: {err}");
    assert!(delete(&qs, &eq("attributename", "shoe_size")).unwrap_err().to_string().contains("still used"));
    assert!(delete(&qs, &eq("classname", "customer")).unwrap_err().to_string().contains("still used"));
    // A class that names an attribute that does not exist is refused when the schema reloads.
    let err = create(&qs, &[pe(&[("class", &["classtype"]), ("classname", &["broken"]), ("may", &["no_such_attr"])])])
        .unwrap_err();
    assert!(err.to_string().contains("no_such_attr"), "{err}");
    let err = create(&qs, &[attribute_type("Bad-Name", "UINT32", true, false, &[])]).unwrap_err();
    assert!(err.to_string().contains("bad-name"), "{err}");
    assert_eq!(before, dump(&qs));
    // Once every customer fits, the class may require mail; and stop requiring it again.
    modify(&qs, &eq("name", "cus1"), &ModifyList::new(vec![Modify::Present("mail".into(), "c@example.com".into())]))
        .unwrap();
    modify(&qs, &eq("classname", "customer"), &ModifyList::new(vec![Modify::Present("must".into(), "mail".into())]))
        .unwrap();
    let err = create(&qs, &[pe(&[("class", &["person", "customer"]), ("name", &["cus2"]), ("displayname", &["D"])])])
        .unwrap_err();
    assert!(err.to_string().contains("mail"), "{err}");
    modify(&qs, &eq("classname", "customer"), &ModifyList::new(vec![Modify::Purged("must".into())])).unwrap();
    // Once unused, the definitions can go.
    delete(&qs, &eq("name", "cus1")).unwrap();
    delete(&qs, &eq("classname", "customer")).unwrap();
    delete(&qs, &eq("attributename", "shoe_size")).unwrap();
    assert_verified(&qs);
}
