//! The database lock: one process at a time (a server or an offline command) uses a database.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum LockError {
    #[error(
        "the database {db} is in use: a kanidmd server or another offline command holds {lock}; stop it and try again"
    )]
    Held { db: PathBuf, lock: PathBuf },
    #[error("cannot create the lock file {lock}: {source}")]
    Io { lock: PathBuf, source: std::io::Error },
}

/// Held for as long as the database is in use; released when dropped (or when the process
/// dies, since the operating system drops the lock with the file descriptor).
#[derive(Debug)]
pub struct DbLock {
    _file: File,
    pub path: PathBuf,
}

pub fn lock_path(db: &Path) -> PathBuf {
    PathBuf::from(format!("{}.klock", db.display()))
}

pub fn lock_db(db: &Path) -> Result<DbLock, LockError> {
    let path = lock_path(db);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|source| LockError::Io { lock: path.clone(), source })?;
    match file.try_lock() {
        Ok(()) => Ok(DbLock { _file: file, path }),
        Err(TryLockError::WouldBlock) => Err(LockError::Held { db: db.to_path_buf(), lock: path }),
        Err(TryLockError::Error(source)) => Err(LockError::Io { lock: path, source }),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn second_holder_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("k.db");
        let held = super::lock_db(&db).unwrap();
        let e = super::lock_db(&db).unwrap_err().to_string();
        assert!(e.contains("in use") && e.contains("stop it"), "{e}");
        drop(held);
        super::lock_db(&db).unwrap();
    }
}
