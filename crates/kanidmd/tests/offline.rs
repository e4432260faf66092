//! End-to-end tests of the offline administration commands: the real `kanidmd` binary on
//! real database files in temporary folders.

use idm_core::backup::{BackupHeader, BackupReader, BackupWriter};
use idm_core::entry::Entry;
use idm_core::value::Value;
use idm_testkit::{dump, group, open_qs, person};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

const DOMAIN: &str = "idm.example.com";

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        Env::with_config("")
    }

    /// A configuration with `extra` appended to the basics.
    fn with_config(extra: &str) -> Env {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("data")).unwrap();
        let text = format!(
            "db_path = \"data/kanidm.db\"\ndomain = \"{DOMAIN}\"\norigin = \"https://{DOMAIN}:8443\"\n{extra}\n[online_backup]\npath = \"backups\"\n"
        );
        std::fs::write(dir.path().join("server.toml"), text).unwrap();
        Env { dir }
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("server.toml")
    }

    fn db(&self) -> PathBuf {
        self.dir.path().join("data/kanidm.db")
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    /// Runs `kanidmd ARGS -c server.toml`.
    fn run(&self, args: &[&str]) -> Output {
        let mut all: Vec<&str> = args.to_vec();
        let cfg = self.config();
        all.extend(["-c", cfg.to_str().unwrap()]);
        self.run_raw(&all)
    }

    fn run_raw(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_kanidmd"))
            .args(args)
            .current_dir(self.dir.path())
            .env_remove("KANIDM_CONFIG")
            .env_remove("RUST_LOG")
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(o.status.success(), "kanidmd {args:?} failed:\n{}\n{}", text(&o.stdout), text(&o.stderr));
        text(&o.stdout)
    }

    /// Runs a command that must fail and returns its combined output.
    fn fails(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(!o.status.success(), "kanidmd {args:?} should have failed:\n{}", text(&o.stdout));
        format!("{}{}", text(&o.stdout), text(&o.stderr))
    }

    /// Creates the database with some people and nested groups through the engine.
    fn populate(&self, n: usize) {
        let qs = open_qs(&self.db(), DOMAIN);
        let people: Vec<_> = (0..n).map(|i| person(&format!("user{i:04}"))).collect();
        for chunk in people.chunks(500) {
            idm_testkit::create(&qs, chunk).unwrap();
        }
        let members: Vec<String> = (0..n).step_by(3).map(|i| format!("user{i:04}")).collect();
        let refs: Vec<&str> = members.iter().map(String::as_str).collect();
        idm_testkit::create(&qs, &[group("staff", &refs), group("everyone", &["staff", "user0001"])]).unwrap();
    }

    fn content(&self) -> BTreeMap<uuid::Uuid, Entry> {
        dump(&open_qs(&self.db(), DOMAIN))
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn backup_path(out: &str) -> PathBuf {
    let p = out.trim().rsplit(" to ").next().unwrap();
    PathBuf::from(p.trim())
}

#[test]
fn the_documents_sequence() {
    let env = Env::new();
    env.populate(300);
    let before = env.content();
    let out = env.ok(&["backup"]);
    let file = env.path(backup_path(&out).to_str().unwrap());
    assert!(file.starts_with(env.path("backups")), "{out}");
    let name = file.file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with("backup-") && !name.contains(':'), "{name}");

    // Change the database, then restore: the change is gone.
    idm_testkit::create(&open_qs(&env.db(), DOMAIN), &[person("latecomer")]).unwrap();
    let out = env.ok(&["restore", file.to_str().unwrap()]);
    assert!(out.contains("Restored") && out.contains("previous database was kept"), "{out}");
    assert_eq!(before, env.content());

    assert!(env.ok(&["reindex"]).contains("Reindexed"));
    assert!(env.ok(&["vacuum"]).contains("bytes after"));
    assert!(env.ok(&["verify"]).contains("Verification passed"));

    let out = env.ok(&["domain_name_change", "-n", "idm2.example.com"]);
    assert!(out.contains("(SPNs) will be regenerated") && out.contains("passkey"), "{out}");
    let qs = open_qs(&env.db(), "idm2.example.com");
    let u = idm_testkit::get(&qs, "user0003").unwrap();
    assert_eq!(u.first("spn"), Some(&Value::Spn("user0003".into(), "idm2.example.com".into())));
    drop(qs);
    assert!(env.ok(&["verify"]).contains("Verification passed"));
    // The configuration still names the old domain, so opening for service is refused.
    let err = env.fails(&["recover_account", "admin"]);
    assert!(err.contains("domain_name_change"), "{err}");
}

#[test]
fn backup_and_restore_without_a_file() {
    let env = Env::new();
    let err = env.fails(&["backup"]);
    assert!(err.contains("does not exist"), "{err}");
    assert!(!env.db().exists(), "a failed backup must not create a database");
    env.populate(10);
    let listing = env.fails(&["restore"]);
    assert!(listing.contains("no backups found"), "{listing}");
    env.ok(&["backup"]);
    let listing = env.fails(&["restore"]);
    assert!(listing.contains("Backups found") && listing.contains("backup-"), "{listing}");
    // An explicit file is never overwritten.
    let target = env.path("one.json");
    env.ok(&["backup", target.to_str().unwrap()]);
    let err = env.fails(&["backup", target.to_str().unwrap()]);
    assert!(err.contains("already exists"), "{err}");
}

#[test]
fn configuration_errors_name_the_key_and_file() {
    let env = Env::new();
    let cases = [
        ("db_path = \"k.db\"\nfrobnicate = true\n", "frobnicate"),
        ("db_path = 3\n", "db_path"),
        ("db_path = \"k.db\"\ndb_fs_type = \"ntfs\"\n", "db_fs_type"),
        ("db_path = \"k.db\"\n[online_backup]\nversions = 0\n", "versions"),
    ];
    for (body, key) in cases {
        std::fs::write(env.config(), body).unwrap();
        let err = env.fails(&["verify"]);
        assert!(err.contains(key) && err.contains("server.toml"), "{body:?}: {err}");
    }
    let err = env.run_raw(&["verify", "-c", "/nonexistent/server.toml"]);
    assert!(!err.status.success() && text(&err.stderr).contains("/nonexistent/server.toml"));
    let err = env.run_raw(&["verify"]);
    assert!(!err.status.success() && text(&err.stderr).contains("KANIDM_CONFIG"));
    // KANIDM_CONFIG works in place of -c.
    let env = Env::new();
    env.populate(2);
    let o = Command::new(env!("CARGO_BIN_EXE_kanidmd"))
        .arg("verify")
        .env("KANIDM_CONFIG", env.config())
        .current_dir(env.dir.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o.stderr));
}

