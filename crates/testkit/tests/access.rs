//! Access control at the engine: each built-in account and an ordinary person against each
//! kind of operation on ordinary, high-privilege and system targets, with the expectations
//! written out.

use idm_core::builtins::{UUID_ADMIN, UUID_ANONYMOUS, UUID_IDM_ADMIN};
use idm_core::identity::{Identity, Limits};
use idm_core::proto::{Filter, Modify, ModifyList, OperationError, ProtoEntry};
use idm_core::server::{QueryServer, QueryServerTransaction};
use idm_testkit::*;
use uuid::Uuid;

/// What a case does. Targets are named by one `attr = value` pair so the table reads plainly.
#[derive(Debug, Clone, Copy)]
enum Action {
    Create(&'static [(&'static str, &'static [&'static str])]),
    /// The target is found and this attribute is returned.
    Read((&'static str, &'static str), &'static str),
    /// Replace this attribute's values.
    Modify((&'static str, &'static str), &'static str, &'static str),
    Delete((&'static str, &'static str)),
}

use Action::*;

#[derive(Debug, Clone, Copy)]
enum Target {
    Ordinary,
    HighPrivilege,
    System,
    /// The caller's own entry (`"self"`).
    Own,
}

const CALLERS: [&str; 4] = ["admin", "idm_admin", "anonymous", "carol"];
const ADMINS: &[&str] = &["admin", "idm_admin"];
const ADMIN: &[&str] = &["admin"];
const IDM_ADMIN: &[&str] = &["idm_admin"];
const EVERYONE: &[&str] = &["admin", "idm_admin", "anonymous", "carol"];
const NOBODY: &[&str] = &[];
const SELF: (&str, &str) = ("", "self");
const DOMAIN: (&str, &str) = ("uuid", "00000000-0000-0000-0000-ffffff000025");
const CONFIG: (&str, &str) = ("uuid", "00000000-0000-0000-0000-ffffff000027");
const KEYS: (&str, &str) = ("uuid", "00000000-0000-0000-0000-ffffff000028");

