//! Files that hold secrets: the database (password hashes, signing keys), its write-ahead log,
//! backups and the TLS key. They are created readable by their owner only, and the server
//! warns at start when one it uses is readable by anyone else.

use crate::config::ServerConfig;
use std::fs::File;
use std::path::Path;
use tracing::warn;

/// Creates (or truncates) `path` for writing, mode 0600.
pub fn create_private(path: &Path) -> std::io::Result<File> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)
}

/// The permission bits that let others than the owner in, if any.
#[cfg(unix)]
fn exposed(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
    (mode & 0o077 != 0).then_some(mode)
}

#[cfg(not(unix))]
fn exposed(_: &Path) -> Option<u32> {
    None
}

/// Warns about each secret-holding file or folder of `config` that others may read.
pub fn warn_if_exposed(config: &ServerConfig) {
    let check = |what: &str, path: &Path, fix: &str| {
        if let Some(mode) = exposed(path) {
            warn!(
                "{what} {} is readable by others than its owner (mode {mode:03o}); it holds secrets: {fix} {}",
                path.display(),
                path.display()
            );
        }
    };
    check("the database", config.db_path(), "chmod 600");
    let wal = std::path::PathBuf::from(format!("{}-wal", config.db_path().display()));
    check("the database log", &wal, "chmod 600");
    if let Some(key) = &config.tls_key {
        check("the TLS key", key, "chmod 600");
    }
    if config.online_backup.is_some() {
        check("the backup folder", &config.backup_dir(), "chmod 700");
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn private_files_are_0600() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("secret");
        create_private(&p).unwrap();
        assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(exposed(&p), None);
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(exposed(&p), Some(0o644));
    }
}
