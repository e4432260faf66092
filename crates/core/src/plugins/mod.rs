//! Plugins keep the database's invariants on every write. Each module holds both the hooks
//! that maintain one invariant and the `verify` that checks it, so the two cannot drift.
//!
//! Order matters and is fixed here: protection is checked before anything is changed,
//! derived values (uuid, spn) are generated before schema validation, and references and
//! memberships are settled after the write, inside the same transaction.

pub(crate) mod attrunique;
pub(crate) mod base;
pub(crate) mod credential;
pub(crate) mod memberof;
pub(crate) mod oauth2;
pub(crate) mod policy_values;
pub(crate) mod protected;
pub(crate) mod refint;
pub(crate) mod schema_guard;
pub(crate) mod spn;

pub use memberof::group_closure;

use crate::Result;
use crate::entry::{Entry, StoredEntry};
use crate::identity::Identity;
use crate::server::{QueryServerTransaction, QueryServerWriteTransaction};

pub(crate) fn pre_create(qs: &mut QueryServerWriteTransaction, ident: &Identity, cands: &mut [Entry]) -> Result<()> {
    protected::pre_create(ident, cands)?;
    memberof::pre_create(ident, cands)?;
    base::pre_create(qs, ident, cands)?;
    policy_values::check(cands.iter())?;
    oauth2::check(cands.iter())?;
    oauth2::maps_name_groups(qs, cands.iter())?;
    let domain = qs.domain_name();
    cands.iter_mut().for_each(|e| spn::generate(e, domain.as_deref()));
    Ok(())
}

pub(crate) fn post_create(
    qs: &mut QueryServerWriteTransaction,
    _ident: &Identity,
    created: &[StoredEntry],
) -> Result<()> {
    refint::check_new_references(qs, created.iter().map(|c| (None, &c.entry)))?;
    memberof::post_create(qs, created)
}

pub(crate) fn pre_modify(
    qs: &mut QueryServerWriteTransaction,
    ident: &Identity,
    pairs: &mut [(StoredEntry, Entry)],
) -> Result<()> {
    protected::pre_modify(ident, pairs)?;
    memberof::pre_modify(ident, pairs)?;
    base::pre_modify(pairs)?;
    credential::pre_modify(pairs);
    schema_guard::pre_modify(qs, pairs)?;
    policy_values::check(pairs.iter().map(|(_, n)| n))?;
    oauth2::check(pairs.iter().map(|(_, n)| n))?;
    oauth2::maps_name_groups(qs, pairs.iter().map(|(_, n)| n))?;
    let domain = qs.domain_name();
    pairs.iter_mut().for_each(|(_, n)| spn::generate(n, domain.as_deref()));
    Ok(())
}

pub(crate) fn post_modify(
    qs: &mut QueryServerWriteTransaction,
    _ident: &Identity,
    changed: &[(StoredEntry, StoredEntry)],
) -> Result<()> {
    refint::check_new_references(qs, changed.iter().map(|(o, n)| (Some(&o.entry), &n.entry)))?;
    memberof::post_modify(qs, changed)?;
    spn::post_modify(qs, changed)
}

pub(crate) fn pre_delete(qs: &mut QueryServerWriteTransaction, ident: &Identity, cands: &[StoredEntry]) -> Result<()> {
    protected::pre_delete(ident, cands)?;
    schema_guard::pre_delete(qs, cands)
}

pub(crate) fn post_delete(
    qs: &mut QueryServerWriteTransaction,
    _ident: &Identity,
    deleted: &[StoredEntry],
) -> Result<()> {
    refint::post_delete(qs, deleted)?;
    memberof::post_delete(qs, deleted)
}
