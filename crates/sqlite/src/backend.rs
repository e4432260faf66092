use crate::error::SqliteError;
use idm_core::be::{Backend, BackendRead, BackendWrite, IdSet, IdlLookup};
use idm_core::entry::EntryId;
use idm_core::value::IndexType;
use idm_core::{OperationError, Result};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;
use uuid::Uuid;

/// The file system the database lives on, which decides the page size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum FsType {
    /// 4 KiB pages.
    #[default]
    Generic,
    /// 64 KiB pages, matching ZFS's default record size.
    Zfs,
}

impl FsType {
    pub fn page_size(self) -> u32 {
        match self {
            FsType::Generic => 4096,
            FsType::Zfs => 65536,
        }
    }
}

#[derive(Clone, Debug)]
pub struct SqliteConfig {
    pub fs_type: FsType,
    /// Page cache per connection, in KiB.
    pub cache_kib: u32,
    /// Idle reader connections kept open.
    pub max_idle_readers: usize,
    /// For building a new database file that is not yet in use (restore): no journal and no
    /// fsync per commit. A crash leaves a file to delete, never a damaged live database;
    /// the caller syncs once at the end with [`SqliteBackend::finish_bulk`].
    pub bulk: bool,
}

impl Default for SqliteConfig {
    fn default() -> Self {
        SqliteConfig { fs_type: FsType::Generic, cache_kib: 32 * 1024, max_idle_readers: 8, bulk: false }
    }
}

pub struct SqliteBackend {
    path: PathBuf,
    config: SqliteConfig,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
}

fn sql(e: rusqlite::Error) -> OperationError {
    SqliteError::Sql(e).into()
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a connection cannot leave a transaction open: SQLite rolls back
    // when the statement or connection is dropped, so the data behind a poisoned lock is fine.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn table(itype: IndexType, attr: &str) -> Result<String> {
    let ok = attr.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && attr.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !ok {
        return Err(SqliteError::BadIndexName(attr.to_string()).into());
    }
    Ok(format!("idx_{}_{attr}", itype.short()))
}

/// Long id lists are stored in chunks of this many consecutive ids, one row each, so adding
/// new (always higher) ids rewrites only the last chunk instead of the whole list.
const CHUNK_BITS: u32 = 14;

fn chunk_of(id: EntryId) -> i64 {
    (id >> CHUNK_BITS) as i64
}

/// The ids of `ids` that fall in chunk `c`.
fn chunk_slice(ids: &IdSet, c: i64) -> IdSet {
    let lo = (c as u64) << CHUNK_BITS;
    let hi = lo + (1 << CHUNK_BITS);
    let mut it = ids.iter();
    it.advance_to(lo);
    it.take_while(|x| *x < hi).collect()
}

fn encode_idl(ids: &IdSet) -> Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(ids.serialized_size());
    ids.serialize_into(&mut buf).map_err(|e| OperationError::Backend(e.to_string()))?;
    Ok(buf)
}

fn decode_idl(blob: &[u8]) -> Result<IdSet> {
    IdSet::deserialize_from(blob).map_err(|e| SqliteError::IdlDecode(e).into())
}

fn uuid_from(blob: Vec<u8>) -> Result<Uuid> {
    let n = blob.len();
    Uuid::from_slice(&blob).map_err(|_| SqliteError::BadUuid(n).into())
}

fn is_missing_table(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(_, Some(msg)) if msg.starts_with("no such table"))
}

/// Creates the database file, readable by its owner only, if it does not exist. It holds
/// password hashes and signing keys; SQLite gives its `-wal` and `-shm` files the same mode.
fn create_private(path: &Path) -> std::result::Result<(), SqliteError> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    match opts.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(source) => Err(SqliteError::Create { path: path.display().to_string(), source }),
    }
}

