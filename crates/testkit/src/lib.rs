//! Test and benchmark harness: opens the real engine on a real SQLite file in a temporary
//! folder. Used by the engine's integration tests and the benchmark binary; never shipped.

pub mod api;
pub mod fuzz;
pub mod fuzz_login;
pub mod server;
pub mod web;

use idm_core::be::Backend;
use idm_core::server::QueryServer;
use idm_sqlite::{SqliteBackend, SqliteConfig};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub const TEST_DOMAIN: &str = "example.com";

/// A database file in a temporary folder, removed on drop.
pub struct TestDb {
    pub dir: tempfile::TempDir,
    pub path: PathBuf,
}

impl TestDb {
    pub fn new() -> TestDb {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("cannot create temp dir: {e}"));
        let path = dir.path().join("kanidm.db");
        TestDb { dir, path }
    }

    /// Opens the file and initialises built-ins for [`TEST_DOMAIN`].
    pub fn open(&self) -> QueryServer {
        open_qs(&self.path, TEST_DOMAIN)
    }
}

impl Default for TestDb {
    fn default() -> Self {
        Self::new()
    }
}

pub fn open_backend(path: &Path) -> Arc<dyn Backend> {
    Arc::new(SqliteBackend::open(path, SqliteConfig::default()).unwrap_or_else(|e| panic!("open {path:?}: {e}")))
}

pub fn open_qs(path: &Path, domain: &str) -> QueryServer {
    let qs = QueryServer::new(open_backend(path)).unwrap_or_else(|e| panic!("query server: {e}"));
    qs.initialise(domain).unwrap_or_else(|e| panic!("initialise: {e}"));
    qs
}

use idm_core::entry::Entry;
use idm_core::identity::Identity;
use idm_core::proto::{Filter, ModifyList, OperationError, ProtoEntry};
use idm_core::server::QueryServerTransaction;
use std::collections::BTreeMap;

/// The six privilege groups the document's first `raw modify` adds `idm_admin` to.
pub const DOCUMENT_PRIVILEGE_GROUPS: [&str; 6] = [
    "idm_person_account_create_priv",
    "idm_service_account_create_priv",
    "idm_account_write_priv",
    "idm_group_write_priv",
    "idm_people_write_priv",
    "idm_group_create_priv",
];

/// A proto entry from `attr => values` pairs.
pub fn pe(pairs: &[(&str, &[&str])]) -> ProtoEntry {
    ProtoEntry {
        attrs: pairs.iter().map(|(k, vs)| (k.to_string(), vs.iter().map(|v| v.to_string()).collect())).collect(),
    }
}

pub fn person(name: &str) -> ProtoEntry {
    let display = format!("Person {name}");
    pe(&[("class", &["person", "account"]), ("name", &[name]), ("displayname", &[&display])])
}

pub fn group(name: &str, members: &[&str]) -> ProtoEntry {
    let mut e = pe(&[("class", &["group"]), ("name", &[name])]);
    if !members.is_empty() {
        e.attrs.insert("member".into(), members.iter().map(|m| m.to_string()).collect());
    }
    e
}

/// An `attributetype` definition as a caller would create it.
pub fn attribute_type(name: &str, syntax: &str, multivalue: bool, unique: bool, index: &[&str]) -> ProtoEntry {
    let (mv, un) = (multivalue.to_string(), unique.to_string());
    let mut e = pe(&[
        ("class", &["attributetype"]),
        ("attributename", &[name]),
        ("multivalue", &[&mv]),
        ("unique", &[&un]),
        ("syntax", &[syntax]),
    ]);
    if !index.is_empty() {
        e.attrs.insert("index".into(), index.iter().map(|i| i.to_string()).collect());
    }
    e
}

/// Creates entries in one committed transaction, as an internal caller.
pub fn create(qs: &QueryServer, entries: &[ProtoEntry]) -> Result<(), OperationError> {
    let mut w = qs.write()?;
    w.create(&Identity::internal(), entries)?;
    w.commit()
}

pub fn modify(qs: &QueryServer, f: &Filter, ml: &ModifyList) -> Result<usize, OperationError> {
    let mut w = qs.write()?;
    let n = w.modify(&Identity::internal(), f, ml)?;
    w.commit()?;
    Ok(n)
}

pub fn delete(qs: &QueryServer, f: &Filter) -> Result<usize, OperationError> {
    let mut w = qs.write()?;
    let n = w.delete(&Identity::internal(), f)?;
    w.commit()?;
    Ok(n)
}

pub fn eq(a: &str, v: &str) -> Filter {
    Filter::Eq(a.into(), v.into())
}

/// Every stored entry by uuid: used to prove a failed operation changed nothing.
pub fn dump(qs: &QueryServer) -> BTreeMap<uuid::Uuid, Entry> {
    let mut r = qs.read().unwrap_or_else(|e| panic!("read: {e}"));
    let mut out = BTreeMap::new();
    r.be()
        .for_each_entry(&mut |e| {
            out.insert(e.uuid().unwrap_or_default(), e.entry);
            Ok(())
        })
        .unwrap_or_else(|e| panic!("scan: {e}"));
    out
}

