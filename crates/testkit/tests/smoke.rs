use idm_core::identity::Identity;
use idm_core::proto::{Filter, ProtoEntry};
use idm_core::server::QueryServerTransaction;
use idm_core::verify::VerifyReport;
use idm_testkit::TestDb;

#[test]
fn first_start_creates_builtins_and_verifies() {
    let db = TestDb::new();
    let qs = db.open();
    let mut r = qs.read().unwrap();
    let admins = r.search(&Identity::internal(), &Filter::Eq("name".into(), "idm_admins".into())).unwrap();
    assert_eq!(admins.len(), 1);
    let admin = r.search(&Identity::internal(), &Filter::Eq("name".into(), "admin".into())).unwrap();
    let p = r.to_proto_entry(&admin[0]).unwrap();
    assert_eq!(p.attrs["spn"], vec!["admin@example.com"]);
    assert!(p.attrs["memberof"].contains(&"idm_high_privilege@example.com".to_string()), "{:?}", p.attrs["memberof"]);
    let report: VerifyReport = r.verify(&mut ()).unwrap();
    assert!(report.is_clean(), "{:?}", report.errors);
    drop(r);

    let mut w = qs.write().unwrap();
    w.create(
        &Identity::internal(),
        &[ProtoEntry::from_pairs([
            ("class", vec!["person", "account"]),
            ("name", vec!["alice"]),
            ("displayname", vec!["Alice"]),
        ])],
    )
    .unwrap();
    w.commit().unwrap();
    drop(qs);
    let qs = db.open();
    let mut r = qs.read().unwrap();
    let alice = r.search(&Identity::internal(), &Filter::Eq("spn".into(), "alice@example.com".into())).unwrap();
    assert_eq!(alice.len(), 1);
    assert!(r.verify(&mut ()).unwrap().is_clean());
}
