//! Online backups (the document's Method 3): the running server writes a backup on a cron
//! schedule from a read snapshot while it keeps serving, then keeps the newest `versions`.

use crate::config::ServerConfig;
use crate::offline::{next_backup_path, write_backup};
use crate::schedule::Schedule;
use chrono::Utc;
use idm_core::server::QueryServer;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tracing::{error, info, warn};

/// What administrators see about online backups.
#[derive(Serialize, Clone, Debug, Default, PartialEq)]
pub struct BackupStatus {
    pub path: String,
    pub schedule: String,
    /// The schedule in words.
    pub described: String,
    pub versions: u32,
    pub next_run: Option<String>,
    pub last_run: Option<String>,
    pub last_file: Option<String>,
    pub last_entries: Option<u64>,
    /// Why the last backup failed, when it did.
    pub last_error: Option<String>,
}

pub struct OnlineBackups {
    dir: PathBuf,
    schedule: Schedule,
    versions: u32,
    status: Mutex<BackupStatus>,
}

/// Our own backup files: `backup-YYYY-MM-DDTHH-MM-SSZ[-N].json`, sorted oldest first.
fn own_backups(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<(String, u32, PathBuf)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let stem = name.strip_prefix("backup-")?.strip_suffix(".json")?;
            let (stamp, n) = match stem.split_once("Z-") {
                Some((t, n)) => (format!("{t}Z"), n.parse().ok()?),
                None => (stem.to_string(), 0),
            };
            // YYYY-MM-DDTHH-MM-SSZ, exactly as backup_file_name writes it.
            const SHAPE: &[u8] = b"dddd-dd-ddTdd-dd-ddZ";
            let b = stamp.as_bytes();
            let ok = b.len() == SHAPE.len()
                && b.iter().zip(SHAPE).all(|(c, s)| if *s == b'd' { c.is_ascii_digit() } else { c == s });
            ok.then(|| (stamp, n, e.path()))
        })
        .collect();
    found.sort();
    found.into_iter().map(|(_, _, p)| p).collect()
}

impl OnlineBackups {
    /// The configured online backups, or `None` when the section is absent or disabled. The
    /// folder is created if needed and must be writable.
    pub fn from_config(config: &ServerConfig) -> Result<Option<OnlineBackups>, String> {
        let Some(ob) = config.online_backup.as_ref().filter(|o| o.enabled) else { return Ok(None) };
        let dir = config.backup_dir();
        let key = |reason: String| format!("configuration {}: online_backup.path: {reason}", config.path.display());
        std::fs::create_dir_all(&dir).map_err(|e| key(format!("cannot create {}: {e}", dir.display())))?;
        if !dir.is_dir() {
            return Err(key(format!("{} is not a folder", dir.display())));
        }
        let probe = dir.join(format!(".write-test-{}", std::process::id()));
        std::fs::write(&probe, b"").map_err(|e| key(format!("{} is not writable: {e}", dir.display())))?;
        let _ = std::fs::remove_file(&probe);
        // Temporary files of backups interrupted by a crash are never backups: remove them.
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with(".backup-") && name.contains(".tmp-") {
                let _ = std::fs::remove_file(e.path());
            }
        }
        let schedule = Schedule::parse(&ob.schedule)
            .map_err(|r| format!("configuration {}: online_backup.schedule: {r}", config.path.display()))?;
        let status = BackupStatus {
            path: dir.display().to_string(),
            schedule: ob.schedule.clone(),
            described: schedule.describe(),
            versions: ob.versions,
            ..Default::default()
        };
        Ok(Some(OnlineBackups { dir, schedule, versions: ob.versions, status: Mutex::new(status) }))
    }

    pub fn status(&self) -> BackupStatus {
        self.status.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn update(&self, f: impl FnOnce(&mut BackupStatus)) {
        f(&mut self.status.lock().unwrap_or_else(|p| p.into_inner()));
    }

    /// Writes one backup now (blocking). Only after it succeeds are the oldest files beyond
    /// `versions` removed; a failure removes nothing.
    pub fn run_now(&self, qs: &QueryServer) -> Result<(PathBuf, u64), String> {
        let path = next_backup_path(&self.dir);
        let started = Utc::now().to_rfc3339();
        match write_backup(qs, &path, &mut ()) {
            Ok(n) => {
                info!("online backup of {n} entries written to {}", path.display());
                self.update(|s| {
                    s.last_run = Some(started);
                    s.last_file = Some(path.display().to_string());
                    s.last_entries = Some(n);
                    s.last_error = None;
                });
                self.prune();
                Ok((path, n))
            }
            Err(e) => {
                let reason = e.to_string();
                error!("online backup to {} failed; older backups are kept: {reason}", path.display());
                self.update(|s| {
                    s.last_run = Some(started);
                    s.last_error = Some(reason.clone());
                });
                Err(reason)
            }
        }
    }

    fn prune(&self) {
        let files = own_backups(&self.dir);
        let excess = files.len().saturating_sub(self.versions as usize);
        for old in &files[..excess] {
            match std::fs::remove_file(old) {
                Ok(()) => info!("removed old online backup {}", old.display()),
                Err(e) => warn!("could not remove old online backup {}: {e}", old.display()),
            }
        }
    }

    /// Runs backups on schedule until the task is dropped.
    pub async fn run_schedule(self: Arc<Self>, qs: Arc<QueryServer>) {
        loop {
            let now = Utc::now();
            let Some(next) = self.schedule.next_after(now) else {
                warn!("online backup schedule '{}' will not fire again", self.schedule.text());
                return;
            };
            self.update(|s| s.next_run = Some(next.to_rfc3339()));
            let wait = (next - now).to_std().unwrap_or_default();
            tokio::time::sleep(wait).await;
            let (me, qs) = (self.clone(), qs.clone());
            // A failure is logged and recorded in the status; the server keeps serving.
            let _ = tokio::task::spawn_blocking(move || me.run_now(&qs)).await;
        }
    }

    /// The log line describing the schedule at start.
    pub fn describe(&self) -> String {
        let next = self.schedule.next_after(Utc::now()).map(|t| t.to_rfc3339()).unwrap_or_default();
        format!(
            "online backups: '{}' ({}) UTC, next at {next}, keeping the newest {} in {}",
            self.schedule.text(),
            self.schedule.describe(),
            self.versions,
            self.dir.display()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::own_backups;

    #[test]
    fn only_our_own_files_count_and_they_sort_by_time() {
        let dir = tempfile::tempdir().unwrap();
        for n in [
            "backup-2026-01-02T00-00-00Z.json",
            "backup-2026-01-01T00-00-00Z-1.json",
            "backup-2026-01-01T00-00-00Z.json",
            "backup-notes.json",
            "backup-2026-01-01T00:00:00Z.json",
            "other.json",
            ".backup-2026-01-03T00-00-00Z.json.tmp-1",
        ] {
            std::fs::write(dir.path().join(n), "").unwrap();
        }
        let names: Vec<String> =
            own_backups(dir.path()).iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
        assert_eq!(
            names,
            [
                "backup-2026-01-01T00-00-00Z.json",
                "backup-2026-01-01T00-00-00Z-1.json",
                "backup-2026-01-02T00-00-00Z.json"
            ]
        );
    }
}
