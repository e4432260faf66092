//! The offline administration commands. Each takes the database lock first, so none of them
//! runs beside a server or another command on the same database.

use crate::config::{ConfigError, ServerConfig};
use crate::lock::{DbLock, LockError, lock_db};
use idm_core::OperationError;
use idm_core::backup::{BACKUP_FORMAT, BACKUP_VERSION, BackupError, BackupHeader, BackupReader, BackupWriter};
use idm_core::be::{Backend, BeWrite, Progress, meta};
use idm_core::builtins::UUID_DOMAIN_INFO;
use idm_core::entry::{Entry, ValueSet};
use idm_core::plugins::group_closure;
use idm_core::schema::Schema;
use idm_core::server::{QueryServer, QueryServerTransaction, RenamePlan};
use idm_core::value::Value;
use idm_core::verify::VerifyReport;
use idm_identity::password::PasswordParams;
use idm_sqlite::{SqliteBackend, SqliteConfig, SqliteError};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use thiserror::Error;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tracing::{info, warn};
use uuid::Uuid;

#[derive(Debug, Error)]
pub enum AdminError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error(
        "the database {0} does not exist; check db_path in the configuration (or create it with `kanidmd recover_account`)"
    )]
    NoDatabase(PathBuf),
    #[error("database {path}: {source}")]
    Storage { path: PathBuf, source: SqliteError },
    #[error("{0}")]
    Engine(#[from] OperationError),
    #[error("backup {path}: {source}")]
    Backup { path: PathBuf, source: BackupError },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{0} already exists; choose another file name or remove it first")]
    Exists(PathBuf),
    #[error("backup {path} is refused: {reason}")]
    Refused { path: PathBuf, reason: String },
    #[error("the restored database failed verification ({} problems), so the current database was kept:\n{}", .0.len(), .0.join("\n"))]
    RestoreVerify(Vec<String>),
}

type Result<T> = std::result::Result<T, AdminError>;

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> AdminError + '_ {
    move |source| AdminError::Io { path: path.to_path_buf(), source }
}

/// What `restore` did.
#[derive(Debug)]
pub struct RestoreReport {
    pub entries: u64,
    /// Entries whose stored memberOf disagreed with group membership and was recomputed.
    pub memberof_fixed: u64,
    /// Where the database that was replaced was kept, if there was one.
    pub previous: Option<PathBuf>,
}

/// The offline commands for one configuration.
pub struct Offline {
    pub config: ServerConfig,
}

