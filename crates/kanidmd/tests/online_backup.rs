//! Online backups from a running `kanidmd server`: on schedule, with retention, under
//! concurrent writes, with a failing target folder, and refused settings.

use idm_testkit::server::{TestServer, kanidmd, kanidmd_fails};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_kanidmd"))
}

fn backups_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|r| r.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "json")).collect())
        .unwrap_or_default();
    v.sort();
    v
}

fn client(s: &TestServer) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(&std::fs::read(&s.ca).unwrap()).unwrap();
    reqwest::Client::builder().tls_certs_only([ca]).build().unwrap()
}

async fn login(s: &TestServer, name: &str) -> String {
    idm_client::KanidmClient::new(&s.url, Some(&s.ca)).unwrap().login(name, Some(&s.passwords[name])).await.unwrap()
}

/// Waits up to `secs` for `cond`.
async fn eventually(secs: u64, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(secs) {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    cond()
}

#[tokio::test(flavor = "multi_thread")]
async fn scheduled_backups_with_retention_and_a_failing_folder() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let s = TestServer::start_custom(
        bin(),
        &[],
        "[online_backup]\npath = \"backups\"\nschedule = \"* * * * * *\"\nversions = 3\n",
    );
    let dir = s.dir.path().join("backups");
    // Every second a backup appears; retention keeps exactly the newest three.
    assert!(eventually(15, || backups_in(&dir).len() >= 3).await, "backups did not appear on schedule");
    tokio::time::sleep(Duration::from_secs(3)).await;
    // Between a new backup's rename and the oldest one's removal, four exist for a moment;
    // once that step ends, exactly three (a retention that did not work would only grow).
    assert!(
        eventually(5, || backups_in(&dir).len() == 3).await,
        "retention keeps exactly `versions` files: {:?}",
        backups_in(&dir)
    );
    assert!(backups_in(&dir).len() <= 4, "{:?}", backups_in(&dir));
    // A file that is not ours is never touched.
    std::fs::write(dir.join("notes.json"), "keep me").unwrap();

    // The status is visible to system administrators, and not to others.
    let admin = login(&s, "admin").await;
    let c = idm_client::KanidmClient::new(&s.url, Some(&s.ca)).unwrap();
    let st = c.backup_status(&admin).await.unwrap();
    assert_eq!(st["versions"], 3, "{st}");
    assert!(st["next_run"].is_string() && st["last_file"].is_string() && st["last_error"].is_null(), "{st}");
    let idm = login(&s, "idm_admin").await;
    let r = client(&s).get(format!("{}/v1/system/backup", s.url)).bearer_auth(&idm).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 403);

    // Make the folder unusable: backups fail, the server keeps answering, nothing is removed.
    let aside = s.dir.path().join("backups-aside");
    std::fs::rename(&dir, &aside).unwrap();
    std::fs::write(&dir, "not a folder").unwrap();
    let before = backups_in(&aside);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let st = c.backup_status(&admin).await.unwrap();
    assert!(st["last_error"].is_string(), "the failure is reported: {st}");
    let status: Value = client(&s).get(format!("{}/status", s.url)).send().await.unwrap().json().await.unwrap();
    assert_eq!(status, json!(true));
    assert_eq!(backups_in(&aside), before, "a failed backup removes nothing");
    // Put the folder back: backups resume and retention applies again.
    std::fs::remove_file(&dir).unwrap();
    std::fs::rename(&aside, &dir).unwrap();
    assert!(
        eventually(10, || {
            let st = backups_in(&dir);
            st.len() == 4 && st.iter().any(|p| p.ends_with("notes.json"))
        })
        .await,
        "{:?}",
        backups_in(&dir)
    );
    s.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backup_under_writes_restores_with_every_acknowledged_write() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let s = TestServer::start_custom(bin(), &[], "[online_backup]\npath = \"backups\"\nschedule = \"@daily\"\n");
    let idm = login(&s, "idm_admin").await;
    let admin = login(&s, "admin").await;
    let c = idm_client::KanidmClient::new(&s.url, Some(&s.ca)).unwrap();
    // A writer creates people continuously; each acknowledged name is recorded.
    let acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::<(String, Instant)>::new()));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (acked, stop, idm) = (acked.clone(), stop.clone(), idm.clone());
        let c = idm_client::KanidmClient::new(&s.url, Some(&s.ca)).unwrap();
        tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) && i < 2000 {
                let name = format!("writer{i:05}");
                let e = idm_core::proto::ProtoEntry::from_pairs([
                    ("class", vec!["person", "account"]),
                    ("name", vec![&name]),
                    ("displayname", vec!["W"]),
                ]);
                c.create(&idm, &[e]).await.unwrap();
                acked.lock().unwrap().push((name, Instant::now()));
                i += 1;
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let requested = Instant::now();
    let done = c.backup_now(&admin).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.await.unwrap();
    let must_have: Vec<String> =
        acked.lock().unwrap().iter().filter(|(_, t)| *t < requested).map(|(n, _)| n.clone()).collect();
    assert!(!must_have.is_empty());
    // Restore it into a new server folder: verify passes and every write acknowledged before
    // the backup was requested is there.
    let other = tempfile::tempdir().unwrap();
    let file = other.path().join("online.json");
    std::fs::copy(done["file"].as_str().unwrap(), &file).unwrap();
    s.stop();
    std::fs::create_dir(other.path().join("data")).unwrap();
    std::fs::write(other.path().join("server.toml"), "db_path = \"data/kanidm.db\"\ndomain = \"localhost\"\n").unwrap();
    kanidmd(bin(), other.path(), &["restore", file.to_str().unwrap()]);
    assert!(kanidmd(bin(), other.path(), &["verify"]).contains("Verification passed"));
    let qs = idm_testkit::open_qs(&other.path().join("data/kanidm.db"), "localhost");
    for n in &must_have {
        assert!(idm_testkit::get(&qs, n).is_some(), "{n} was acknowledged before the backup but is missing");
    }
}

#[test]
fn invalid_online_backup_settings_refuse_to_start() {
    for (extra, key) in [
        ("[online_backup]\npath = \"backups\"\nschedule = \"whenever\"\n", "online_backup.schedule"),
        ("[online_backup]\npath = \"backups\"\nversions = 0\n", "online_backup.versions"),
        ("[online_backup]\npath = \"server.toml\"\n", "online_backup.path"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("data")).unwrap();
        let base = "bindaddress = \"127.0.0.1:0\"\ndb_path = \"data/kanidm.db\"\ndomain = \"localhost\"\ntls_chain = \"insecure/chain.pem\"\ntls_key = \"insecure/key.pem\"\n";
        std::fs::write(dir.path().join("server.toml"), base).unwrap();
        kanidmd(bin(), dir.path(), &["cert_generate"]);
        std::fs::write(dir.path().join("server.toml"), format!("{base}{extra}")).unwrap();
        let err = kanidmd_fails(bin(), dir.path(), &["server"]);
        assert!(err.contains(key), "{extra:?}: {err}");
    }
}
