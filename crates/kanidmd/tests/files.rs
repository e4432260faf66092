//! Files that hold password hashes and signing keys — the database, its log, backups and
//! online backups — are created readable by their owner only, and the server warns at start
//! when one it uses is readable by others.

use idm_testkit::server::{TestServer, kanidmd};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_kanidmd"))
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())).permissions().mode() & 0o777
}

fn json_files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|r| r.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "json")).collect())
        .unwrap_or_default()
}

#[test]
fn secret_files_are_private_and_exposed_ones_are_reported() {
    let mut s =
        TestServer::start_custom(bin(), &[], "[online_backup]\npath = \"backups\"\nschedule = \"* * * * * *\"\n");
    let data = s.dir.path().join("data");
    let start = Instant::now();
    while json_files(&s.dir.path().join("backups")).is_empty() && start.elapsed() < Duration::from_secs(15) {
        std::thread::sleep(Duration::from_millis(200));
    }
    let online = json_files(&s.dir.path().join("backups"));
    assert!(!online.is_empty(), "no online backup appeared");
    for p in online.iter().chain([&data.join("kanidm.db"), &data.join("kanidm.db-wal"), &data.join("kanidm.db-shm")]) {
        assert_eq!(mode(p), 0o600, "{}", p.display());
    }
    assert!(!s.log().contains("readable by others"));
    s.kill();
    let out = kanidmd(bin(), s.dir.path(), &["backup", "offline-backup.json"]);
    assert!(out.contains("offline-backup.json") || s.dir.path().join("offline-backup.json").exists(), "{out}");
    assert_eq!(mode(&s.dir.path().join("offline-backup.json")), 0o600);

    // Made readable by others, the database is reported at start.
    std::fs::set_permissions(data.join("kanidm.db"), std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::set_permissions(s.dir.path().join("backups"), std::fs::Permissions::from_mode(0o755)).unwrap();
    s.restart(bin());
    let log = s.log();
    assert!(
        log.lines().any(|l| l.contains("the database") && l.contains("readable by others") && l.contains("644")),
        "{log}"
    );
    assert!(log.lines().any(|l| l.contains("the backup folder") && l.contains("readable by others")), "{log}");
    s.stop();
}