/// File names of backups written without an explicit name: UTC time, no characters that
/// common file systems or shares reject.
pub fn backup_file_name(now: OffsetDateTime) -> String {
    let t = now.to_offset(time::UtcOffset::UTC);
    format!(
        "backup-{:04}-{:02}-{:02}T{:02}-{:02}-{:02}Z.json",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// A new timestamped backup file name in `dir`; never the name of an existing file.
pub fn next_backup_path(dir: &Path) -> PathBuf {
    let name = backup_file_name(OffsetDateTime::now_utc());
    let mut p = dir.join(&name);
    let mut n = 1;
    while p.exists() {
        p = dir.join(name.replace(".json", &format!("-{n}.json")));
        n += 1;
    }
    p
}

/// Writes `path` through a temporary file in the same folder that is synced and renamed into
/// place, so a crash never leaves a partial file under the final name.
pub fn write_atomically(path: &Path, write: impl FnOnce(&mut BufWriter<&File>) -> Result<()>) -> Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
        std::process::id()
    ));
    let result = (|| {
        // Backups hold password hashes and signing keys: only the owner may read them.
        let file = crate::files::create_private(&tmp).map_err(io(&tmp))?;
        let mut w = BufWriter::with_capacity(1 << 20, &file);
        write(&mut w)?;
        w.flush().map_err(io(&tmp))?;
        drop(w);
        file.sync_all().map_err(io(&tmp))?;
        std::fs::rename(&tmp, path).map_err(io(path))?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}

/// Streams every entry of a read snapshot into a backup file. Used by `kanidmd backup` and by
/// the server's online backups.
pub fn write_backup(qs: &QueryServer, path: &Path, progress: &mut dyn Progress) -> Result<u64> {
    let mut r = qs.read()?;
    let total = r.be().raw().entry_count()?;
    let state = qs.state();
    let header = BackupHeader {
        format: BACKUP_FORMAT.into(),
        version: BACKUP_VERSION,
        software: env!("CARGO_PKG_VERSION").into(),
        created: OffsetDateTime::now_utc().format(&Rfc3339).unwrap_or_default(),
        domain_name: state.domain_name.clone(),
        domain_uuid: state.domain_uuid,
        entry_count: total,
    };
    let backup_err = |source| AdminError::Backup { path: path.to_path_buf(), source };
    let mut count = 0;
    write_atomically(path, |out| {
        let mut w = BackupWriter::new(out, &header).map_err(backup_err)?;
        progress.start("writing backup", total);
        let mut failure = None;
        r.be()
            .for_each_entry(&mut |e| {
                if let Err(err) = w.write_entry(&e.entry) {
                    failure = Some(err);
                    return Err(OperationError::Backend("backup write failed".into()));
                }
                progress.advance(1);
                Ok(())
            })
            .map_err(|e| match failure.take() {
                Some(b) => backup_err(b),
                None => AdminError::Engine(e),
            })?;
        progress.finish();
        count = w.finish().map_err(backup_err)?.1;
        Ok(())
    })?;
    Ok(count)
}

impl Offline {
    pub fn new(config: ServerConfig) -> Self {
        Offline { config }
    }

    fn db(&self) -> &Path {
        self.config.db_path()
    }

    fn storage(&self, source: SqliteError) -> AdminError {
        AdminError::Storage { path: self.db().to_path_buf(), source }
    }

    fn lock(&self) -> Result<DbLock> {
        if let Some(dir) = self.db().parent().filter(|d| !d.as_os_str().is_empty())
            && !dir.is_dir()
        {
            return Err(AdminError::Io {
                path: dir.to_path_buf(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "the database folder does not exist"),
            });
        }
        Ok(lock_db(self.db())?)
    }

    fn open_backend(&self) -> Result<Arc<SqliteBackend>> {
        Ok(Arc::new(SqliteBackend::open(self.db(), self.config.sqlite()).map_err(|e| self.storage(e))?))
    }

    /// Locks and opens an existing database; a missing one is an error, never a new database.
    fn open_existing(&self) -> Result<(DbLock, Arc<SqliteBackend>, QueryServer)> {
        let lock = self.lock()?;
        if !self.db().exists() {
            return Err(AdminError::NoDatabase(self.db().to_path_buf()));
        }
        let be = self.open_backend()?;
        let qs = QueryServer::new(be.clone())?;
        Ok((lock, be, qs))
    }

    /// Writes a backup to `file`, or to a new timestamped file in the backup folder.
    pub fn backup(&self, file: Option<PathBuf>, progress: &mut dyn Progress) -> Result<(PathBuf, u64)> {
        let (_lock, _be, qs) = self.open_existing()?;
        let path = match file {
            Some(f) => {
                if f.exists() {
                    return Err(AdminError::Exists(f));
                }
                f
            }
            None => {
                let dir = self.config.backup_dir();
                std::fs::create_dir_all(&dir).map_err(io(&dir))?;
                next_backup_path(&dir)
            }
        };
        let count = write_backup(&qs, &path, progress)?;
        info!("backup of {count} entries written to {}", path.display());
        Ok((path, count))
    }

    /// Backup files found in the backup folder and beside the database, newest last.
    pub fn list_backups(&self) -> Vec<PathBuf> {
        let mut dirs = vec![self.config.backup_dir()];
        if let Some(d) = self.db().parent() {
            dirs.push(d.to_path_buf());
        }
        let mut found = BTreeSet::new();
        for d in dirs {
            for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.starts_with("backup-") && name.ends_with(".json") {
                    found.insert(e.path());
                }
            }
        }
        found.into_iter().collect()
    }

    /// Replaces the database with a backup's content. Everything is checked and a complete new
    /// database built and verified beside the old one before it is swapped in, atomically.
    pub fn restore(&self, file: &Path, progress: &mut dyn Progress) -> Result<RestoreReport> {
        let _lock = self.lock()?;
        let f = File::open(file).map_err(io(file))?;
        let reader = BackupReader::new(BufReader::with_capacity(1 << 20, f))
            .map_err(|source| AdminError::Backup { path: file.to_path_buf(), source })?;
        if let (Some(want), Some(have)) = (self.config.domain.as_deref(), reader.header.domain_name.as_deref())
            && want.to_lowercase() != have
        {
            return Err(AdminError::Refused {
                path: file.to_path_buf(),
                reason: format!(
                    "it holds domain '{have}' but the configuration says domain = \"{want}\"; set domain = \"{have}\" to restore it (and rename afterwards with `kanidmd domain_name_change` if needed)"
                ),
            });
        }
        let tmp = PathBuf::from(format!("{}.restore-{}.tmp", self.db().display(), std::process::id()));
        remove_db_files(&tmp);
        let built = self.build_restored(file, &tmp, reader, progress).and_then(|(entries, fixed)| {
            // Verify the new file before anything touches the current database.
            let be = Arc::new(SqliteBackend::open(&tmp, self.config.sqlite()).map_err(|e| self.storage(e))?);
            let qs = QueryServer::new(be)?;
            let report = qs.verify(progress)?;
            if !report.is_clean() {
                return Err(AdminError::RestoreVerify(report.errors.iter().map(|e| e.to_string()).collect()));
            }
            Ok((entries, fixed))
        });
        let (entries, memberof_fixed) = match built {
            Ok(r) => r,
            Err(e) => {
                remove_db_files(&tmp);
                return Err(e);
            }
        };
        let previous = self.swap_in(&tmp)?;
        Ok(RestoreReport { entries, memberof_fixed, previous })
    }

    /// Builds the restored database in `tmp`. Pass 1 reads the backup once, checking structure,
    /// checksum, uuids and uniqueness while storing every entry; pass 2 reads the new file back
    /// (far cheaper than parsing JSON again) to check schema and references, which need the
    /// whole backup, and to recompute memberOf.
    fn build_restored(
        &self,
        file: &Path,
        tmp: &Path,
        mut reader: BackupReader<BufReader<File>>,
        progress: &mut dyn Progress,
    ) -> Result<(u64, u64)> {
        let refuse = |reason: String| AdminError::Refused { path: file.to_path_buf(), reason };
        let bulk = SqliteConfig { bulk: true, ..self.config.sqlite() };
        let be = SqliteBackend::open(tmp, bulk).map_err(|e| self.storage(e))?;
        let mut w = BeWrite::new(be.write()?)?;

        progress.start("reading backup", reader.header.entry_count);
        let mut uuids: HashSet<Uuid> = HashSet::new();
        let mut schema_entries = Vec::new();
        let mut parents: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
        let mut seen: HashMap<(String, String), Uuid> = HashMap::new();
        let mut id = 0;
        // One thread reads and parses the JSON while this one checks and stores entries.
        let (tx, rx) = std::sync::mpsc::sync_channel::<std::result::Result<Vec<(u64, Entry)>, BackupError>>(8);
        std::thread::scope(|s| -> Result<()> {
            s.spawn(move || {
                let mut batch = Vec::with_capacity(256);
                loop {
                    match reader.next_entry() {
                        Ok(Some(item)) => {
                            batch.push(item);
                            if batch.len() == 256 && tx.send(Ok(std::mem::take(&mut batch))).is_err() {
                                return;
                            }
                        }
                        Ok(None) => {
                            let _ = tx.send(Ok(batch));
                            return;
                        }
                        Err(e) => {
                            let _ = tx.send(Err(e));
                            return;
                        }
                    }
                }
            });
            for batch in rx {
                for (line, e) in batch.map_err(|source| AdminError::Backup { path: file.into(), source })? {
                    let u =
                        e.uuid().ok_or_else(|| refuse(format!("line {line}: entry '{}' has no uuid", e.label())))?;
                    if !uuids.insert(u) {
                        return Err(refuse(format!("line {line}: uuid {u} appears twice")));
                    }
                    if e.has_class("attributetype") || e.has_class("classtype") {
                        schema_entries.push(e.clone());
                    }
                    // Groups in the recycle bin confer no membership.
                    if e.has_class("group") && !e.has_class("recycled") && !e.has_class("tombstone") {
                        for m in e.refs("member") {
                            parents.entry(m).or_default().push(u);
                        }
                    }
                    id += 1;
                    w.raw_write().put_entry(id, u, &e.encode()?)?;
                    progress.advance(1);
                }
            }
            Ok(())
        })?;
        progress.finish();
        if !uuids.contains(&UUID_DOMAIN_INFO) {
            return Err(refuse("it has no domain entry, so it is not a backup of a kanidm database".into()));
        }
        let schema =
            Schema::from_entries(&schema_entries).map_err(|e| refuse(format!("its schema is invalid: {e}")))?;
        let unique: Vec<String> = schema.unique_attributes().map(str::to_string).collect();
        let refs: Vec<String> = schema.reference_attributes().map(str::to_string).collect();

        // Pass 2, folded into the reindex: schema, references and memberOf for every entry.
        let mut memo: HashMap<Uuid, BTreeSet<Uuid>> = HashMap::new();
        let mut problem: Option<String> = None;
        let mut fixed = 0;
        let mut check = |id: u64, e: &mut Entry| -> std::result::Result<bool, OperationError> {
            let u = e.uuid().unwrap_or_default();
            // Entries are stored in file order after the header line.
            let at = format!("line {}: entry '{}' ({u})", id + 1, e.label());
            let mut fail = |msg: String| {
                problem = Some(msg);
                Err(OperationError::InvalidRequest("restore refused".into()))
            };
            if let Err(err) = schema.check(e) {
                return fail(format!("{at}: {err}"));
            }
            let live = !(e.has_class("recycled") || e.has_class("tombstone"));
            for attr in unique.iter().filter(|_| live) {
                for v in e.get(attr).into_iter().flatten() {
                    let Some(k) = v.eq_key() else { continue };
                    if let Some(other) = seen.insert((attr.clone(), k.clone()), u) {
                        return fail(format!("{at}: '{attr}' value '{k}' is also used by {other}"));
                    }
                }
            }
            for attr in &refs {
                if let Some(missing) = e.refs(attr).find(|t| !uuids.contains(t)) {
                    return fail(format!("{at}: '{attr}' refers to {missing}, which is not in the backup"));
                }
            }
            // memberOf is derived: recompute it from group membership rather than trust it.
            let direct: Vec<Uuid> = parents.get(&u).cloned().unwrap_or_default();
            let all = group_closure(&direct, &parents, &mut memo);
            let want_direct: ValueSet = direct.iter().map(|g| Value::Refer(*g)).collect();
            let want_all: ValueSet = all.into_iter().map(Value::Refer).collect();
            let stored_direct = e.get("directmemberof").cloned().unwrap_or_default();
            if stored_direct != want_direct || e.get("memberof").cloned().unwrap_or_default() != want_all {
                e.set("directmemberof", want_direct);
                e.set("memberof", want_all);
                fixed += 1;
                return Ok(true);
            }
            Ok(false)
        };
        w.reindex_with(&schema, progress, &mut check).map_err(|e| match problem.take() {
            Some(p) => refuse(p),
            None => AdminError::Engine(e),
        })?;
        w.raw_write().set_meta(meta::INDEX_VERSION, &idm_core::server::INDEX_VERSION.to_be_bytes())?;
        w.commit()?;
        be.finish_bulk().map_err(|e| self.storage(e))?;
        Ok((id, fixed))
    }

    /// Swaps the new file in. The old database is checkpointed (so no log of it remains to be
    /// replayed onto the new file), kept under a `.pre-restore-…` name through a hard link, and
    /// replaced by one atomic rename: at every moment the path holds the old or the new file.
    fn swap_in(&self, tmp: &Path) -> Result<Option<PathBuf>> {
        let db = self.db();
        let mut previous = None;
        if db.exists() {
            let old = SqliteBackend::open(db, self.config.sqlite()).map_err(|e| self.storage(e))?;
            old.checkpoint().map_err(|e| self.storage(e))?;
            drop(old);
            let keep = PathBuf::from(format!(
                "{}.pre-restore-{}",
                db.display(),
                backup_file_name(OffsetDateTime::now_utc()).trim_start_matches("backup-").trim_end_matches(".json")
            ));
            std::fs::hard_link(db, &keep).map_err(io(&keep))?;
            previous = Some(keep);
        }
        for side in ["-wal", "-shm"] {
            let p = PathBuf::from(format!("{}{side}", db.display()));
            if p.exists() {
                std::fs::remove_file(&p).map_err(io(&p))?;
            }
        }
        std::fs::rename(tmp, db).map_err(io(db))?;
        sync_dir(db.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")))?;
        Ok(previous)
    }

    /// Rebuilds every index the stored schema declares.
    pub fn reindex(&self, progress: &mut dyn Progress) -> Result<u64> {
        let (_lock, _be, qs) = self.open_existing()?;
        let mut w = qs.write()?;
        let n = w.reindex(progress)?;
        w.commit()?;
        Ok(n)
    }

    /// Returns the file size before and after.
    pub fn vacuum(&self) -> Result<(u64, u64)> {
        let _lock = self.lock()?;
        if !self.db().exists() {
            return Err(AdminError::NoDatabase(self.db().to_path_buf()));
        }
        SqliteBackend::vacuum(self.db(), self.config.db_fs_type.into()).map_err(|e| self.storage(e))
    }

    pub fn verify(&self, progress: &mut dyn Progress) -> Result<VerifyReport> {
        let (_lock, _be, qs) = self.open_existing()?;
        Ok(qs.verify(progress)?)
    }

    /// Renames the domain to `new_name` (or the configured domain). `confirm` sees the plan
    /// first and may stop the rename by returning false.
    pub fn domain_name_change(
        &self,
        new_name: Option<&str>,
        progress: Box<dyn Progress + '_>,
        confirm: impl FnOnce(&RenamePlan) -> bool,
    ) -> Result<Option<RenamePlan>> {
        let new_name = match new_name {
            Some(n) => n.to_lowercase(),
            None => self.config.require_domain()?,
        };
        let (_lock, _be, qs) = self.open_existing()?;
        let mut w = qs.write()?;
        let plan = w.plan_domain_rename(&new_name)?;
        if plan.old_name == plan.new_name {
            return Ok(None);
        }
        if !confirm(&plan) {
            return Ok(None);
        }
        w.set_progress(progress);
        w.rename_domain(&new_name)?;
        w.commit()?;
        Ok(Some(plan))
    }

    /// Sets a new random password on `name` and returns it. Creates and initialises the
    /// database if it does not exist yet.
    pub fn recover_account(&self, name: &str, params: &PasswordParams) -> Result<String> {
        let _lock = self.lock()?;
        let be = self.open_backend()?;
        let qs = QueryServer::new(be)?;
        let domain = match qs.state().domain_name.clone() {
            Some(d) => self.config.domain.as_ref().map(|c| c.to_lowercase()).unwrap_or(d),
            None => self.config.require_domain()?,
        };
        qs.initialise(&domain)?;
        let mut w = qs.write()?;
        let password = idm_identity::recover_account(&mut w, name, params)?;
        w.commit()?;
        Ok(password)
    }
}

/// Removes a database file and its side files, if present.
fn remove_db_files(path: &Path) {
    for side in ["", "-wal", "-shm", "-journal"] {
        let p = PathBuf::from(format!("{}{side}", path.display()));
        if p.exists()
            && let Err(e) = std::fs::remove_file(&p)
        {
            warn!("could not remove {}: {e}", p.display());
        }
    }
}
