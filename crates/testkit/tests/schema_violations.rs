//! Every kind of invalid write is refused with an error naming the problem, and leaves the
//! database exactly as it was.

use idm_core::identity::{Identity, Limits};
use idm_core::proto::{Filter, Modify, ModifyList, OperationError, PluginError, SchemaError};
use idm_testkit::*;

fn ml(mods: Vec<Modify>) -> ModifyList {
    ModifyList::new(mods)
}

/// Access control refuses first when no profile grants the operation; the protection plugins
/// are the second line of defence, reached by callers whose profiles do allow it.
fn access_denied(e: &OperationError, naming: &str) -> bool {
    matches!(e, OperationError::AccessDeniedReason(m) if m.contains(naming))
}

fn present(a: &str, v: &str) -> Modify {
    Modify::Present(a.into(), v.into())
}

/// Runs `op` and checks it fails with an error satisfying `expect` and writes nothing.
fn refused(
    qs: &idm_core::server::QueryServer,
    what: &str,
    op: impl FnOnce() -> Result<(), OperationError>,
    expect: impl Fn(&OperationError) -> bool,
) {
    let before = dump(qs);
    let err = op().expect_err(what);
    assert!(expect(&err), "{what}: unexpected error {err:?}");
    assert_eq!(before, dump(qs), "{what}: database changed although the operation failed");
}

#[test]
fn invalid_creates_are_refused_and_change_nothing() {
    let db = TestDb::new();
    let qs = db.open();
    create(&qs, &[person("alice"), group("staff", &["alice"])]).unwrap();
    let schema = |e: &OperationError, want: &SchemaError| matches!(e, OperationError::SchemaViolation(s) if s == want);

    refused(
        &qs,
        "missing must",
        || create(&qs, &[pe(&[("class", &["person"]), ("name", &["bob"])])]),
        |e| schema(e, &SchemaError::MissingMustAttribute("displayname".into())),
    );
    refused(
        &qs,
        "attribute not allowed",
        || create(&qs, &[pe(&[("class", &["group"]), ("name", &["g2"]), ("displayname", &["G"])])]),
        |e| schema(e, &SchemaError::AttributeNotValidForClass("displayname".into())),
    );
    refused(
        &qs,
        "unknown attribute",
        || create(&qs, &[pe(&[("class", &["group"]), ("name", &["g3"]), ("nonsense", &["x"])])]),
        |e| schema(e, &SchemaError::InvalidAttribute("nonsense".into())),
    );
    refused(
        &qs,
        "unknown class",
        || create(&qs, &[pe(&[("class", &["wizard"]), ("name", &["g4"])])]),
        |e| schema(e, &SchemaError::InvalidClass("wizard".into())),
    );
    refused(
        &qs,
        "no class",
        || create(&qs, &[pe(&[("name", &["g5"])])]),
        |e| {
            // `object` is added to every entry, so the entry fails on what object requires.
            matches!(e, OperationError::SchemaViolation(_))
        },
    );
    refused(
        &qs,
        "bad syntax",
        || {
            create(
                &qs,
                &[pe(&[
                    ("class", &["person"]),
                    ("name", &["carol"]),
                    ("displayname", &["C"]),
                    ("mail", &["not-an-address"]),
                ])],
            )
        },
        |e| matches!(e, OperationError::SchemaViolation(SchemaError::InvalidAttributeSyntax { attr, .. }) if attr == "mail"),
    );
    refused(
        &qs,
        "bad iname",
        || create(&qs, &[group("has space", &[])]),
        |e| matches!(e, OperationError::SchemaViolation(SchemaError::InvalidAttributeSyntax { attr, .. }) if attr == "name"),
    );
    refused(
        &qs,
        "single value",
        || create(&qs, &[pe(&[("class", &["group"]), ("name", &["g6", "g7"])])]),
        |e| schema(e, &SchemaError::SingleValue("name".into())),
    );
    refused(
        &qs,
        "duplicate name in database",
        || create(&qs, &[group("alice", &[])]),
        |e| matches!(e, OperationError::Plugin(PluginError::AttrUnique(m)) if m.contains("'name'") && m.contains("alice")),
    );
    refused(
        &qs,
        "duplicate name in request",
        || create(&qs, &[group("twin", &[]), group("twin", &[])]),
        |e| matches!(e, OperationError::Plugin(PluginError::AttrUnique(_))),
    );
    refused(
        &qs,
        "dangling reference",
        || create(&qs, &[group("g8", &["00000000-0000-0000-0000-00000000abcd"])]),
        |e| matches!(e, OperationError::Plugin(PluginError::ReferentialIntegrity(m)) if m.contains("member")),
    );
    refused(
        &qs,
        "unknown member name",
        || create(&qs, &[group("g9", &["nobody_here"])]),
        |e| matches!(e, OperationError::Plugin(PluginError::ReferentialIntegrity(m)) if m.contains("nobody_here")),
    );
    refused(
        &qs,
        "derived attribute supplied by a caller",
        || {
            let mut w = qs.write()?;
            let mut g = group("g10", &[]);
            g.attrs.insert("memberof".into(), vec!["staff".into()]);
            w.create(&Identity::user(idm_core::builtins::UUID_ADMIN, Limits::admin()), &[g])?;
            w.commit()
        },
        |e| matches!(e, OperationError::InvalidAttribute(m) if m.contains("memberof")) || access_denied(e, "memberof"),
    );
    refused(
        &qs,
        "reserved uuid",
        || {
            let mut w = qs.write()?;
            let mut g = group("g11", &[]);
            g.attrs.insert("uuid".into(), vec!["00000000-0000-0000-0000-000000000077".into()]);
            w.create(&Identity::user(idm_core::builtins::UUID_ADMIN, Limits::admin()), &[g])?;
            w.commit()
        },
        |e| matches!(e, OperationError::Plugin(PluginError::Base(_))) || access_denied(e, "uuid"),
    );
    refused(
        &qs,
        "system class",
        || {
            let mut w = qs.write()?;
            w.create(
                &Identity::user(idm_core::builtins::UUID_ADMIN, Limits::admin()),
                &[pe(&[("class", &["system_config"])])],
            )?;
            w.commit()
        },
        |e| matches!(e, OperationError::SystemProtectedObject(_)) || access_denied(e, "system_config"),
    );
    refused(&qs, "empty request", || create(&qs, &[]), |e| matches!(e, OperationError::EmptyRequest));
    // A batch with one bad entry writes none of the good ones.
    refused(
        &qs,
        "one bad entry in a batch",
        || create(&qs, &[group("fine1", &[]), group("fine2", &[]), group("bad", &["ghost_member"])]),
        |e| matches!(e, OperationError::Plugin(PluginError::ReferentialIntegrity(_))),
    );
    assert_verified(&qs);
}

