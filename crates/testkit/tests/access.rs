//! Access control at the engine: each built-in account and an ordinary person against each
//! kind of operation on ordinary and high-privilege targets, with the expectations written out.

use idm_core::builtins::{UUID_ADMIN, UUID_ANONYMOUS, UUID_IDM_ADMIN};
use idm_core::identity::{Identity, Limits};
use idm_core::proto::{Filter, Modify, ModifyList, OperationError, ProtoEntry};
use idm_core::server::{QueryServer, QueryServerTransaction};
use idm_testkit::*;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    CreatePerson,
    CreateGroup,
    ReadMail,
    ModifyPersonName,
    ModifyGroupMembers,
    ModifyHighPrivilegeGroup,
    DeletePerson,
    DeleteGroup,
}

use Op::*;

const ALL: [Op; 8] = [
    CreatePerson,
    CreateGroup,
    ReadMail,
    ModifyPersonName,
    ModifyGroupMembers,
    ModifyHighPrivilegeGroup,
    DeletePerson,
    DeleteGroup,
];

/// Who may do what. `true` means allowed.
fn expected(caller: &str, op: Op) -> bool {
    match (caller, op) {
        // The system administrator manages accounts and groups of any privilege, schema and
        // access control, but personal details of people are the IDM administrators' job.
        ("admin", ReadMail | ModifyPersonName) => false,
        ("admin", _) => true,
        // The IDM administrator manages ordinary people and groups, never high-privilege ones.
        ("idm_admin", ModifyHighPrivilegeGroup) => false,
        ("idm_admin", _) => true,
        // A person reads its own details and changes its own display name.
        ("alice", ReadMail | ModifyPersonName) => true,
        ("alice", _) => false,
        // Anonymous reads public attributes only.
        ("anonymous", _) => false,
        _ => unreachable!(),
    }
}

fn setup() -> (TestDb, QueryServer, Uuid) {
    let db = TestDb::new();
    let qs = db.open();
    let mut alice = person("alice");
    alice.attrs.insert("mail".into(), vec!["alice@example.com".into()]);
    create(&qs, &[alice, group("staff", &["alice"])]).unwrap();
    let alice_uuid = get(&qs, "alice").unwrap().uuid().unwrap();
    (db, qs, alice_uuid)
}

fn attempt(qs: &QueryServer, ident: &Identity, op: Op) -> Result<bool, OperationError> {
    let mods = |m: Vec<Modify>| ModifyList::new(m);
    let mut w = qs.write()?;
    let r = match op {
        CreatePerson => w
            .create(ident, &[pe(&[("class", &["person", "account"]), ("name", &["newbie"]), ("displayname", &["N"])])])
            .map(|_| true),
        CreateGroup => w.create(ident, &[pe(&[("class", &["group"]), ("name", &["newgroup"])])]).map(|_| true),
        ReadMail => {
            let found = w.search(ident, &eq("name", "alice"))?;
            Ok(found.first().is_some_and(|e| e.has("mail")))
        }
        ModifyPersonName => w
            .modify(
                ident,
                &eq("name", "alice"),
                &mods(vec![
                    Modify::Purged("displayname".into()),
                    Modify::Present("displayname".into(), "Alice L".into()),
                ]),
            )
            .map(|_| true),
        ModifyGroupMembers => w
            .modify(ident, &eq("name", "staff"), &mods(vec![Modify::Present("member".into(), "idm_admin".into())]))
            .map(|_| true),
        ModifyHighPrivilegeGroup => w
            .modify(ident, &eq("name", "idm_admins"), &mods(vec![Modify::Present("member".into(), "alice".into())]))
            .map(|_| true),
        DeletePerson => w.delete(ident, &eq("name", "alice")).map(|_| true),
        DeleteGroup => w.delete(ident, &eq("name", "staff")).map(|_| true),
    };
    // Nothing is committed: each attempt starts from the same database.
    r
}