#[test]
fn commands_refuse_while_the_database_is_locked() {
    let env = Env::new();
    env.populate(5);
    let held = idm_server::lock::lock_db(&env.db()).unwrap();
    for cmd in [&["verify"][..], &["backup"], &["reindex"], &["vacuum"], &["recover_account", "admin"]] {
        let err = env.fails(cmd);
        assert!(err.contains("in use") && err.contains("stop it"), "{cmd:?}: {err}");
    }
    drop(held);
    env.ok(&["verify"]);
}

fn write_backup(path: &Path, header: &BackupHeader, entries: &[Entry]) {
    let f = std::fs::File::create(path).unwrap();
    let mut w = BackupWriter::new(std::io::BufWriter::new(f), header).unwrap();
    entries.iter().for_each(|e| w.write_entry(e).unwrap());
    w.finish().unwrap();
}

fn read_backup(path: &Path) -> (BackupHeader, Vec<Entry>) {
    let mut r = BackupReader::new(std::io::BufReader::new(std::fs::File::open(path).unwrap())).unwrap();
    let mut out = Vec::new();
    while let Some((_, e)) = r.next_entry().unwrap() {
        out.push(e);
    }
    (r.header.clone(), out)
}

#[test]
fn bad_backups_are_refused_and_the_database_is_untouched() {
    let env = Env::new();
    env.populate(50);
    let good = env.path("good.json");
    env.ok(&["backup", good.to_str().unwrap()]);
    let bytes = std::fs::read(&good).unwrap();
    let before = env.content();
    let mut cases: Vec<(&str, Vec<u8>, &str)> = Vec::new();
    for pct in (0..100).step_by(10).chain([99]) {
        cases.push(("truncated", bytes[..bytes.len() * pct / 100].to_vec(), ""));
    }
    // One byte changed anywhere: refused, whatever the byte hit.
    for pos in (0..bytes.len()).step_by(bytes.len() / 23) {
        let mut edited = bytes.clone();
        edited[pos] ^= 0x01;
        cases.push(("one byte edited", edited, ""));
    }
    let edited = String::from_utf8(bytes.clone()).unwrap().replacen("Person user0007", "Person userX007", 1);
    cases.push(("edited", edited.into_bytes(), "checksum"));
    cases.push(("wrong format", b"[{\"name\": [\"x\"]}]\n".to_vec(), "not a backup"));
    cases.push(("gzip", vec![0x1f, 0x8b, 8, 0, 0, 0], "gzip"));
    // A well-formed backup whose content breaks the schema: a person without displayname.
    let (header, mut entries) = read_backup(&good);
    let victim = entries.iter_mut().find(|e| e.first_str("name") == Some("user0009")).unwrap();
    victim.purge("displayname");
    let crafted = env.path("crafted.json");
    write_backup(&crafted, &header, &entries);
    cases.push(("schema violation", std::fs::read(&crafted).unwrap(), "displayname"));
    // And one with a reference to an entry that is not in the backup.
    let (header, mut entries) = read_backup(&good);
    let staff = entries.iter_mut().find(|e| e.first_str("name") == Some("staff")).unwrap();
    staff.add("member", Value::Refer(uuid::Uuid::from_u128(0xdead_beef_0000_1111)));
    write_backup(&crafted, &header, &entries);
    cases.push(("dangling reference", std::fs::read(&crafted).unwrap(), "not in the backup"));

    let bad = env.path("bad.json");
    for (what, content, expect) in cases {
        std::fs::write(&bad, content).unwrap();
        let err = env.fails(&["restore", bad.to_str().unwrap()]);
        assert!(err.to_lowercase().contains(expect), "{what}: {err}");
        assert_eq!(before, env.content(), "{what}: the database changed");
        let leftovers: Vec<_> = std::fs::read_dir(env.path("data"))
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().contains("restore-"))
            .collect();
        assert!(leftovers.is_empty(), "{what}: temporary files left behind");
    }
}

