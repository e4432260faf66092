//! Backups when the target folder fails: a full file system and a read-only one (small tmpfs
//! mounts, so these run as root, as CI does, and are skipped with a message otherwise). Each
//! failure is reported, leaves no partial file under a backup's name, and loses nothing.

use idm_testkit::server::{TestServer, kanidmd};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_kanidmd"))
}

/// A small tmpfs, unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    /// Mounts a tmpfs of `size` at `at`. Only root can; elsewhere these tests are skipped with
    /// a message (CI runs as root, so there they always run and a failed mount fails them).
    fn mount(at: &Path, size: &str) -> Option<Tmpfs> {
        let root = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"));
        if !root {
            eprintln!("skipped: mounting a small file system for the fault tests needs root");
            return None;
        }
        std::fs::create_dir_all(at).unwrap();
        let ok = Command::new("mount").args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"]).arg(at).status();
        assert!(ok.is_ok_and(|s| s.success()), "cannot mount a tmpfs at {}", at.display());
        Some(Tmpfs(at.to_path_buf()))
    }

    fn remount(&self, opts: &str) {
        let ok = Command::new("mount").args(["-o", &format!("remount,{opts}")]).arg(&self.0).status().unwrap();
        assert!(ok.success());
    }

    /// Fills the file system so the next write fails.
    fn fill(&self) -> PathBuf {
        let filler = self.0.join("filler");
        let _ = Command::new("dd").args(["if=/dev/zero", &format!("of={}", filler.display()), "bs=64k"]).output();
        filler
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

fn backups_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|r| {
            r.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("backup-"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn offline_backup_to_a_full_or_read_only_folder_fails_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::create_dir(p.join("data")).unwrap();
    std::fs::write(p.join("server.toml"), "db_path = \"data/kanidm.db\"\ndomain = \"localhost\"\n").unwrap();
    {
        let qs = idm_testkit::open_qs(&p.join("data/kanidm.db"), "localhost");
        let people: Vec<_> = (0..300).map(|i| idm_testkit::person(&format!("u{i:04}"))).collect();
        idm_testkit::create(&qs, &people).unwrap();
    }
    let Some(fs) = Tmpfs::mount(&p.join("small"), "64k") else { return };
    let target = p.join("small/b.json");
    let out = Command::new(bin()).args(["backup", "-c", "server.toml"]).arg(&target).current_dir(p).output().unwrap();
    assert!(!out.status.success(), "a backup that does not fit must fail");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("No space left") || err.contains("space"), "{err}");
    assert!(!target.exists(), "no partial file under the backup's name");
    assert!(std::fs::read_dir(&fs.0).unwrap().next().is_none(), "the temporary file was removed");
    fs.remount("ro");
    let out = Command::new(bin()).args(["backup", "-c", "server.toml"]).arg(&target).current_dir(p).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("Read-only"), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(kanidmd(bin(), p, &["verify"]).contains("Verification passed"));
}

#[tokio::test(flavor = "multi_thread")]
async fn online_backups_to_a_full_folder_keep_older_ones_and_the_server_serving() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let s = TestServer::start_custom(
        bin(),
        &[],
        "[online_backup]\npath = \"backups\"\nschedule = \"@daily\"\nversions = 2\n",
    );
    let dir = s.dir.path().join("backups");
    let Some(fs) = Tmpfs::mount(&dir, "1m") else { return };
    let c = idm_client::KanidmClient::new(&s.url, Some(&s.ca)).unwrap();
    let admin = c.login("admin", Some(&s.passwords["admin"])).await.unwrap();
    c.backup_now(&admin).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    c.backup_now(&admin).await.unwrap();
    let before = backups_in(&dir);
    assert_eq!(before.len(), 2);
    let filler = fs.fill();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let err = c.backup_now(&admin).await.unwrap_err().to_string();
    assert!(err.contains("backup failed"), "{err}");
    let status: Value = c.backup_status(&admin).await.unwrap();
    assert!(status["last_error"].as_str().is_some_and(|e| e.contains("space")), "{status}");
    assert_eq!(backups_in(&dir), before, "a failed backup removes nothing");
    assert!(c.whoami(&admin).await.is_ok(), "the server keeps serving");
    // Space again: backups resume and retention keeps the newest two.
    std::fs::remove_file(filler).unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    c.backup_now(&admin).await.unwrap();
    let after = backups_in(&dir);
    assert_eq!(after.len(), 2);
    assert!(after.contains(&before[1]) && !after.contains(&before[0]), "{after:?}");
    drop(fs);
    s.stop();
}
