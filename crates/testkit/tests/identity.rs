//! The identity layer in process, on a real SQLite file: the access matrix extended with what
//! a session is in — privileged, read-only, expired, revoked, recycled — and the caches of the
//! token → Identity path invalidated by the commits that change what they hold.

use idm_core::identity::AccessScope;
use idm_core::proto::{AuthCred, AuthState, AuthStep, Filter, Modify, ModifyList, OperationError};
use idm_core::server::QueryServerTransaction;
use idm_identity::IdmServer;
use idm_identity::password::PasswordParams;
use idm_testkit::fuzz_login::FuzzClock;
use idm_testkit::*;
use std::sync::Arc;

struct World {
    _db: TestDb,
    idm: Arc<IdmServer>,
    clock: Arc<FuzzClock>,
}

fn world() -> World {
    let db = TestDb::new();
    let qs = db.open();
    create(&qs, &[person("ian"), person("carol"), person("dora"), person("target"), group("staff", &["carol"])])
        .unwrap();
    // ian administers people, with an ordinary password: he must reauthenticate to write.
    let add = ModifyList::new(vec![Modify::Present("member".into(), "ian".into())]);
    modify(&qs, &eq("name", "idm_admins"), &add).unwrap();
    for name in ["ian", "carol", "dora"] {
        set_password(&qs, name, &format!("the password of {}", name.len()));
    }
    let clock = FuzzClock::new();
    let c = clock.clone();
    let idm = Arc::new(
        IdmServer::new(Arc::new(qs), PasswordParams::insecure_fast()).unwrap().with_clock(Arc::new(move || c.now())),
    );
    World { _db: db, idm, clock }
}

fn step(idm: &IdmServer, step: AuthStep, id: Option<uuid::Uuid>) -> (uuid::Uuid, AuthState) {
    idm.auth_step(step, id, None).unwrap()
}

/// How today's clients start a login.
fn init2(name: &str) -> AuthStep {
    AuthStep::Init2(idm_core::proto::AuthInit2 { username: name.into(), issue: Default::default(), privileged: false })
}

/// A password login: the token.
fn login(idm: &IdmServer, name: &str) -> String {
    let (id, _) = step(idm, init2(name), None);
    let (id, _) = step(idm, AuthStep::Begin("password".into()), Some(id));
    match step(idm, AuthStep::Cred(AuthCred::Password(format!("the password of {}", name.len()))), Some(id)).1 {
        AuthState::Success(t) => t,
        other => panic!("{name}: {other:?}"),
    }
}

fn reauth(idm: &IdmServer, token: &str, name: &str) -> String {
    let (id, _) = idm.reauth_begin(token, None).unwrap();
    match step(idm, AuthStep::Cred(AuthCred::Password(format!("the password of {}", name.len()))), Some(id)).1 {
        AuthState::Success(t) => t,
        other => panic!("{other:?}"),
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    ReadSelf,
    SearchPeople,
    ChangeOwnName,
    ChangeOthersName,
    CreateGroup,
}

const OPS: [Op; 5] = [Op::ReadSelf, Op::SearchPeople, Op::ChangeOwnName, Op::ChangeOthersName, Op::CreateGroup];

/// What happened: allowed, refused (403-like), or not authenticated (401-like).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Got {
    Allowed,
    Refused,
    Unauthenticated,
}

fn attempt(idm: &IdmServer, token: &str, op: Op) -> Got {
    let rename =
        ModifyList::new(vec![Modify::Purged("displayname".into()), Modify::Present("displayname".into(), "N".into())]);
    let out: Result<(), OperationError> = match op {
        Op::ReadSelf => idm.read_as(token, |r, i| r.search(i, &Filter::SelfUuid).map(drop)),
        Op::SearchPeople => idm.read_as(token, |r, i| r.search(i, &eq("class", "person")).map(drop)),
        Op::ChangeOwnName => idm.write_as(token, |w, i| w.modify(i, &Filter::SelfUuid, &rename).map(drop)),
        Op::ChangeOthersName => idm.write_as(token, |w, i| w.modify(i, &eq("name", "target"), &rename).map(drop)),
        Op::CreateGroup => idm.write_as(token, |w, i| {
            w.create(i, &[group(&format!("g{}", uuid::Uuid::new_v4().simple()), &[])]).map(drop)
        }),
    };
    match out {
        Ok(()) => Got::Allowed,
        Err(OperationError::NotAuthenticated | OperationError::SessionExpired) => Got::Unauthenticated,
        Err(
            OperationError::AccessDenied | OperationError::AccessDeniedReason(_) | OperationError::NoMatchingEntries,
        ) => Got::Refused,
        Err(e) => panic!("{op:?}: {e}"),
    }
}

