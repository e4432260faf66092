//! Accounts as authentication sees them: found by name, spn or uuid only while live, and
//! usable only inside their validity window.

use idm_core::Result;
use idm_core::entry::{Entry, StoredEntry};
use idm_core::filter::Filter;
use idm_core::server::QueryServerTransaction;
use idm_core::value::Value;
use time::OffsetDateTime;
use uuid::Uuid;

/// Whether `e` is a live account: an account, neither recycled nor a tombstone.
pub fn is_live_account(e: &Entry) -> bool {
    e.has_class("account") && !e.has_class("recycled") && !e.has_class("tombstone")
}

/// The live account named `id` (a name, spn or uuid). A deleted account is not found, by any
/// of its names.
pub fn find(txn: &mut impl QueryServerTransaction, id: &str) -> Result<Option<StoredEntry>> {
    let id = id.trim();
    let uuid = match Uuid::parse_str(id) {
        Ok(u) => Some(u),
        Err(_) => txn.resolve_name(id)?,
    };
    Ok(match uuid {
        Some(u) => by_uuid(txn, u)?,
        None => None,
    })
}

pub fn by_uuid(txn: &mut impl QueryServerTransaction, u: Uuid) -> Result<Option<StoredEntry>> {
    Ok(txn.entry_by_uuid(u)?.filter(|e| is_live_account(e)))
}

fn time(e: &Entry, attr: &str) -> Option<OffsetDateTime> {
    match e.first(attr) {
        Some(Value::DateTime(t)) => Some(*t),
        _ => None,
    }
}

/// When an account may authenticate: from `account_valid_from`, until `account_expire`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Window {
    pub from: Option<OffsetDateTime>,
    pub until: Option<OffsetDateTime>,
}

impl Window {
    pub fn of(e: &Entry) -> Window {
        Window { from: time(e, "account_valid_from"), until: time(e, "account_expire") }
    }

    /// Why the account may not authenticate at `now`, if it may not.
    pub fn problem(&self, now: OffsetDateTime) -> Option<&'static str> {
        if self.from.is_some_and(|f| now < f) {
            Some("account is not valid yet")
        } else if self.until.is_some_and(|u| now >= u) {
            Some("account has expired")
        } else {
            None
        }
    }
}

/// The soft-lock recorded on an account, if any.
pub fn stored_lock(e: &Entry) -> Option<(OffsetDateTime, u32)> {
    let until = time(e, "softlock_until")?;
    let level = match e.first("softlock_level") {
        Some(Value::Uint32(n)) => *n,
        _ => 1,
    };
    Some((until, level))
}

/// A fingerprint of the groups an account is in: reset tokens are bound to it.
pub fn memberships(e: &Entry) -> String {
    use sha2::Digest;
    let mut groups: Vec<Uuid> = e.refs("memberof").collect();
    groups.sort();
    let mut h = sha2::Sha256::new();
    for g in groups {
        h.update(g.as_bytes());
    }
    h.finalize().iter().take(16).map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn filter_for(u: Uuid) -> Filter {
    Filter::eq_uuid("uuid", u)
}