impl SqliteBackend {
    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: &Path, config: SqliteConfig) -> std::result::Result<SqliteBackend, SqliteError> {
        let writer = Self::connect(path, &config)?;
        writer.execute_batch(
            "CREATE TABLE IF NOT EXISTS entries (id INTEGER PRIMARY KEY, uuid BLOB NOT NULL UNIQUE, data BLOB NOT NULL);
             CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;",
        )?;
        Ok(SqliteBackend {
            path: path.to_path_buf(),
            config,
            writer: Mutex::new(writer),
            readers: Mutex::new(Vec::new()),
        })
    }

    fn connect(path: &Path, config: &SqliteConfig) -> std::result::Result<Connection, SqliteError> {
        create_private(path)?;
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags)
            .map_err(|source| SqliteError::Open { path: path.display().to_string(), source })?;
        conn.busy_timeout(Duration::from_secs(30))?;
        // page_size only applies to a new file; `vacuum` applies a changed one.
        let (journal, sync) = if config.bulk { ("OFF", "OFF") } else { ("WAL", "FULL") };
        conn.execute_batch(&format!(
            "PRAGMA page_size = {};
             PRAGMA journal_mode = {journal};
             PRAGMA synchronous = {sync};
             PRAGMA foreign_keys = OFF;
             PRAGMA temp_store = MEMORY;
             PRAGMA cache_size = -{};",
            config.fs_type.page_size(),
            config.cache_kib
        ))?;
        conn.set_prepared_statement_cache_capacity(256);
        Ok(conn)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Ends a bulk build: switches the file to WAL and makes it durable.
    pub fn finish_bulk(self) -> std::result::Result<(), SqliteError> {
        let path = self.path.clone();
        drop(self);
        let conn =
            Connection::open(&path).map_err(|source| SqliteError::Open { path: path.display().to_string(), source })?;
        conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA wal_checkpoint(TRUNCATE);")?;
        drop(conn);
        std::fs::File::open(&path).and_then(|f| f.sync_all()).map_err(SqliteError::Io)?;
        Ok(())
    }

    /// Moves everything from the write-ahead log into the database file and empties the log,
    /// so the file alone is a complete copy (used before a clean stop, a swap or a copy).
    pub fn checkpoint(&self) -> std::result::Result<(), SqliteError> {
        let conn = lock(&self.writer);
        let busy: i64 = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))?;
        if busy != 0 {
            return Err(SqliteError::Busy("a reader kept the log from being checkpointed".into()));
        }
        Ok(())
    }

    /// Rebuilds the file without free pages, applying `fs_type`'s page size. Returns the file
    /// size (database plus log) before and after. Nothing else may have the file open.
    pub fn vacuum(path: &Path, fs_type: FsType) -> std::result::Result<(u64, u64), SqliteError> {
        let size = |p: &Path| {
            let wal = PathBuf::from(format!("{}-wal", p.display()));
            std::fs::metadata(p).map(|m| m.len()).unwrap_or(0) + std::fs::metadata(wal).map(|m| m.len()).unwrap_or(0)
        };
        let before = size(path);
        let conn =
            Connection::open(path).map_err(|source| SqliteError::Open { path: path.display().to_string(), source })?;
        // The page size can only change outside WAL mode.
        conn.execute_batch(&format!(
            "PRAGMA wal_checkpoint(TRUNCATE);
             PRAGMA journal_mode = DELETE;
             PRAGMA page_size = {};
             VACUUM;
             PRAGMA journal_mode = WAL;",
            fs_type.page_size()
        ))?;
        drop(conn);
        Ok((before, size(path)))
    }

    pub fn page_size(&self) -> std::result::Result<u32, SqliteError> {
        Ok(lock(&self.writer).query_row("PRAGMA page_size", [], |r| r.get(0))?)
    }

    fn reader(&self) -> Result<Connection> {
        if let Some(c) = lock(&self.readers).pop() {
            return Ok(c);
        }
        Ok(Self::connect(&self.path, &self.config)?)
    }

    fn return_reader(&self, conn: Connection) {
        let mut pool = lock(&self.readers);
        if pool.len() < self.config.max_idle_readers {
            pool.push(conn);
        }
    }

    /// Runs `f` on the writer connection outside any transaction (maintenance: checkpoint,
    /// vacuum, integrity).
    pub fn with_writer<T>(
        &self,
        f: impl FnOnce(&Connection) -> std::result::Result<T, SqliteError>,
    ) -> std::result::Result<T, SqliteError> {
        f(&lock(&self.writer))
    }
}