#[test]
fn session_states_against_operations() {
    use Got::*;
    let w = world();
    let idm = &w.idm;
    let admin_ro = login(idm, "ian");
    let admin_rw = reauth(idm, &admin_ro, "ian");
    let person_ro = login(idm, "carol");
    let person_rw = reauth(idm, &person_ro, "carol");
    let anon = {
        let (id, _) = step(idm, AuthStep::Init("anonymous".into()), None);
        let (id, _) = step(idm, AuthStep::Begin("anonymous".into()), Some(id));
        match step(idm, AuthStep::Cred(AuthCred::Anonymous), Some(id)).1 {
            AuthState::Success(t) => t,
            other => panic!("{other:?}"),
        }
    };
    // (caller, [ReadSelf, SearchPeople, ChangeOwnName, ChangeOthersName, CreateGroup])
    let table: Vec<(&str, &str, [Got; 5])> = vec![
        ("idm admin, privileged", &admin_rw, [Allowed, Allowed, Allowed, Allowed, Allowed]),
        ("idm admin, read-only", &admin_ro, [Allowed, Allowed, Refused, Refused, Refused]),
        ("person, privileged", &person_rw, [Allowed, Allowed, Allowed, Refused, Refused]),
        ("person, read-only", &person_ro, [Allowed, Allowed, Refused, Refused, Refused]),
        ("anonymous", &anon, [Allowed, Allowed, Refused, Refused, Refused]),
    ];
    let mut failures = Vec::new();
    let mut check = |label: &str, token: &str, want: [Got; 5]| {
        for (op, want) in OPS.into_iter().zip(want) {
            let got = attempt(idm, token, op);
            if got != want {
                failures.push(format!("{label} × {op:?}: expected {want:?}, got {got:?}"));
            }
        }
    };
    for (label, token, want) in &table {
        check(label, token, *want);
    }
    // The privilege window closes: the privileged token reads again, nothing more.
    w.clock.advance(11 * 60);
    check("idm admin, window passed", &admin_rw, [Allowed, Allowed, Refused, Refused, Refused]);
    // Expired callers: every token of the account stops, for every operation.
    let qs = idm.qs();
    let expire = |name: &str, when: time::OffsetDateTime| {
        let mut wtx = qs.write().unwrap();
        let ml = idm_core::modify::ModifyList::new(vec![idm_core::modify::Modify::Present(
            "account_expire".into(),
            idm_core::value::Value::DateTime(when),
        )]);
        wtx.internal_modify(&idm_core::filter::Filter::eq("name", name), &ml).unwrap();
        wtx.commit().unwrap();
    };
    expire("carol", w.clock.now() + time::Duration::minutes(5));
    check("person, expiring later", &person_ro, [Allowed, Allowed, Refused, Refused, Refused]);
    w.clock.advance(6 * 60);
    check("person, expired", &person_ro, [Unauthenticated; 5]);
    check("person, expired (privileged token)", &person_rw, [Unauthenticated; 5]);
    // Recycled callers: deleted by an administrator (dora had not expired).
    let dora = reauth(idm, &login(idm, "dora"), "dora");
    check("person, before being deleted", &dora, [Allowed, Allowed, Allowed, Refused, Refused]);
    let admin_rw = reauth(idm, &admin_ro, "ian");
    assert_eq!(idm.write_as(&admin_rw, |w, i| w.delete(i, &eq("name", "dora")).map(drop)), Ok(()));
    check("person, recycled", &dora, [Unauthenticated; 5]);
    // Revoked: the administrator's own read-only session, ended by logout.
    idm.logout(&admin_ro).unwrap();
    check("idm admin, logged out", &admin_ro, [Unauthenticated; 5]);
    check("idm admin, logged out (privileged token)", &admin_rw, [Unauthenticated; 5]);
    assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn cached_identities_follow_the_commits_that_change_them() {
    let w = world();
    let idm = &w.idm;
    let carol = reauth(idm, &login(idm, "carol"), "carol");
    let scope = |t: &str| idm.read_as(t, |_, i| Ok(i.scope)).unwrap();
    assert_eq!(scope(&carol), AccessScope::ReadWrite);
    // Not yet allowed to change another person; then made an account manager; then not.
    assert_eq!(attempt(idm, &carol, Op::ChangeOthersName), Got::Refused);
    let qs = idm.qs();
    let members = |m: Modify| modify(qs, &eq("name", "idm_people_write_priv"), &ModifyList::new(vec![m])).unwrap();
    members(Modify::Present("member".into(), "carol".into()));
    assert_eq!(attempt(idm, &carol, Op::ChangeOthersName), Got::Allowed, "a new membership applies at once");
    members(Modify::Removed("member".into(), "carol".into()));
    assert_eq!(attempt(idm, &carol, Op::ChangeOthersName), Got::Refused, "a removed one too");
    // A change to an access profile applies at once as well.
    members(Modify::Present("member".into(), "carol".into()));
    assert_eq!(attempt(idm, &carol, Op::ChangeOthersName), Got::Allowed);
    let off = ModifyList::new(vec![
        Modify::Purged("acp_enable".into()),
        Modify::Present("acp_enable".into(), "false".into()),
    ]);
    modify(qs, &eq("name", "idm_acp_people_write"), &off).unwrap();
    assert_eq!(attempt(idm, &carol, Op::ChangeOthersName), Got::Refused);
    // Limits from a group's data apply at once.
    let n = |t: &str| idm.read_as(t, |_, i| Ok(i.limits.search_max_results)).unwrap();
    assert_eq!(n(&carol), 1000);
    let limit = ModifyList::new(vec![Modify::Present("limit_search_max_results".into(), "7".into())]);
    modify(qs, &eq("name", "staff"), &limit).unwrap();
    assert_eq!(n(&carol), 7);
    // Revoking the session through the API, as the account itself, ends it.
    assert_eq!(idm.revoke_sessions(&carol, "carol", None), Ok(1));
    assert_eq!(idm.read_as(&carol, |_, _| Ok(())), Err(OperationError::NotAuthenticated));
}

#[test]
fn account_policy_on_the_account_itself_bounds_its_sessions() {
    let w = world();
    let qs = w.idm.qs();
    let ml = ModifyList::new(vec![
        Modify::Present("class".into(), "account_policy".into()),
        Modify::Present("authsession_expiry".into(), "120".into()),
    ]);
    modify(qs, &eq("name", "carol"), &ml).unwrap();
    let t = login(&w.idm, "carol");
    let uat = idm_client::read_token(&t).unwrap();
    assert_eq!(uat.expiry.unwrap() - uat.issued_at, 120, "{uat:?}");
    w.clock.advance(121);
    assert_eq!(w.idm.read_as(&t, |_, _| Ok(())), Err(OperationError::SessionExpired));
}

/// Holds every hashing slot while `during` runs, so a login started meanwhile is paused after
/// reading the account and before its write; then lets it finish and returns its answer.
fn paused_login(w: &World, name: &'static str, during: impl FnOnce()) -> AuthState {
    let idm = &w.idm;
    let (id, _) = step(idm, init2(name), None);
    let (id, _) = step(idm, AuthStep::Begin("password".into()), Some(id));
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    let slots: Vec<_> = (0..cores).map(|_| idm.hashing().acquire().unwrap()).collect();
    let pw = format!("the password of {}", name.len());
    let t = {
        let idm = idm.clone();
        std::thread::spawn(move || idm.auth_step(AuthStep::Cred(AuthCred::Password(pw)), Some(id), None).unwrap().1)
    };
    std::thread::sleep(std::time::Duration::from_millis(300));
    during();
    drop(slots);
    t.join().unwrap()
}

#[test]
fn a_login_in_flight_loses_to_a_password_change_or_a_lock() {
    let w = world();
    // The password changes while the old one is being checked: no session comes of it.
    let out = paused_login(&w, "carol", || set_password(w.idm.qs(), "carol", "an entirely new passphrase"));
    assert!(matches!(&out, AuthState::Denied(m) if m.contains("changed")), "{out:?}");
    // The account is locked (expired a moment after the login began) meanwhile: refused too.
    let out = paused_login(&w, "ian", || {
        w.clock.advance(1);
        let ml = idm_core::modify::ModifyList::new(vec![idm_core::modify::Modify::Present(
            "account_expire".into(),
            idm_core::value::Value::DateTime(w.clock.now()),
        )]);
        let mut tx = w.idm.qs().write().unwrap();
        tx.internal_modify(&idm_core::filter::Filter::eq("name", "ian"), &ml).unwrap();
        tx.commit().unwrap();
    });
    assert!(matches!(&out, AuthState::Denied(m) if m.contains("expired")), "{out:?}");
    let found = w.idm.qs().read().unwrap().internal_search(&idm_core::filter::Filter::eq("name", "ian")).unwrap();
    assert!(found[0].get("user_auth_session").is_none(), "no session was recorded on the locked account");
}
