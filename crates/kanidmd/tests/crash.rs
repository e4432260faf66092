//! Crash injection: the real processes are killed with SIGKILL at random moments — during API
//! writes, offline commands and online backups. After every kill the database must pass
//! `verify`, every acknowledged write must be present, and a killed restore must leave the old
//! database or the new one, never a mix.
//!
//! `CRASH_POINTS` sets the kills per scenario (default 10; RELIABILITY.md records longer runs).

use idm_core::server::QueryServerTransaction;
use idm_testkit::server::{TestServer, kanidmd};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_kanidmd"))
}

fn points() -> usize {
    std::env::var("CRASH_POINTS").ok().and_then(|v| v.parse().ok()).unwrap_or(10)
}

/// A small deterministic generator, so a failing run can be repeated.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn verified(dir: &Path) {
    let out = kanidmd(bin(), dir, &["verify"]);
    assert!(out.contains("Verification passed"), "{out}");
}

/// Names of the live people in the database, read without changing it.
fn people(db: &Path) -> BTreeSet<String> {
    let qs = idm_core::server::QueryServer::new(idm_testkit::open_backend(db)).unwrap();
    let mut r = qs.read().unwrap();
    r.internal_search(&idm_core::filter::Filter::eq("class", "person"))
        .unwrap()
        .iter()
        .filter(|e| !e.has_class("recycled"))
        .filter_map(|e| e.first_str("name").map(str::to_string))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_during_api_writes_loses_nothing_acknowledged() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut s = TestServer::start(bin());
    let db = s.dir.path().join("data/kanidm.db");
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for round in 0..points() {
        let client = idm_client::KanidmClient::new(&s.url, Some(&s.ca)).unwrap();
        let token = client.login("idm_admin", Some(&s.passwords["idm_admin"])).await.unwrap();
        let writer = {
            let acked = acked.clone();
            tokio::spawn(async move {
                for i in 0.. {
                    let name = format!("r{round:03}w{i:05}");
                    let e = idm_core::proto::ProtoEntry::from_pairs([
                        ("class", vec!["person", "account"]),
                        ("name", vec![&name]),
                        ("displayname", vec!["Crash"]),
                    ]);
                    // Only a 200 is an acknowledgement; anything else may or may not be stored.
                    if client.create(&token, &[e]).await.is_err() {
                        return;
                    }
                    acked.lock().unwrap().push(name);
                }
            })
        };
        tokio::time::sleep(Duration::from_millis(50 + rng.below(400))).await;
        s.kill();
        let _ = writer.await;
        verified(s.dir.path());
        let stored = people(&db);
        let lost: Vec<String> = acked.lock().unwrap().iter().filter(|n| !stored.contains(*n)).cloned().collect();
        assert!(lost.is_empty(), "round {round}: acknowledged writes lost: {lost:?}");
        s.restart(bin());
    }
    assert!(acked.lock().unwrap().len() > points(), "the writer made progress");
    s.stop();
}

#[test]
fn killed_offline_commands_leave_a_consistent_database() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::create_dir(p.join("data")).unwrap();
    std::fs::write(p.join("server.toml"), "db_path = \"data/kanidm.db\"\ndomain = \"localhost\"\n").unwrap();
    let db = p.join("data/kanidm.db");
    {
        let qs = idm_testkit::open_qs(&db, "localhost");
        let people: Vec<_> = (0..3000).map(|i| idm_testkit::person(&format!("p{i:05}"))).collect();
        for chunk in people.chunks(1000) {
            idm_testkit::create(&qs, chunk).unwrap();
        }
        let members: Vec<String> = (0..3000).step_by(2).map(|i| format!("p{i:05}")).collect();
        let refs: Vec<&str> = members.iter().map(String::as_str).collect();
        idm_testkit::create(&qs, &[idm_testkit::group("half", &refs)]).unwrap();
    }
    let backup = p.join("state.json");
    kanidmd(bin(), p, &["backup", backup.to_str().unwrap()]);
    let from_backup = people(&db);
    idm_testkit::create(&idm_testkit::open_qs(&db, "localhost"), &[idm_testkit::person("only_live")]).unwrap();
    let live = people(&db);
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let commands: [&[&str]; 4] =
        [&["reindex"], &["vacuum"], &["domain_name_change", "-n", "renamed.localhost"], &["restore"]];
    for i in 0..points() * 4 {
        let cmd = commands[i % commands.len()];
        let mut args: Vec<String> = cmd.iter().map(|s| s.to_string()).collect();
        if cmd == ["domain_name_change", "-n", "renamed.localhost"] && i % 8 >= 4 {
            args[2] = "localhost".into();
        }
        if cmd == ["restore"] {
            args.push(backup.to_str().unwrap().into());
        }
        let mut child = Command::new(bin())
            .args(&args)
            .args(["-c", "server.toml"])
            .current_dir(p)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(rng.below(250)));
        let _ = child.kill();
        let _ = child.wait();
        verified(p);
        let now = people(&db);
        assert!(now == from_backup || now == live, "after killing {args:?}: neither the old nor the restored content");
        // Leftover temporary files of a killed restore never replace the database.
        for e in std::fs::read_dir(p.join("data")).unwrap().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.contains(".pre-restore-") || name.contains(".restore-") {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_during_online_backups_leaves_only_complete_backups() {
    let mut s = TestServer::start_custom(
        bin(),
        &[],
        "[online_backup]\npath = \"backups\"\nschedule = \"* * * * * *\"\nversions = 50\n",
    );
    {
        // Enough content that a backup takes a moment.
        let c = idm_client::KanidmClient::new(&s.url, Some(&s.ca)).unwrap();
        let _ = rustls::crypto::ring::default_provider().install_default();
        let token = c.login("idm_admin", Some(&s.passwords["idm_admin"])).await.unwrap();
        let people: Vec<_> = (0..2000).map(|i| idm_testkit::person(&format!("b{i:05}"))).collect();
        c.create(&token, &people).await.unwrap();
    }
    let mut rng = Rng(0x51_7cc1_b727_220a);
    let dir: PathBuf = s.dir.path().join("backups");
    for _ in 0..points() {
        tokio::time::sleep(Duration::from_millis(300 + rng.below(1500))).await;
        s.kill();
        verified(s.dir.path());
        for f in std::fs::read_dir(&dir).unwrap().flatten() {
            let name = f.file_name().to_string_lossy().into_owned();
            if name.starts_with("backup-") {
                let mut r = idm_core::backup::BackupReader::new(std::io::BufReader::new(
                    std::fs::File::open(f.path()).unwrap(),
                ))
                .unwrap_or_else(|e| panic!("{name}: {e}"));
                while r.next_entry().unwrap_or_else(|e| panic!("{name} is damaged: {e}")).is_some() {}
            }
        }
        s.restart(bin());
    }
    s.stop();
}