#[test]
fn access_matrix() {
    let (_db, qs, alice) = setup();
    let callers =
        [("admin", UUID_ADMIN), ("idm_admin", UUID_IDM_ADMIN), ("anonymous", UUID_ANONYMOUS), ("alice", alice)];
    let mut failures = Vec::new();
    for (name, uuid) in callers {
        let limits = if name.ends_with("admin") { Limits::admin() } else { Limits::user() };
        let ident = Identity::user(uuid, limits);
        for op in ALL {
            let outcome = attempt(&qs, &ident, op);
            let allowed = match &outcome {
                Ok(v) => *v,
                Err(
                    OperationError::AccessDenied
                    | OperationError::AccessDeniedReason(_)
                    | OperationError::NoMatchingEntries,
                ) => false,
                Err(e) => {
                    failures.push(format!("{name} {op:?}: unexpected error {e:?}"));
                    continue;
                }
            };
            if allowed != expected(name, op) {
                failures.push(format!(
                    "{name} {op:?}: expected {} got {outcome:?}",
                    if expected(name, op) { "allowed" } else { "denied" }
                ));
            }
        }
    }
    assert!(failures.is_empty(), "access matrix mismatches:\n{}", failures.join("\n"));
}

#[test]
fn the_documents_raw_modifies() {
    let (_db, qs, _) = setup();
    // admin adds idm_admin to the six privilege groups the document names.
    let six = [
        "idm_person_account_create_priv",
        "idm_service_account_create_priv",
        "idm_account_write_priv",
        "idm_group_write_priv",
        "idm_people_write_priv",
        "idm_group_create_priv",
    ];
    let f = Filter::Or(six.iter().map(|n| eq("name", n)).collect());
    let add = ModifyList::new(vec![Modify::Present("member".into(), "idm_admin".into())]);
    let mut w = qs.write().unwrap();
    assert_eq!(w.modify(&Identity::user(UUID_ADMIN, Limits::admin()), &f, &add).unwrap(), 6);
    w.commit().unwrap();
    // idm_admin may not change the high-privilege group idm_admins, and is told why.
    let mut w = qs.write().unwrap();
    let err = w.modify(&Identity::user(UUID_IDM_ADMIN, Limits::admin()), &eq("name", "idm_admins"), &add).unwrap_err();
    assert!(
        matches!(&err, OperationError::AccessDeniedReason(m) if m.contains("member") && m.contains("idm_admins")),
        "{err:?}"
    );
}

#[test]
fn search_shows_only_readable_attributes_and_never_filters_on_hidden_ones() {
    let (_db, qs, alice) = setup();
    let mut r = qs.read().unwrap();
    let anon = Identity::user(UUID_ANONYMOUS, Limits::user());
    let seen = r.search(&anon, &eq("name", "alice")).unwrap();
    assert_eq!(seen.len(), 1);
    let attrs: Vec<&str> = seen[0].attr_names().collect();
    assert!(attrs.contains(&"name") && attrs.contains(&"displayname") && !attrs.contains(&"mail"), "{attrs:?}");
    // Filtering on mail would reveal it, so anonymous finds nothing that way.
    assert!(r.search(&anon, &eq("mail", "alice@example.com")).unwrap().is_empty());
    // alice sees her own mail and can find herself by it.
    let me = Identity::user(alice, Limits::user());
    assert_eq!(r.search(&me, &eq("mail", "alice@example.com")).unwrap().len(), 1);
    assert_eq!(r.search(&me, &Filter::SelfUuid).unwrap().len(), 1);
    // Credentials are never readable, even to oneself, as a hash.
    let idm = Identity::user(UUID_IDM_ADMIN, Limits::admin());
    let staff: Vec<ProtoEntry> =
        r.search(&idm, &eq("name", "staff")).unwrap().iter().map(|e| r.to_proto_entry(e).unwrap()).collect();
    assert_eq!(staff[0].attrs["member"], vec!["alice@example.com"]);
}

#[test]
fn a_deleted_caller_has_no_rights() {
    let (_db, qs, alice) = setup();
    delete(&qs, &eq("name", "alice")).unwrap();
    let mut r = qs.read().unwrap();
    let err = r.search(&Identity::user(alice, Limits::user()), &eq("name", "staff")).unwrap_err();
    assert_eq!(err, OperationError::NotAuthenticated);
}