/// The live entry named `name` (not in the recycle bin), as stored.
pub fn get(qs: &QueryServer, name: &str) -> Option<Entry> {
    let mut r = qs.read().ok()?;
    let found = r.search(&Identity::internal(), &eq("name", name)).ok()?;
    found.into_iter().map(|s| s.entry).find(|e| !e.has_class("recycled") && !e.has_class("tombstone"))
}

/// Sets the password of the account `name` (cheap test hashing), as an internal write.
pub fn set_password(qs: &QueryServer, name: &str, password: &str) {
    use idm_core::modify::{Modify, ModifyList};
    let cred = idm_identity::password::hash(password, &idm_identity::password::PasswordParams::insecure_fast(), false)
        .unwrap_or_else(|e| panic!("{e}"));
    let mut w = qs.write().unwrap_or_else(|e| panic!("{e}"));
    let ml = ModifyList::new(vec![
        Modify::Purged("primary_credential".into()),
        Modify::Present("primary_credential".into(), idm_core::value::Value::Credential(cred)),
    ]);
    let n = w.internal_modify(&idm_core::filter::Filter::eq("name", name), &ml).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(n, 1, "no account named {name}");
    w.commit().unwrap_or_else(|e| panic!("{e}"));
}

/// An authenticator app's TOTP (SHA-1, 6 digits, 30 s) with `secret`, never used.
pub fn app_totp(secret: &[u8]) -> idm_core::credential::Totp {
    idm_core::credential::Totp {
        secret: secret.to_vec(),
        algo: idm_core::credential::TotpAlgo::Sha1,
        step: 30,
        digits: 6,
        created: 0,
        last_step: 0,
        last_used: None,
    }
}

/// Gives `name`, which has a password, a TOTP (labelled "fuzz") with `secret`.
pub fn add_totp(qs: &QueryServer, name: &str, secret: &[u8]) {
    use idm_core::modify::{Modify, ModifyList};
    use idm_core::value::{Credential, Value};
    let mut w = qs.write().unwrap_or_else(|e| panic!("{e}"));
    let f = idm_core::filter::Filter::eq("name", name);
    let found = w.internal_search(&f).unwrap_or_else(|e| panic!("{e}"));
    let Some(Value::Credential(c)) = found.first().and_then(|e| e.first("primary_credential")).cloned() else {
        panic!("{name} has no password")
    };
    let totp = app_totp(secret);
    let cred = Credential::PasswordMfa {
        phc: c.phc().to_string(),
        totp: [("fuzz".to_string(), totp)].into(),
        backup_codes: None,
    };
    let ml = ModifyList::new(vec![
        Modify::Purged("primary_credential".into()),
        Modify::Present("primary_credential".into(), Value::Credential(cred)),
    ]);
    w.internal_modify(&f, &ml).unwrap_or_else(|e| panic!("{e}"));
    w.commit().unwrap_or_else(|e| panic!("{e}"));
}

/// Runs verify and panics with every problem if it is not clean.
pub fn assert_verified(qs: &QueryServer) {
    let mut r = qs.read().unwrap_or_else(|e| panic!("read: {e}"));
    let report = r.verify(&mut ()).unwrap_or_else(|e| panic!("verify: {e}"));
    assert!(report.is_clean(), "verify found problems: {:#?}", report.errors);
}

/// Reads a pragma from the database file with a separate SQLite connection.
pub fn sqlite_pragma(path: &Path, pragma: &str) -> String {
    let conn = rusqlite::Connection::open(path).unwrap_or_else(|e| panic!("open {path:?}: {e}"));
    let v: rusqlite::types::Value =
        conn.query_row(&format!("PRAGMA {pragma}"), [], |r| r.get(0)).unwrap_or_else(|e| panic!("pragma: {e}"));
    match v {
        rusqlite::types::Value::Integer(i) => i.to_string(),
        rusqlite::types::Value::Text(t) => t,
        other => format!("{other:?}"),
    }
}

/// Answers a passkey creation challenge with `key` at `origin`. The server asks for a
/// resident key, which `SoftPasskey` (it keeps no keys of its own) refuses to make; since
/// WebAuthn gives a server no proof either way, the soft authenticator is told not to care,
/// and answers as one that stored the key would.
pub fn soft_register(
    key: &mut webauthn_authenticator_rs::softpasskey::SoftPasskey,
    origin: &str,
    challenge: &serde_json::Value,
) -> serde_json::Value {
    use webauthn_authenticator_rs::AuthenticatorBackend;
    use webauthn_authenticator_rs::prelude::{CreationChallengeResponse, Url};
    let mut ccr: CreationChallengeResponse = serde_json::from_value(challenge.clone())
        .unwrap_or_else(|e| panic!("not a creation challenge: {e}: {challenge}"));
    if let Some(sel) = ccr.public_key.authenticator_selection.as_mut() {
        sel.require_resident_key = false;
    }
    let origin = Url::parse(origin).unwrap_or_else(|e| panic!("{origin}: {e}"));
    let answer = key.perform_register(origin, ccr.public_key, 60_000).unwrap_or_else(|e| panic!("{e:?}"));
    serde_json::to_value(answer).unwrap_or_else(|e| panic!("{e}"))
}