/// Every built-in account and an ordinary person (`carol`, in no groups) × create, read, modify
/// and delete × ordinary, high-privilege and system targets, and each caller's own entry. The
/// last column lists who is allowed; everyone else must be refused.
///
/// High-privilege entries come into being by being added to a high-privilege group, so
/// "create high privilege" is the modify of `idm_admins` below.
const CASES: &[(Target, Action, &[&str])] = &[
    // Ordinary people and groups are the IDM administrators' to manage. The system
    // administrator may create and delete any account or group, but personal details of
    // ordinary people are not theirs to read or change.
    (
        Target::Ordinary,
        Create(&[("class", &["person", "account"]), ("name", &["newbie"]), ("displayname", &["N"])]),
        ADMINS,
    ),
    (
        Target::Ordinary,
        Create(&[("class", &["service_account", "account"]), ("name", &["robot"]), ("displayname", &["R"])]),
        ADMINS,
    ),
    (Target::Ordinary, Create(&[("class", &["group"]), ("name", &["newgroup"])]), ADMINS),
    (Target::Ordinary, Read(("name", "alice"), "mail"), IDM_ADMIN),
    (Target::Ordinary, Read(("name", "alice"), "displayname"), EVERYONE),
    (Target::Ordinary, Read(("name", "staff"), "member"), EVERYONE),
    (Target::Ordinary, Modify(("name", "alice"), "displayname", "Alice L"), IDM_ADMIN),
    (Target::Ordinary, Modify(("name", "alice"), "mail", "al@example.com"), IDM_ADMIN),
    (Target::Ordinary, Modify(("name", "staff"), "member", "carol"), ADMINS),
    (Target::Ordinary, Delete(("name", "alice")), ADMINS),
    (Target::Ordinary, Delete(("name", "staff")), ADMINS),
    // High-privilege accounts and groups are the system administrator's alone.
    (Target::HighPrivilege, Read(("name", "boss"), "mail"), ADMIN),
    (Target::HighPrivilege, Read(("name", "idm_admins"), "member"), EVERYONE),
    (Target::HighPrivilege, Modify(("name", "boss"), "displayname", "The Boss"), ADMIN),
    (Target::HighPrivilege, Modify(("name", "boss"), "mail", "b@example.com"), ADMIN),
    (Target::HighPrivilege, Modify(("name", "idm_admins"), "member", "carol"), ADMIN),
    (Target::HighPrivilege, Delete(("name", "boss")), ADMIN),
    (Target::HighPrivilege, Delete(("name", "hp_team")), ADMIN),
    // Built-in groups and accounts are never deleted, whoever asks.
    (Target::HighPrivilege, Delete(("name", "idm_admins")), NOBODY),
    (Target::HighPrivilege, Delete(("name", "idm_admin")), NOBODY),
    // Schema, access control and server settings: the system administrator extends and tunes
    // them; the server's own definitions and the domain entry cannot be broken by anyone.
    (
        Target::System,
        Create(&[
            ("class", &["attributetype"]),
            ("attributename", &["shoesize"]),
            ("multivalue", &["false"]),
            ("unique", &["false"]),
            ("syntax", &["UTF8STRING"]),
        ]),
        ADMIN,
    ),
    (
        Target::System,
        Create(&[
            ("class", &["access_control_profile"]),
            ("name", &["acp_new"]),
            ("acp_targetscope", &[r#"{"eq":["name","staff"]}"#]),
        ]),
        ADMIN,
    ),
    (
        Target::System,
        Create(&[
            ("class", &["domain_info"]),
            ("name", &["other"]),
            ("domain_uuid", &["00000000-0000-0000-0000-000000000abc"]),
            ("domain_name", &["other.example"]),
        ]),
        NOBODY,
    ),
    (Target::System, Read(("attributename", "mail"), "syntax"), EVERYONE),
    (Target::System, Read(DOMAIN, "domain_name"), EVERYONE),
    (Target::System, Read(KEYS, "key_internal_data"), NOBODY),
    (Target::System, Read(CONFIG, "badlist_password"), ADMIN),
    (Target::System, Read(("name", "idm_acp_people_read"), "acp_targetscope"), ADMIN),
    (Target::System, Modify(("attributename", "mail"), "index", "SUBSTRING"), ADMIN),
    (Target::System, Modify(("attributename", "mail"), "syntax", "UINT32"), NOBODY),
    (Target::System, Modify(DOMAIN, "domain_name", "evil.example"), NOBODY),
    (Target::System, Modify(KEYS, "description", "forged"), NOBODY),
    (Target::System, Delete(KEYS), NOBODY),
    (Target::System, Modify(CONFIG, "password_min_length", "12"), ADMIN),
    (Target::System, Modify(("name", "idm_acp_people_read"), "description", "tuned"), ADMIN),
    (Target::System, Delete(("attributename", "mail")), NOBODY),
    (Target::System, Delete(DOMAIN), NOBODY),
    (Target::System, Delete(CONFIG), NOBODY),
    (Target::System, Delete(("name", "idm_acp_people_read")), NOBODY),
    // Every account reads its own details; all but anonymous change their own display name;
    // no one deletes themselves (the built-in accounts are protected, carol has no right).
    (Target::Own, Read(SELF, "mail"), EVERYONE),
    (Target::Own, Modify(SELF, "displayname", "Me"), &["admin", "idm_admin", "carol"]),
    // Only the system administrator changes high-privilege accounts, its own included; idm_admin
    // is itself high privilege.
    (Target::Own, Modify(SELF, "mail", "me@example.com"), ADMIN),
    (Target::Own, Delete(SELF), NOBODY),
];

fn setup() -> (TestDb, QueryServer, Uuid) {
    let db = TestDb::new();
    let qs = db.open();
    let with_mail = |mut e: ProtoEntry, mail: &str| {
        e.attrs.insert("mail".into(), vec![mail.into()]);
        e
    };
    create(
        &qs,
        &[
            with_mail(person("alice"), "alice@example.com"),
            with_mail(person("boss"), "boss@example.com"),
            with_mail(person("carol"), "carol@example.com"),
            group("staff", &["alice"]),
            group("hp_team", &[]),
        ],
    )
    .unwrap();
    // boss and hp_team become high privilege the only way anything does: by membership.
    let add = |g: &str, m: &str| {
        modify(&qs, &eq("name", g), &ModifyList::new(vec![Modify::Present("member".into(), m.into())])).unwrap()
    };
    add("idm_admins", "boss");
    add("idm_high_privilege", "hp_team");
    for name in ["admin", "idm_admin", "anonymous"] {
        modify(
            &qs,
            &eq("name", name),
            &ModifyList::new(vec![Modify::Present("mail".into(), format!("{name}@example.com"))]),
        )
        .unwrap();
    }
    let carol = get(&qs, "carol").unwrap().uuid().unwrap();
    (db, qs, carol)
}

fn target_filter((attr, value): (&str, &str)) -> Filter {
    if value == "self" { Filter::SelfUuid } else { eq(attr, value) }
}

/// Whether the caller managed the action; errors other than refusals are returned.
fn attempt(qs: &QueryServer, ident: &Identity, action: Action) -> Result<bool, OperationError> {
    let mut w = qs.write()?;
    // Nothing is committed: each attempt starts from the same database.
    let outcome = match action {
        Create(pairs) => w.create(ident, &[pe(pairs)]).map(|_| true),
        Read(target, attr) => w.search(ident, &target_filter(target)).map(|found| found.iter().any(|e| e.has(attr))),
        Modify(target, attr, value) => {
            let ml = ModifyList::new(vec![Modify::Purged(attr.into()), Modify::Present(attr.into(), value.into())]);
            w.modify(ident, &target_filter(target), &ml).map(|n| n > 0)
        }
        Delete(target) => w.delete(ident, &target_filter(target)).map(|n| n > 0),
    };
    match outcome {
        Err(
            OperationError::AccessDenied
            | OperationError::AccessDeniedReason(_)
            | OperationError::SystemProtectedObject(_)
            | OperationError::NoMatchingEntries,
        ) => Ok(false),
        other => other,
    }
}

#[test]
fn access_matrix() {
    let (_db, qs, carol) = setup();
    let mut failures = Vec::new();
    for caller in CALLERS {
        let (uuid, limits) = match caller {
            "admin" => (UUID_ADMIN, Limits::admin()),
            "idm_admin" => (UUID_IDM_ADMIN, Limits::admin()),
            "anonymous" => (UUID_ANONYMOUS, Limits::user()),
            _ => (carol, Limits::user()),
        };
        let ident = Identity::user(uuid, limits);
        for (target, action, allowed) in CASES {
            let want = allowed.contains(&caller);
            match attempt(&qs, &ident, *action) {
                Ok(got) if got == want => {}
                outcome => failures.push(format!(
                    "{caller} × {target:?} {action:?}: expected {}, got {outcome:?}",
                    if want { "allowed" } else { "refused" }
                )),
            }
        }
    }
    assert!(failures.is_empty(), "{} access matrix mismatches:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn the_documents_raw_modifies() {
    let (_db, qs, _) = setup();
    // admin adds idm_admin to the six privilege groups the document names.
    let six = DOCUMENT_PRIVILEGE_GROUPS;
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
    let (_db, qs, carol) = setup();
    let mut r = qs.read().unwrap();
    let anon = Identity::user(UUID_ANONYMOUS, Limits::user());
    let seen = r.search(&anon, &eq("name", "alice")).unwrap();
    assert_eq!(seen.len(), 1);
    let attrs: Vec<&str> = seen[0].attr_names().collect();
    assert!(attrs.contains(&"name") && attrs.contains(&"displayname") && !attrs.contains(&"mail"), "{attrs:?}");
    // Filtering on mail would reveal it, so anonymous finds nothing that way.
    assert!(r.search(&anon, &eq("mail", "alice@example.com")).unwrap().is_empty());
    // carol sees her own mail and can find herself by it, but not alice by hers.
    let me = Identity::user(carol, Limits::user());
    assert_eq!(r.search(&me, &eq("mail", "carol@example.com")).unwrap().len(), 1);
    assert!(r.search(&me, &eq("mail", "alice@example.com")).unwrap().is_empty());
    assert_eq!(r.search(&me, &Filter::SelfUuid).unwrap().len(), 1);
    // References come back as SPNs, not uuids.
    let idm = Identity::user(UUID_IDM_ADMIN, Limits::admin());
    let staff: Vec<ProtoEntry> =
        r.search(&idm, &eq("name", "staff")).unwrap().iter().map(|e| r.to_proto_entry(e).unwrap()).collect();
    assert_eq!(staff[0].attrs["member"], vec!["alice@example.com"]);
}

#[test]
fn a_deleted_caller_has_no_rights() {
    let (_db, qs, carol) = setup();
    // In the recycle bin (a caller's delete), then gone altogether (an internal purge).
    let mut w = qs.write().unwrap();
    w.delete(&Identity::user(UUID_IDM_ADMIN, Limits::admin()), &eq("name", "carol")).unwrap();
    w.commit().unwrap();
    for _ in 0..2 {
        let mut r = qs.read().unwrap();
        let err = r.search(&Identity::user(carol, Limits::user()), &eq("name", "staff")).unwrap_err();
        assert_eq!(err, OperationError::NotAuthenticated);
        drop(r);
        let mut w = qs.write().unwrap();
        let ml = ModifyList::new(vec![Modify::Present("displayname".into(), "C".into())]);
        let err = w.modify(&Identity::user(carol, Limits::user()), &Filter::SelfUuid, &ml).unwrap_err();
        assert_eq!(err, OperationError::NotAuthenticated);
        drop(w);
        let mut w = qs.write().unwrap();
        w.purge_recycle_bin(std::time::Duration::ZERO, std::time::Duration::ZERO).unwrap();
        w.commit().unwrap();
    }
}
