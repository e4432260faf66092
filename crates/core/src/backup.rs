//! The backup format: one JSON document, written and read as a stream of lines so memory does
//! not grow with the database.
//!
//! ```text
//! {"format":"kanidm-rs-backup","version":1,...,"entry_count":N,"entries":[
//! {"V1":{"attrs":{...}}}
//! ,{"V1":{"attrs":{...}}}
//! ],"sha256":"<hex of every byte before this line>"}
//! ```
//!
//! The whole file is valid JSON (tools like `jq` read it); the checksum detects truncation and
//! edits. Indexes are not included: restore rebuilds them.

use crate::entry::{DbEntry, Entry};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::{BufRead, Write};
use thiserror::Error;
use uuid::Uuid;

pub const BACKUP_FORMAT: &str = "kanidm-rs-backup";
pub const BACKUP_VERSION: u32 = 1;
const ENTRIES_OPEN: &str = ",\"entries\":[";
const TRAILER_OPEN: &str = "],\"sha256\":\"";

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct BackupHeader {
    pub format: String,
    pub version: u32,
    /// Version of the software that wrote the backup.
    pub software: String,
    /// RFC 3339, UTC.
    pub created: String,
    pub domain_name: Option<String>,
    pub domain_uuid: Option<Uuid>,
    pub entry_count: u64,
}

#[derive(Debug, Error)]
pub enum BackupError {
    #[error("cannot read or write the backup: {0}")]
    Io(#[from] std::io::Error),
    #[error("not a backup written by this server: {0}")]
    NotABackup(String),
    #[error("the backup is {0}-compressed; decompress it first (e.g. `{1} -d FILE`)")]
    Compressed(&'static str, &'static str),
    #[error("backup format version {found} is newer than this server understands ({supported}); use a newer kanidmd")]
    UnsupportedVersion { found: u32, supported: u32 },
    #[error("line {line}: entry {index} cannot be read: {reason}")]
    Entry { line: u64, index: u64, reason: String },
    #[error("the backup ends early after {read} of {expected} entries: the file is truncated")]
    Truncated { read: u64, expected: u64 },
    #[error("the backup holds {read} entries but its header says {expected}: the file was edited")]
    CountMismatch { read: u64, expected: u64 },
    #[error(
        "checksum mismatch: the file was edited or damaged after it was written (expected {expected}, computed {computed})"
    )]
    Checksum { expected: String, computed: String },
    #[error("line {0}: unexpected content after the end of the backup")]
    TrailingData(u64),
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes a backup, hashing every byte as it goes.
pub struct BackupWriter<W: Write> {
    w: W,
    hasher: Sha256,
    count: u64,
    expected: u64,
}

impl<W: Write> BackupWriter<W> {
    pub fn new(mut w: W, header: &BackupHeader) -> Result<Self, BackupError> {
        let mut head = serde_json::to_string(header).map_err(|e| BackupError::NotABackup(e.to_string()))?;
        head.pop(); // the closing brace: the entries array continues the object
        head.push_str(ENTRIES_OPEN);
        head.push('\n');
        let mut hasher = Sha256::new();
        hasher.update(head.as_bytes());
        w.write_all(head.as_bytes())?;
        Ok(BackupWriter { w, hasher, count: 0, expected: header.entry_count })
    }

    pub fn write_entry(&mut self, e: &Entry) -> Result<(), BackupError> {
        let mut line = Vec::with_capacity(512);
        if self.count > 0 {
            line.push(b',');
        }
        e.write_json(&mut line).map_err(|err| BackupError::NotABackup(err.to_string()))?;
        line.push(b'\n');
        self.hasher.update(&line);
        self.w.write_all(&line)?;
        self.count += 1;
        Ok(())
    }

    /// Writes the checksum line and returns the writer and the number of entries written.
    pub fn finish(mut self) -> Result<(W, u64), BackupError> {
        if self.count != self.expected {
            return Err(BackupError::CountMismatch { read: self.count, expected: self.expected });
        }
        let digest = hex(&self.hasher.finalize());
        self.w.write_all(format!("{TRAILER_OPEN}{digest}\"}}\n").as_bytes())?;
        self.w.flush()?;
        Ok((self.w, self.count))
    }
}

/// Reads a backup entry by entry, checking structure, count and checksum.
pub struct BackupReader<R: BufRead> {
    r: R,
    hasher: Sha256,
    pub header: BackupHeader,
    line: u64,
    read: u64,
    done: bool,
    buf: Vec<u8>,
}

