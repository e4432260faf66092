//! Built-in entries written on first start: schema, the domain and system entries, the
//! administrative accounts, privilege groups and the access control profiles that give those
//! groups their meaning. All have fixed uuids, so every database agrees on them.

pub(crate) mod acp;
mod entries;
mod schema;

pub use acp::builtin_acps;
pub use entries::{builtin_accounts_and_groups, domain_info, group_grants, session_keys, system_config, system_info};
pub use schema::{LIMIT_ATTRIBUTES, builtin_schema};

use crate::entry::Entry;
use crate::value::Value;
use uuid::Uuid;

/// `00000000-0000-0000-0000-0000000000NN`: accounts and groups.
pub const fn uuid_suffix(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

pub const UUID_ADMIN: Uuid = uuid_suffix(0x0000);
pub const UUID_IDM_ADMINS: Uuid = uuid_suffix(0x0001);
pub const UUID_IDM_ADMIN: Uuid = uuid_suffix(0x0018);
pub const UUID_SYSTEM_ADMINS: Uuid = uuid_suffix(0x0019);
pub const UUID_DOMAIN_ADMINS: Uuid = uuid_suffix(0x0020);
pub const UUID_IDM_HIGH_PRIVILEGE: Uuid = uuid_suffix(0x1000);
pub const UUID_ANONYMOUS: Uuid = Uuid::from_u128(0xffff_ffff_ffff);
/// Never assigned: unresolvable names in filters become this, so they match nothing.
pub const UUID_DOES_NOT_EXIST: Uuid = Uuid::from_u128(0xffff_ffff_fffe);
pub const UUID_SYSTEM_INFO: Uuid = Uuid::from_u128(0xffff_ff00_0001);
pub const UUID_DOMAIN_INFO: Uuid = Uuid::from_u128(0xffff_ff00_0025);
pub const UUID_SYSTEM_CONFIG: Uuid = Uuid::from_u128(0xffff_ff00_0027);
pub const UUID_KEY_SESSIONS: Uuid = Uuid::from_u128(0xffff_ff00_0028);

/// Uuids at or below this value are reserved for built-ins; callers may not create them.
pub const UUID_RESERVED_MAX: Uuid = Uuid::from_u128(0xffff_ffff_ffff);

pub fn is_reserved(u: Uuid) -> bool {
    u <= UUID_RESERVED_MAX
}

/// The version of the built-in definitions. Databases written by an older binary get the
/// missing built-ins added on start, and the changes of each later version applied once
/// (`QueryServerWriteTransaction::migrate_builtins`).
pub const SYSTEM_VERSION: u32 = 9;

/// Builds an entry from typed values: `attr => [values]`.
pub(crate) fn entry(pairs: Vec<(&str, Vec<Value>)>) -> Entry {
    let mut e = Entry::new();
    for (a, vs) in pairs {
        for v in vs {
            e.add(a, v);
        }
    }
    e
}

pub(crate) fn iutf8(s: &[&str]) -> Vec<Value> {
    s.iter().map(|s| Value::Iutf8(s.to_string())).collect()
}

pub(crate) fn iname(s: &str) -> Vec<Value> {
    vec![Value::Iname(s.to_string())]
}

pub(crate) fn utf8(s: &str) -> Vec<Value> {
    vec![Value::Utf8(s.to_string())]
}

pub(crate) fn uuid(u: Uuid) -> Vec<Value> {
    vec![Value::Uuid(u)]
}

pub(crate) fn refs(us: &[Uuid]) -> Vec<Value> {
    us.iter().map(|u| Value::Refer(*u)).collect()
}