#[test]
fn invalid_modifies_and_deletes_are_refused_and_change_nothing() {
    let db = TestDb::new();
    let qs = db.open();
    create(&qs, &[person("alice"), person("bob"), group("staff", &["alice"])]).unwrap();
    let admin = Identity::user(idm_core::builtins::UUID_ADMIN, Limits::admin());
    let as_admin = |f: Filter, m: ModifyList| -> Result<(), OperationError> {
        let mut w = qs.write()?;
        w.modify(&admin, &f, &m)?;
        w.commit()
    };

    refused(
        &qs,
        "second value on single-valued",
        || modify(&qs, &eq("name", "alice"), &ml(vec![present("displayname", "Another")])).map(drop),
        |e| matches!(e, OperationError::SchemaViolation(SchemaError::SingleValue(a)) if a == "displayname"),
    );
    refused(
        &qs,
        "rename onto existing name",
        || {
            modify(&qs, &eq("name", "alice"), &ml(vec![Modify::Purged("name".into()), present("name", "bob")]))
                .map(drop)
        },
        |e| matches!(e, OperationError::Plugin(PluginError::AttrUnique(_))),
    );
    refused(
        &qs,
        "purge a must attribute",
        || modify(&qs, &eq("name", "alice"), &ml(vec![Modify::Purged("displayname".into())])).map(drop),
        |e| matches!(e, OperationError::SchemaViolation(SchemaError::MissingMustAttribute(a)) if a == "displayname"),
    );
    refused(
        &qs,
        "unknown attribute in modify",
        || modify(&qs, &eq("name", "alice"), &ml(vec![present("bogus", "x")])).map(drop),
        |e| matches!(e, OperationError::SchemaViolation(SchemaError::InvalidAttribute(a)) if a == "bogus"),
    );
    refused(
        &qs,
        "member that does not exist",
        || modify(&qs, &eq("name", "staff"), &ml(vec![present("member", "ghost")])).map(drop),
        |e| matches!(e, OperationError::Plugin(PluginError::ReferentialIntegrity(_))),
    );
    refused(
        &qs,
        "no match",
        || modify(&qs, &eq("name", "nobody"), &ml(vec![present("description", "x")])).map(drop),
        |e| matches!(e, OperationError::NoMatchingEntries),
    );
    refused(
        &qs,
        "change uuid",
        || {
            modify(
                &qs,
                &eq("name", "alice"),
                &ml(vec![Modify::Purged("uuid".into()), present("uuid", "1c5c8a54-4d6f-4a57-9a1e-000000000001")]),
            )
            .map(drop)
        },
        |e| matches!(e, OperationError::SystemProtectedObject(_)),
    );
    refused(
        &qs,
        "change a system schema definition",
        || {
            as_admin(
                eq("attributename", "name"),
                ml(vec![Modify::Purged("multivalue".into()), present("multivalue", "true")]),
            )
        },
        |e| matches!(e, OperationError::SystemProtectedObject(m) if m.contains("multivalue")),
    );
    refused(
        &qs,
        "rename the domain through the API",
        || {
            as_admin(
                eq("uuid", "00000000-0000-0000-0000-ffffff000025"),
                ml(vec![Modify::Purged("domain_name".into()), present("domain_name", "evil.example")]),
            )
        },
        |e| matches!(e, OperationError::SystemProtectedObject(_)) || access_denied(e, "domain_name"),
    );
    refused(
        &qs,
        "delete a built-in group",
        || {
            let mut w = qs.write()?;
            w.delete(&admin, &eq("name", "idm_admins"))?;
            w.commit()
        },
        |e| matches!(e, OperationError::SystemProtectedObject(_)),
    );
    refused(
        &qs,
        "delete the domain entry",
        || {
            let mut w = qs.write()?;
            w.delete(&admin, &Filter::Eq("uuid".into(), "00000000-0000-0000-0000-ffffff000025".into()))?;
            w.commit()
        },
        |e| matches!(e, OperationError::SystemProtectedObject(_)) || access_denied(e, "domain_local"),
    );
    assert_verified(&qs);
}