/// Queries shared by read and write transactions.
struct Ops<'c>(&'c Connection);

impl Ops<'_> {
    fn entry(&self, id: EntryId) -> Result<Option<Vec<u8>>> {
        let mut st = self.0.prepare_cached("SELECT data FROM entries WHERE id = ?1").map_err(sql)?;
        st.query_row([id as i64], |r| r.get(0)).optional().map_err(sql)
    }

    fn entries(&self, ids: &IdSet, f: &mut dyn FnMut(EntryId, &[u8]) -> Result<()>) -> Result<()> {
        let mut st = self.0.prepare_cached("SELECT data FROM entries WHERE id = ?1").map_err(sql)?;
        for id in ids {
            let mut rows = st.query([id as i64]).map_err(sql)?;
            if let Some(row) = rows.next().map_err(sql)? {
                let data = row.get_ref(0).map_err(sql)?.as_blob().map_err(|e| sql(e.into()))?;
                f(id, data)?;
            }
        }
        Ok(())
    }

    fn all_entries(&self, f: &mut dyn FnMut(EntryId, &[u8]) -> Result<()>) -> Result<()> {
        let mut st = self.0.prepare_cached("SELECT id, data FROM entries ORDER BY id").map_err(sql)?;
        let mut rows = st.query([]).map_err(sql)?;
        while let Some(row) = rows.next().map_err(sql)? {
            let id: i64 = row.get(0).map_err(sql)?;
            let data = row.get_ref(1).map_err(sql)?.as_blob().map_err(|e| sql(e.into()))?;
            f(id as EntryId, data)?;
        }
        Ok(())
    }

    fn id_for_uuid(&self, u: Uuid) -> Result<Option<EntryId>> {
        let mut st = self.0.prepare_cached("SELECT id FROM entries WHERE uuid = ?1").map_err(sql)?;
        let id: Option<i64> = st.query_row([u.as_bytes().as_slice()], |r| r.get(0)).optional().map_err(sql)?;
        Ok(id.map(|i| i as EntryId))
    }

    fn uuid_for_id(&self, id: EntryId) -> Result<Option<Uuid>> {
        let mut st = self.0.prepare_cached("SELECT uuid FROM entries WHERE id = ?1").map_err(sql)?;
        let blob: Option<Vec<u8>> = st.query_row([id as i64], |r| r.get(0)).optional().map_err(sql)?;
        blob.map(uuid_from).transpose()
    }

    fn entry_count(&self) -> Result<u64> {
        let n: i64 = self.0.query_row("SELECT count(*) FROM entries", [], |r| r.get(0)).map_err(sql)?;
        Ok(n as u64)
    }

    fn idl(&self, itype: IndexType, attr: &str, key: &str) -> Result<IdlLookup> {
        let q = format!("SELECT idl FROM {} WHERE key = ?1", table(itype, attr)?);
        let mut st = match self.0.prepare_cached(&q) {
            Ok(st) => st,
            Err(e) if is_missing_table(&e) => return Ok(IdlLookup::NotBuilt),
            Err(e) => return Err(sql(e)),
        };
        // A cached statement outlives a dropped table and only fails when run.
        let mut rows = match st.query([key]) {
            Ok(rows) => rows,
            Err(e) if is_missing_table(&e) => return Ok(IdlLookup::NotBuilt),
            Err(e) => return Err(sql(e)),
        };
        let mut ids = IdSet::new();
        loop {
            let row = match rows.next() {
                Ok(Some(row)) => row,
                Ok(None) => break,
                Err(e) if is_missing_table(&e) => return Ok(IdlLookup::NotBuilt),
                Err(e) => return Err(sql(e)),
            };
            let blob = row.get_ref(0).map_err(sql)?.as_blob().map_err(|e| sql(e.into()))?;
            ids |= decode_idl(blob)?;
        }
        Ok(IdlLookup::Found(ids))
    }

    fn built_indexes(&self) -> Result<BTreeSet<(IndexType, String)>> {
        let mut st = self
            .0
            .prepare_cached("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'idx\\_%' ESCAPE '\\'")
            .map_err(sql)?;
        let names = st.query_map([], |r| r.get::<_, String>(0)).map_err(sql)?;
        let mut out = BTreeSet::new();
        for name in names {
            let name = name.map_err(sql)?;
            let rest = &name["idx_".len()..];
            if let Some((short, attr)) = rest.split_once('_')
                && let Some(t) = IndexType::from_short(short)
            {
                out.insert((t, attr.to_string()));
            }
        }
        Ok(out)
    }

    fn index_contents(&self, itype: IndexType, attr: &str, f: &mut dyn FnMut(&str, IdSet) -> Result<()>) -> Result<()> {
        let q = format!("SELECT key, idl FROM {} ORDER BY key, chunk", table(itype, attr)?);
        let mut st = self.0.prepare(&q).map_err(sql)?;
        let mut rows = st.query([]).map_err(sql)?;
        let mut current: Option<(String, IdSet)> = None;
        while let Some(row) = rows.next().map_err(sql)? {
            let key = row.get_ref(0).map_err(sql)?.as_str().map_err(|e| sql(e.into()))?;
            let blob = row.get_ref(1).map_err(sql)?.as_blob().map_err(|e| sql(e.into()))?;
            let part = decode_idl(blob)?;
            match current.as_mut() {
                Some((k, ids)) if k == key => *ids |= part,
                _ => {
                    if let Some((k, ids)) = current.take() {
                        f(&k, ids)?;
                    }
                    current = Some((key.to_string(), part));
                }
            }
        }
        if let Some((k, ids)) = current {
            f(&k, ids)?;
        }
        Ok(())
    }

    fn meta(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let mut st = self.0.prepare_cached("SELECT value FROM meta WHERE key = ?1").map_err(sql)?;
        st.query_row([key], |r| r.get(0)).optional().map_err(sql)
    }

    fn integrity_check(&self) -> Result<Vec<String>> {
        let mut st = self.0.prepare("PRAGMA integrity_check").map_err(sql)?;
        let rows = st.query_map([], |r| r.get::<_, String>(0)).map_err(sql)?;
        let mut out = Vec::new();
        for r in rows {
            let r = r.map_err(sql)?;
            if r != "ok" {
                out.push(r);
            }
        }
        Ok(out)
    }
}

