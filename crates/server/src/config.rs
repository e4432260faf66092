//! `server.toml`: every key with its default, strict parsing (unknown keys and invalid values
//! are errors that name the key and the file) and validation.

use idm_core::value::iname_problem;
use idm_sqlite::FsType;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read configuration {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("configuration {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("configuration {path}: {key}: {reason}")]
    Invalid { path: PathBuf, key: &'static str, reason: String },
}

#[derive(Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum DbFsType {
    Zfs,
    #[default]
    #[serde(alias = "generic")]
    Other,
}

impl From<DbFsType> for FsType {
    fn from(t: DbFsType) -> Self {
        match t {
            DbFsType::Zfs => FsType::Zfs,
            DbFsType::Other => FsType::Generic,
        }
    }
}

#[derive(Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Error,
    #[serde(alias = "quiet")]
    Warn,
    #[default]
    #[serde(alias = "default")]
    Info,
    #[serde(alias = "verbose", alias = "filter")]
    Debug,
    #[serde(alias = "fulltrace", alias = "perfbasic", alias = "perffull")]
    Trace,
}

impl LogLevel {
    pub fn as_filter(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
        }
    }
}

#[derive(Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Role {
    #[default]
    #[serde(alias = "write_replica")]
    WriteReplica,
    #[serde(alias = "write_replica_no_ui")]
    WriteReplicaNoUI,
    #[serde(alias = "read_only_replica")]
    ReadOnlyReplica,
}

#[derive(Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct OnlineBackup {
    /// Folder for backups; defaults to the database's folder.
    pub path: Option<PathBuf>,
    #[serde(default = "default_schedule")]
    pub schedule: String,
    #[serde(default = "default_versions")]
    pub versions: u32,
    #[serde(default = "default_true")]
    pub enabled: bool,
}

fn default_schedule() -> String {
    "00 22 * * *".into()
}
fn default_versions() -> u32 {
    7
}
fn default_true() -> bool {
    true
}
fn default_bind() -> String {
    "127.0.0.1:8443".into()
}

/// The parsed `server.toml`. Relative paths are resolved against the file's own folder.
#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Accepted for compatibility with modern Kanidm configuration files ("2").
    pub version: Option<String>,
    #[serde(default = "default_bind")]
    pub bindaddress: String,
    /// Reserved for the LDAP gateway.
    pub ldapbindaddress: Option<String>,
    pub db_path: Option<PathBuf>,
    #[serde(default)]
    pub db_fs_type: DbFsType,
    /// Entries to keep cached; sizes the storage page cache.
    pub db_arc_size: Option<u64>,
    pub tls_chain: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    #[serde(default)]
    pub log_level: LogLevel,
    pub domain: Option<String>,
    pub origin: Option<String>,
    #[serde(default)]
    pub role: Role,
    pub online_backup: Option<OnlineBackup>,
    #[serde(skip)]
    pub path: PathBuf,
}