#[test]
fn a_failed_operation_poisons_the_transaction() {
    let db = TestDb::new();
    let qs = db.open();
    let before = dump(&qs);
    let mut w = qs.write().unwrap();
    w.create(&Identity::internal(), &[person("carol")]).unwrap();
    assert!(w.create(&Identity::internal(), &[person("carol")]).is_err());
    // The earlier, successful operation in the same transaction is not committed either.
    assert_eq!(w.create(&Identity::internal(), &[person("dave")]).unwrap_err(), OperationError::TransactionFailed);
    assert_eq!(w.commit().unwrap_err(), OperationError::TransactionFailed);
    assert_eq!(before, dump(&qs));
}

#[test]
fn filter_limits_apply_to_callers_but_not_internally() {
    let db = TestDb::new();
    let qs = db.open();
    let mut deep = eq("name", "x");
    for _ in 0..40 {
        deep = Filter::And(vec![deep]);
    }
    let wide = Filter::Or((0..100).map(|i| eq("name", &format!("n{i}"))).collect());
    let user = Identity::user(idm_core::builtins::UUID_IDM_ADMIN, Limits::user());
    let mut r = qs.read().unwrap();
    use idm_core::server::QueryServerTransaction;
    for (f, word) in [(&deep, "depth"), (&wide, "elements")] {
        match r.search(&user, f) {
            Err(OperationError::ResourceLimit(m)) => assert!(m.contains(word), "{m}"),
            other => panic!("expected a resource limit, got {other:?}"),
        }
        r.search(&Identity::internal(), f).unwrap();
    }
    // A search no index narrows tests every entry: allowed only while the database holds no
    // more entries than the caller may test.
    assert!(r.search(&user, &Filter::Pres("description".into())).is_ok(), "a small database may be scanned");
    let tight = Identity::user(idm_core::builtins::UUID_IDM_ADMIN, Limits { search_max_partial: 10, ..Limits::user() });
    match r.search(&tight, &Filter::Pres("description".into())) {
        Err(OperationError::ResourceLimit(m)) => assert!(m.contains("index") && m.contains("10"), "{m}"),
        other => panic!("unindexed search should be refused beyond the limit: {other:?}"),
    }
}

#[test]
fn one_passkey_credential_belongs_to_one_account() {
    use idm_core::modify::{Modify as M, ModifyList as Ml};
    use idm_core::value::Value;
    let db = TestDb::new();
    let qs = db.open();
    create(&qs, &[person("alice"), person("mallory")]).unwrap();
    let record = |label: &str| {
        Value::Passkey(Box::new(idm_core::credential::PasskeyRecord {
            uuid: uuid::Uuid::new_v4(),
            label: label.into(),
            rp_id: "example.com".into(),
            created: 0,
            last_used: None,
            credential: "{}".into(),
            credential_id_hash: "ab12".into(),
        }))
    };
    let add = |name: &str, label: &str| {
        let mut w = qs.write()?;
        let ml = Ml::new(vec![M::Present("passkeys".into(), record(label))]);
        w.internal_modify(&idm_core::filter::Filter::eq("name", name), &ml)?;
        w.commit()
    };
    add("alice", "key").unwrap();
    refused(
        &qs,
        "the same credential on a second account",
        || add("mallory", "copy"),
        |e| matches!(e, OperationError::Plugin(PluginError::AttrUnique(m)) if m.contains("passkeys")),
    );
}