impl<R: BufRead> BackupReader<R> {
    pub fn new(mut r: R) -> Result<Self, BackupError> {
        let head = r.fill_buf()?;
        if head.starts_with(&[0x1f, 0x8b]) {
            return Err(BackupError::Compressed("gzip", "gunzip"));
        }
        if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            return Err(BackupError::Compressed("zstd", "zstd"));
        }
        let mut buf = Vec::new();
        r.read_until(b'\n', &mut buf)?;
        let text =
            std::str::from_utf8(&buf).map_err(|_| BackupError::NotABackup("the first line is not text".into()))?;
        let Some(head_json) = text.trim_end().strip_suffix(ENTRIES_OPEN) else {
            return Err(BackupError::NotABackup(
                "the first line is not a backup header (was this file written by `kanidmd backup`?)".into(),
            ));
        };
        let header: BackupHeader = serde_json::from_str(&format!("{head_json}}}"))
            .map_err(|e| BackupError::NotABackup(format!("header: {e}")))?;
        if header.format != BACKUP_FORMAT {
            return Err(BackupError::NotABackup(format!("format is '{}', expected '{BACKUP_FORMAT}'", header.format)));
        }
        if header.version > BACKUP_VERSION {
            return Err(BackupError::UnsupportedVersion { found: header.version, supported: BACKUP_VERSION });
        }
        let mut hasher = Sha256::new();
        hasher.update(&buf);
        Ok(BackupReader { r, hasher, header, line: 1, read: 0, done: false, buf })
    }

    /// The next entry with its line number, or `None` after a complete, verified backup.
    pub fn next_entry(&mut self) -> Result<Option<(u64, Entry)>, BackupError> {
        if self.done {
            return Ok(None);
        }
        self.buf.clear();
        let n = self.r.read_until(b'\n', &mut self.buf)?;
        self.line += 1;
        if n == 0 || !self.buf.ends_with(b"\n") {
            return Err(BackupError::Truncated { read: self.read, expected: self.header.entry_count });
        }
        if self.buf.starts_with(TRAILER_OPEN.as_bytes()) {
            self.finish()?;
            return Ok(None);
        }
        let body = if self.read > 0 { self.buf.strip_prefix(b",").unwrap_or(&self.buf) } else { &self.buf[..] };
        let index = self.read + 1;
        let db: DbEntry = serde_json::from_slice(body).map_err(|e| BackupError::Entry {
            line: self.line,
            index,
            reason: e.to_string(),
        })?;
        self.hasher.update(&self.buf);
        self.read += 1;
        Ok(Some((self.line, Entry::from_db(db))))
    }

    fn finish(&mut self) -> Result<(), BackupError> {
        let text = String::from_utf8_lossy(&self.buf);
        let expected = text
            .trim_end()
            .strip_prefix(TRAILER_OPEN)
            .and_then(|t| t.strip_suffix("\"}"))
            .ok_or_else(|| BackupError::NotABackup(format!("line {}: malformed checksum line", self.line)))?
            .to_string();
        let computed = hex(&std::mem::take(&mut self.hasher).finalize());
        if expected != computed {
            return Err(BackupError::Checksum { expected, computed });
        }
        if self.read != self.header.entry_count {
            return Err(BackupError::CountMismatch { read: self.read, expected: self.header.entry_count });
        }
        let mut rest = Vec::new();
        self.r.read_until(b'\n', &mut rest)?;
        if rest.iter().any(|b| !b.is_ascii_whitespace()) {
            return Err(BackupError::TrailingData(self.line + 1));
        }
        self.done = true;
        Ok(())
    }

    pub fn entries_read(&self) -> u64 {
        self.read
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Value;

    fn sample() -> (Vec<u8>, Vec<Entry>) {
        let entries: Vec<Entry> = (0..3)
            .map(|i| {
                let mut e = Entry::new();
                e.add("name", Value::Iname(format!("e{i}")));
                e.add("uuid", Value::Uuid(Uuid::from_u128(0x1000 + i)));
                e
            })
            .collect();
        let header = BackupHeader {
            format: BACKUP_FORMAT.into(),
            version: BACKUP_VERSION,
            software: "test".into(),
            created: "2026-01-01T00:00:00Z".into(),
            domain_name: Some("example.com".into()),
            domain_uuid: None,
            entry_count: 3,
        };
        let mut w = BackupWriter::new(Vec::new(), &header).unwrap();
        entries.iter().for_each(|e| w.write_entry(e).unwrap());
        (w.finish().unwrap().0, entries)
    }

    fn read_all(bytes: &[u8]) -> Result<Vec<Entry>, BackupError> {
        let mut r = BackupReader::new(bytes)?;
        let mut out = Vec::new();
        while let Some((_, e)) = r.next_entry()? {
            out.push(e);
        }
        Ok(out)
    }

    #[test]
    fn round_trip_and_valid_json() {
        let (bytes, entries) = sample();
        assert_eq!(read_all(&bytes).unwrap(), entries);
        let whole: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(whole["entries"].as_array().unwrap().len(), 3);
    }

    #[test]
    fn damage_is_detected() {
        let (bytes, _) = sample();
        // Every truncation point fails.
        for cut in 0..bytes.len() {
            assert!(read_all(&bytes[..cut]).is_err(), "truncated at {cut} accepted");
        }
        // Flipping a value byte breaks the checksum.
        let text = String::from_utf8(bytes.clone()).unwrap().replace("\"e1\"", "\"e9\"");
        assert!(matches!(read_all(text.as_bytes()), Err(BackupError::Checksum { .. })));
        // Removing an entry line breaks the checksum or the count.
        let lines: Vec<&str> = std::str::from_utf8(&bytes).unwrap().split_inclusive('\n').collect();
        let without: String = lines.iter().enumerate().filter(|(i, _)| *i != 2).map(|(_, l)| *l).collect();
        assert!(read_all(without.as_bytes()).is_err());
        assert!(matches!(read_all(&[0x1f, 0x8b, 0, 0]), Err(BackupError::Compressed("gzip", _))));
        assert!(matches!(read_all(b"[]\n"), Err(BackupError::NotABackup(_))));
    }
}
