use idm_core::OperationError;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum SqliteError {
    #[error("database {path}: {source}")]
    Open { path: String, source: rusqlite::Error },
    #[error("cannot create database {path}: {source}")]
    Create { path: String, source: std::io::Error },
    #[error("sqlite: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("index id list is corrupt: {0}")]
    IdlDecode(std::io::Error),
    #[error("'{0}' is not a valid attribute name for an index table")]
    BadIndexName(String),
    #[error("stored uuid has {0} bytes, expected 16")]
    BadUuid(usize),
    #[error("database is busy: {0}")]
    Busy(String),
    #[error("{0}")]
    Io(std::io::Error),
}

impl From<SqliteError> for OperationError {
    fn from(e: SqliteError) -> Self {
        OperationError::Backend(e.to_string())
    }
}