impl ServerConfig {
    pub fn load(path: &Path) -> Result<ServerConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.into(), source })?;
        // Absolute, so every path derived from it (and every message naming one) is too.
        let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        Self::parse(&text, &path)
    }

    pub fn parse(text: &str, path: &Path) -> Result<ServerConfig, ConfigError> {
        let mut cfg: ServerConfig =
            toml::from_str(text).map_err(|e| ConfigError::Parse { path: path.into(), message: e.to_string() })?;
        cfg.path = path.to_path_buf();
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let resolve = |p: &mut Option<PathBuf>| {
            if let Some(p) = p.as_mut()
                && p.is_relative()
            {
                *p = base.join(&*p);
            }
        };
        resolve(&mut cfg.db_path);
        resolve(&mut cfg.tls_chain);
        resolve(&mut cfg.tls_key);
        if let Some(ob) = cfg.online_backup.as_mut() {
            resolve(&mut ob.path);
        }
        cfg.validate()?;
        Ok(cfg)
    }

    fn invalid(&self, key: &'static str, reason: impl Into<String>) -> ConfigError {
        ConfigError::Invalid { path: self.path.clone(), key, reason: reason.into() }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.db_path.as_ref().is_none_or(|p| p.as_os_str().is_empty()) {
            return Err(
                self.invalid("db_path", "is required: the database file, e.g. db_path = \"/var/lib/kanidm/kanidm.db\"")
            );
        }
        if let Some(v) = &self.version
            && v != "2"
        {
            return Err(
                self.invalid("version", format!("'{v}' is not a known configuration version (use \"2\" or omit it)"))
            );
        }
        self.bindaddress.parse::<SocketAddr>().map_err(|_| {
            self.invalid("bindaddress", format!("'{}' is not an address:port such as 127.0.0.1:8443", self.bindaddress))
        })?;
        if self.role == Role::ReadOnlyReplica {
            return Err(self.invalid(
                "role",
                "ReadOnlyReplica is not supported: this server has no replication, so a read-only replica would \
                 never receive changes. Use WriteReplica (the default) or leave role out",
            ));
        }
        if let Some(a) = &self.ldapbindaddress {
            a.parse::<SocketAddr>().map_err(|_| {
                self.invalid("ldapbindaddress", format!("'{a}' is not an address:port such as 127.0.0.1:3636"))
            })?;
        }
        if let Some(d) = &self.domain
            && let Some(p) = iname_problem(&d.to_lowercase())
        {
            return Err(self.invalid("domain", format!("'{d}' is not a valid domain name: it {p}")));
        }
        if let Some(o) = &self.origin {
            let host = o.strip_prefix("https://").map(|r| r.split(['/', ':']).next().unwrap_or_default());
            match host {
                Some(h) if !h.is_empty() => {
                    if let Some(d) = &self.domain {
                        let d = d.to_lowercase();
                        let h = h.to_lowercase();
                        if h != d && !h.ends_with(&format!(".{d}")) {
                            return Err(self.invalid(
                                "origin",
                                format!("host '{h}' is neither the domain '{d}' nor a name under it"),
                            ));
                        }
                    }
                }
                _ => {
                    return Err(self
                        .invalid("origin", format!("'{o}' must be an https:// URL such as https://idm.example.com")));
                }
            }
        }
        if self.tls_chain.is_some() != self.tls_key.is_some() {
            let key = if self.tls_chain.is_some() { "tls_key" } else { "tls_chain" };
            return Err(self.invalid(key, "tls_chain and tls_key must be given together"));
        }
        if self.db_arc_size == Some(0) {
            return Err(self.invalid("db_arc_size", "must be at least 1 (or omitted for the default)"));
        }
        if let Some(ob) = &self.online_backup
            && let Err(reason) = crate::schedule::Schedule::parse(&ob.schedule)
        {
            return Err(ConfigError::Invalid { path: self.path.clone(), key: "online_backup.schedule", reason });
        }
        if let Some(ob) = &self.online_backup
            && ob.versions == 0
        {
            return Err(ConfigError::Invalid {
                path: self.path.clone(),
                key: "online_backup.versions",
                reason: "must be at least 1: keeping 0 versions would delete every backup".into(),
            });
        }
        Ok(())
    }

    pub fn db_path(&self) -> &Path {
        self.db_path.as_deref().unwrap_or(Path::new(""))
    }

    /// The folder backups go to when no file is named.
    pub fn backup_dir(&self) -> PathBuf {
        match self.online_backup.as_ref().and_then(|o| o.path.clone()) {
            Some(p) => p,
            None => self.db_path().parent().map(Path::to_path_buf).unwrap_or_default(),
        }
    }

    /// The configured domain, required when a database is created or renamed.
    pub fn require_domain(&self) -> Result<String, ConfigError> {
        self.domain.as_ref().map(|d| d.to_lowercase()).ok_or_else(|| {
            self.invalid(
                "domain",
                "is required: the DNS name of this identity domain, e.g. domain = \"idm.example.com\"",
            )
        })
    }

    pub fn page_size(&self) -> u32 {
        FsType::from(self.db_fs_type).page_size()
    }

    pub fn sqlite(&self) -> idm_sqlite::SqliteConfig {
        let mut c = idm_sqlite::SqliteConfig { fs_type: self.db_fs_type.into(), ..Default::default() };
        if let Some(n) = self.db_arc_size {
            // About 2 KiB of page cache per cached entry, within sane bounds.
            c.cache_kib = (n.saturating_mul(2)).clamp(2 * 1024, 1024 * 1024) as u32;
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(t: &str) -> Result<ServerConfig, ConfigError> {
        ServerConfig::parse(t, Path::new("/etc/kanidm/server.toml"))
    }

    #[test]
    fn defaults_and_relative_paths() {
        let c = parse("db_path = \"data/kanidm.db\"\ndomain = \"IDM.example.com\"\n").unwrap();
        assert_eq!(c.bindaddress, "127.0.0.1:8443");
        assert_eq!(c.db_path(), Path::new("/etc/kanidm/data/kanidm.db"));
        assert_eq!(c.db_fs_type, DbFsType::Other);
        assert_eq!(c.require_domain().unwrap(), "idm.example.com");
        assert_eq!(c.backup_dir(), Path::new("/etc/kanidm/data"));
        let c = parse("db_path = \"/d/k.db\"\n[online_backup]\npath = \"/b\"\n").unwrap();
        let ob = c.online_backup.unwrap();
        assert_eq!((ob.schedule.as_str(), ob.versions, ob.enabled), ("00 22 * * *", 7, true));
    }

    #[test]
    fn errors_name_the_key_and_the_file() {
        let cases = [
            ("db_path = \"/k.db\"\nbogus = 1\n", "bogus"),
            ("db_path = 5\n", "db_path"),
            ("db_path = \"/k.db\"\ndb_fs_type = \"ntfs\"\n", "db_fs_type"),
            ("domain = \"x.com\"\n", "db_path"),
            ("db_path = \"/k.db\"\n[online_backup]\nversions = 0\n", "versions"),
            ("db_path = \"/k.db\"\n[online_backup]\nkeep = 3\n", "keep"),
            ("db_path = \"/k.db\"\nbindaddress = \"localhost\"\n", "bindaddress"),
            ("db_path = \"/k.db\"\ndomain = \"has space\"\n", "domain"),
            ("db_path = \"/k.db\"\ndomain = \"a.com\"\norigin = \"https://b.org\"\n", "origin"),
            ("db_path = \"/k.db\"\norigin = \"http://a.com\"\n", "origin"),
            ("db_path = \"/k.db\"\ntls_chain = \"/c.pem\"\n", "tls_key"),
            ("db_path = \"/k.db\"\nlog_level = \"loud\"\n", "log_level"),
            ("db_path = \"/k.db\"\n[online_backup]\nschedule = \"at noon\"\n", "schedule"),
            ("db_path = \"/k.db\"\n[online_backup]\nschedule = \"0 0 30 2 *\"\n", "never fires"),
        ];
        for (text, key) in cases {
            let e = parse(text).unwrap_err().to_string();
            assert!(e.contains(key) && e.contains("/etc/kanidm/server.toml"), "{text:?} gave: {e}");
        }
    }
}