macro_rules! impl_read {
    ($t:ty) => {
        impl BackendRead for $t {
            fn entry(&mut self, id: EntryId) -> Result<Option<Vec<u8>>> {
                self.ops().entry(id)
            }
            fn entries(&mut self, ids: &IdSet, f: &mut dyn FnMut(EntryId, &[u8]) -> Result<()>) -> Result<()> {
                self.ops().entries(ids, f)
            }
            fn all_entries(&mut self, f: &mut dyn FnMut(EntryId, &[u8]) -> Result<()>) -> Result<()> {
                self.ops().all_entries(f)
            }
            fn id_for_uuid(&mut self, uuid: Uuid) -> Result<Option<EntryId>> {
                self.ops().id_for_uuid(uuid)
            }
            fn uuid_for_id(&mut self, id: EntryId) -> Result<Option<Uuid>> {
                self.ops().uuid_for_id(id)
            }
            fn entry_count(&mut self) -> Result<u64> {
                self.ops().entry_count()
            }
            fn idl(&mut self, itype: IndexType, attr: &str, key: &str) -> Result<IdlLookup> {
                self.ops().idl(itype, attr, key)
            }
            fn built_indexes(&mut self) -> Result<BTreeSet<(IndexType, String)>> {
                self.ops().built_indexes()
            }
            fn index_contents(
                &mut self,
                itype: IndexType,
                attr: &str,
                f: &mut dyn FnMut(&str, IdSet) -> Result<()>,
            ) -> Result<()> {
                self.ops().index_contents(itype, attr, f)
            }
            fn meta(&mut self, key: &str) -> Result<Option<Vec<u8>>> {
                self.ops().meta(key)
            }
            fn integrity_check(&mut self) -> Result<Vec<String>> {
                self.ops().integrity_check()
            }
        }
    };
}