#[test]
fn a_killed_restore_leaves_the_old_or_the_new_database() {
    let env = Env::new();
    env.populate(3000);
    let file = env.path("state_a.json");
    env.ok(&["backup", file.to_str().unwrap()]);
    let state_a = env.content();
    idm_testkit::create(&open_qs(&env.db(), DOMAIN), &[person("only_in_b")]).unwrap();
    let state_b = env.content();
    let cfg = env.config();
    for delay_ms in [5u64, 20, 40, 80, 120, 200, 400] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_kanidmd"))
            .args(["restore", file.to_str().unwrap(), "-c", cfg.to_str().unwrap()])
            .current_dir(env.dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        let now = env.content();
        assert!(now == state_a || now == state_b, "after a kill at {delay_ms} ms the database is neither old nor new");
        env.ok(&["verify"]);
        if now == state_a {
            // Put state B back so the next kill can tell old from new.
            idm_testkit::create(&open_qs(&env.db(), DOMAIN), &[person("only_in_b")]).unwrap();
        }
    }
}

#[test]
fn verify_finds_damage_planted_in_sqlite() {
    let env = Env::new();
    env.populate(20);
    env.ok(&["verify"]);
    let conn = rusqlite::Connection::open(env.db()).unwrap();
    // A damaged index: one key's ids are lost.
    let n = conn.execute("DELETE FROM idx_eq_name WHERE key = 'user0005'", []).unwrap();
    assert_eq!(n, 1);
    // A dangling reference: a member that does not exist.
    let (id, data): (i64, Vec<u8>) = conn
        .query_row("SELECT id, data FROM entries ORDER BY id DESC LIMIT 1", [], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap();
    let mut e = Entry::decode(&data).unwrap();
    assert!(e.has_class("group"));
    e.add("member", Value::Refer(uuid::Uuid::from_u128(0x0bad_cafe)));
    conn.execute("UPDATE entries SET data = ?1 WHERE id = ?2", rusqlite::params![e.encode().unwrap(), id]).unwrap();
    drop(conn);
    let out = env.fails(&["verify"]);
    assert!(out.contains("EQUALITY") && out.contains("user0005"), "{out}");
    assert!(out.contains("member") && out.contains("does not exist"), "{out}");
    assert!(out.contains("Verification failed"), "{out}");
    // reindex repairs the index; the reference remains for the operator to fix.
    env.ok(&["reindex"]);
    let out = env.fails(&["verify"]);
    assert!(!out.contains("user0005") && out.contains("does not exist"), "{out}");
}

#[test]
fn vacuum_applies_the_page_size() {
    let env = Env::with_config("db_fs_type = \"zfs\"");
    env.populate(10);
    assert_eq!(idm_testkit::sqlite_pragma(&env.db(), "page_size"), "4096");
    let out = env.ok(&["vacuum"]);
    assert!(out.contains("65536"), "{out}");
    assert_eq!(idm_testkit::sqlite_pragma(&env.db(), "page_size"), "65536");
    assert_eq!(idm_testkit::sqlite_pragma(&env.db(), "journal_mode"), "wal");
    env.ok(&["verify"]);
}

#[test]
fn a_copy_of_the_stopped_data_folder_is_a_working_backup() {
    let env = Env::new();
    env.populate(40);
    let before = env.content();
    // Method 2: copy the data folder while nothing runs on it.
    let copy = env.path("data-copy");
    std::fs::create_dir(&copy).unwrap();
    for e in std::fs::read_dir(env.path("data")).unwrap().flatten() {
        std::fs::copy(e.path(), copy.join(e.file_name())).unwrap();
    }
    assert!(!copy.join("kanidm.db-wal").exists(), "a clean stop leaves no log behind");
    std::fs::remove_dir_all(env.path("data")).unwrap();
    std::fs::rename(&copy, env.path("data")).unwrap();
    assert_eq!(before, env.content());
    env.ok(&["verify"]);
}

#[test]
fn recover_account_creates_the_database_and_sets_a_working_password() {
    let env = Env::new();
    let out = env.ok(&["recover_account", "admin"]);
    let password = out.trim().rsplit(' ').next().unwrap().to_string();
    assert!(password.len() >= 20, "{out}");
    let qs = open_qs(&env.db(), DOMAIN);
    let admin = idm_testkit::get(&qs, "admin").unwrap();
    match admin.first("primary_credential") {
        Some(Value::Credential(c)) => assert!(idm_identity::password::verify(c, &password)),
        other => panic!("no credential: {other:?}"),
    }
    drop(qs);
    let out = env.ok(&["recover_account", "-n", "idm_admin"]);
    assert!(out.contains("idm_admin"));
    let err = env.fails(&["recover_account", "nobody_like_this"]);
    assert!(err.contains("no account named"), "{err}");
}

#[test]
fn reindex_builds_an_index_added_at_run_time() {
    let env = Env::new();
    env.populate(10);
    {
        let qs = open_qs(&env.db(), DOMAIN);
        idm_testkit::modify(
            &qs,
            &idm_testkit::eq("attributename", "description"),
            &idm_core::proto::ModifyList::new(vec![idm_core::proto::Modify::Present(
                "index".into(),
                "EQUALITY".into(),
            )]),
        )
        .unwrap();
    }
    let out = env.ok(&["verify"]);
    assert!(out.contains("WARNING") && out.contains("EQUALITY description") && out.contains("reindex"), "{out}");
    env.ok(&["reindex"]);
    let out = env.ok(&["verify"]);
    assert!(!out.contains("WARNING"), "{out}");
}