/// A read snapshot: a deferred transaction pinned by its first read.
struct SqliteRead<'a> {
    be: &'a SqliteBackend,
    conn: Option<Connection>,
}

impl SqliteRead<'_> {
    fn ops(&self) -> Ops<'_> {
        // Present until drop.
        Ops(self.conn.as_ref().unwrap_or_else(|| unreachable!("connection taken before drop")))
    }
}

impl Drop for SqliteRead<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take()
            && conn.execute_batch("COMMIT").is_ok()
        {
            self.be.return_reader(conn);
        }
    }
}

impl_read!(SqliteRead<'_>);

struct SqliteWrite<'a> {
    conn: MutexGuard<'a, Connection>,
    committed: bool,
}

impl SqliteWrite<'_> {
    fn ops(&self) -> Ops<'_> {
        Ops(&self.conn)
    }
}

impl Drop for SqliteWrite<'_> {
    fn drop(&mut self) {
        if !self.committed
            && let Err(e) = self.conn.execute_batch("ROLLBACK")
        {
            tracing::error!("rollback failed: {e}");
        }
    }
}

impl_read!(SqliteWrite<'_>);

impl SqliteWrite<'_> {
    /// Stores one chunk of an id list; an empty chunk removes its row.
    fn write_chunk(&self, t: &str, key: &str, c: i64, part: &IdSet) -> Result<()> {
        if part.is_empty() {
            let mut del =
                self.conn.prepare_cached(&format!("DELETE FROM {t} WHERE key = ?1 AND chunk = ?2")).map_err(sql)?;
            del.execute(params![key, c]).map_err(sql)?;
        } else {
            let mut put = self
                .conn
                .prepare_cached(&format!(
                    "INSERT INTO {t} (key, chunk, idl) VALUES (?1, ?2, ?3) ON CONFLICT(key, chunk) DO UPDATE SET idl = excluded.idl"
                ))
                .map_err(sql)?;
            put.execute(params![key, c, encode_idl(part)?]).map_err(sql)?;
        }
        Ok(())
    }
}

impl BackendWrite for SqliteWrite<'_> {
    fn put_entry(&mut self, id: EntryId, uuid: Uuid, data: &[u8]) -> Result<()> {
        let mut st = self
            .conn
            .prepare_cached(
                "INSERT INTO entries (id, uuid, data) VALUES (?1, ?2, ?3)
                 ON CONFLICT(id) DO UPDATE SET uuid = excluded.uuid, data = excluded.data",
            )
            .map_err(sql)?;
        st.execute(params![id as i64, uuid.as_bytes().as_slice(), data]).map_err(sql)?;
        Ok(())
    }

    fn delete_entry(&mut self, id: EntryId) -> Result<()> {
        let mut st = self.conn.prepare_cached("DELETE FROM entries WHERE id = ?1").map_err(sql)?;
        st.execute([id as i64]).map_err(sql)?;
        Ok(())
    }

    fn apply_idl_delta(
        &mut self,
        itype: IndexType,
        attr: &str,
        key: &str,
        added: &IdSet,
        removed: &IdSet,
    ) -> Result<()> {
        let t = table(itype, attr)?;
        let chunks: BTreeSet<i64> = added.iter().chain(removed.iter()).map(chunk_of).collect();
        for c in chunks {
            let stored: Option<Vec<u8>> = {
                let mut get = self
                    .conn
                    .prepare_cached(&format!("SELECT idl FROM {t} WHERE key = ?1 AND chunk = ?2"))
                    .map_err(sql)?;
                get.query_row(params![key, c], |r| r.get(0)).optional().map_err(sql)?
            };
            let mut part = match stored {
                Some(b) => decode_idl(&b)?,
                None => IdSet::new(),
            };
            part |= chunk_slice(added, c);
            part -= chunk_slice(removed, c);
            self.write_chunk(&t, key, c, &part)?;
        }
        Ok(())
    }

    fn load_idl(&mut self, itype: IndexType, attr: &str, key: &str, ids: &[EntryId]) -> Result<()> {
        let t = table(itype, attr)?;
        let mut put =
            self.conn.prepare_cached(&format!("INSERT INTO {t} (key, chunk, idl) VALUES (?1, ?2, ?3)")).map_err(sql)?;
        for run in ids.chunk_by(|a, b| chunk_of(*a) == chunk_of(*b)) {
            let part = IdSet::from_sorted_iter(run.iter().copied())
                .map_err(|e| OperationError::InvalidState(format!("index ids out of order: {e}")))?;
            put.execute(params![key, chunk_of(run[0]), encode_idl(&part)?]).map_err(sql)?;
        }
        Ok(())
    }

    fn create_index(&mut self, itype: IndexType, attr: &str) -> Result<()> {
        let t = table(itype, attr)?;
        self.conn
            .execute_batch(&format!(
                "CREATE TABLE IF NOT EXISTS {t} (key TEXT NOT NULL, chunk INTEGER NOT NULL, idl BLOB NOT NULL,
                 PRIMARY KEY (key, chunk)) WITHOUT ROWID"
            ))
            .map_err(sql)
    }

    fn drop_index(&mut self, itype: IndexType, attr: &str) -> Result<()> {
        let t = table(itype, attr)?;
        self.conn.execute_batch(&format!("DROP TABLE IF EXISTS {t}")).map_err(sql)
    }

    fn set_meta(&mut self, key: &str, value: &[u8]) -> Result<()> {
        let mut st = self
            .conn
            .prepare_cached(
                "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            )
            .map_err(sql)?;
        st.execute(params![key, value]).map_err(sql)?;
        Ok(())
    }

    fn max_id(&mut self) -> Result<EntryId> {
        let n: i64 = self.conn.query_row("SELECT COALESCE(MAX(id), 0) FROM entries", [], |r| r.get(0)).map_err(sql)?;
        Ok(n as EntryId)
    }

    fn commit(mut self: Box<Self>) -> Result<()> {
        self.conn.execute_batch("COMMIT").map_err(sql)?;
        self.committed = true;
        Ok(())
    }
}

impl Backend for SqliteBackend {
    fn read(&self) -> Result<Box<dyn BackendRead + Send + '_>> {
        let conn = self.reader()?;
        // The snapshot is fixed by the first read, so take it now: the caller pairs it with the
        // schema it saw at this moment.
        conn.execute_batch("BEGIN DEFERRED").map_err(sql)?;
        let pinned: std::result::Result<i64, _> = conn.query_row("SELECT count(*) FROM meta", [], |r| r.get(0));
        if let Err(e) = pinned {
            let _ = conn.execute_batch("ROLLBACK");
            return Err(sql(e));
        }
        Ok(Box::new(SqliteRead { be: self, conn: Some(conn) }))
    }

    fn write(&self) -> Result<Box<dyn BackendWrite + '_>> {
        let conn = lock(&self.writer);
        conn.execute_batch("BEGIN IMMEDIATE").map_err(sql)?;
        Ok(Box::new(SqliteWrite { conn, committed: false }))
    }
}
