//! The recycle bin: callers' deletes move entries here (hidden from searches, references to
//! them removed); they can be revived for a while, then become tombstones, then are purged.

use super::read::QueryServerTransaction;
use super::write::QueryServerWriteTransaction;
use crate::access::CallerAccess;
use crate::entry::{Entry, StoredEntry};
use crate::filter::Filter;
use crate::identity::Identity;
use crate::modify::{Modify, ModifyList};
use crate::plugins;
use crate::value::{Value, format_datetime};
use crate::{OperationError, Result};
use std::time::Duration;
use time::OffsetDateTime;
use uuid::Uuid;

/// How long deleted entries can be revived.
pub const RECYCLE_BIN_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);
/// How long tombstones remain after that.
pub const TOMBSTONE_RETENTION: Duration = Duration::from_secs(24 * 3600);

/// Schema and access control definitions are removed outright: a definition in the bin would
/// still shape the schema.
fn definition(e: &Entry) -> bool {
    e.has_class("attributetype") || e.has_class("classtype") || e.has_class("access_control_profile")
}

fn recycled_at(e: &Entry) -> Option<OffsetDateTime> {
    match e.first("recycled_at") {
        Some(Value::DateTime(t)) => Some(*t),
        _ => None,
    }
}

impl QueryServerWriteTransaction<'_> {
    /// Moves checked delete candidates to the recycle bin (definitions are removed outright).
    pub(crate) fn recycle_entries(&mut self, ident: &Identity, cands: Vec<StoredEntry>) -> Result<usize> {
        let n = cands.len();
        let (definitions, rest): (Vec<_>, Vec<_>) = cands.into_iter().partition(|c| definition(c));
        if !definitions.is_empty() {
            self.remove_entries(ident, definitions)?;
        }
        if rest.is_empty() {
            return Ok(n);
        }
        let now = Value::DateTime(self.now());
        // Groups deleted in the same request are not remembered: they are gone, not live.
        let batch: std::collections::HashSet<Uuid> = rest.iter().filter_map(|c| c.uuid()).collect();
        let pairs = rest
            .into_iter()
            .map(|c| {
                let mut e = c.entry.clone();
                e.add("class", Value::Iutf8("recycled".into()));
                e.set_single("recycled_at", now.clone());
                // Remembered so a revive can put the entry back in its groups.
                let groups: crate::entry::ValueSet = c
                    .get("directmemberof")
                    .into_iter()
                    .flatten()
                    .filter(|g| g.as_uuid().is_some_and(|u| !batch.contains(&u)))
                    .cloned()
                    .collect();
                e.set("recycled_directmemberof", groups);
                // A deleted account's sessions and reset token end with it; a revive does not
                // bring them back.
                e.purge("user_auth_session");
                e.purge("credential_update_intent_token");
                (c, e)
            })
            .collect();
        let changed = self.modify_pairs(&Identity::internal(), pairs)?;
        let recycled: Vec<StoredEntry> = changed.into_iter().map(|(_, n)| n).collect();
        plugins::refint::post_delete(self, &recycled)?;
        Ok(n)
    }

    /// Brings an entry (by name, spn or uuid) back from the recycle bin on behalf of `ident`.
    pub fn revive(&mut self, ident: &Identity, id: &str) -> Result<()> {
        self.guarded(|w| {
            let pf = idm_proto::Filter::And(vec![
                idm_proto::Filter::Eq("class".into(), "recycled".into()),
                super::name_filter(id),
            ]);
            let f = w.filter_from_proto_all(ident, &pf)?;
            let (cands, access) = w.visible_matches(ident, &f, true)?;
            let ml = ModifyList::new(vec![
                Modify::Removed("class".into(), Value::Iutf8("recycled".into())),
                Modify::Purged("recycled_at".into()),
            ]);
            if let Some(a) = &access {
                cands.iter().try_for_each(|c| a.check_modify(c, &ml))?;
            }
            if cands.is_empty() {
                return Err(OperationError::NoMatchingEntries);
            }
            let mut memberships = Vec::new();
            let pairs = cands
                .into_iter()
                .map(|c| {
                    let mut e = c.entry.clone();
                    ml.apply(&mut e);
                    e.purge("recycled_directmemberof");
                    if let Some(u) = c.uuid() {
                        let label = c.label();
                        memberships.extend(c.refs("recycled_directmemberof").map(|g| (g, u, label.clone())));
                    }
                    (c, e)
                })
                .collect();
            w.modify_pairs(ident, pairs)?;
            w.restore_memberships(access.as_deref(), memberships)
        })
    }

    /// Puts revived entries back in the groups they were direct members of, where those groups
    /// still exist. The caller must be allowed to change each group's members: a revive must not
    /// let anyone into a group its caller could not edit, and it is refused whole rather than
    /// half-done, so someone with the right to do so can still revive the entry completely.
    fn restore_memberships(
        &mut self,
        access: Option<&CallerAccess>,
        memberships: Vec<(Uuid, Uuid, String)>,
    ) -> Result<()> {
        let mut pairs: Vec<(StoredEntry, Entry)> = Vec::new();
        for (group, member, label) in memberships {
            let Some(g) = self.be().entry_by_uuid(group)? else { continue };
            if !g.has_class("group") || g.has_class("recycled") || g.has_class("tombstone") {
                continue;
            }
            let add = ModifyList::new(vec![Modify::Present("member".into(), Value::Refer(member))]);
            if let Some(a) = access {
                a.check_modify(&g, &add).map_err(|e| {
                    OperationError::AccessDeniedReason(format!(
                        "reviving '{label}' would put it back in group '{}', whose members you may not change ({e}); \
                         ask someone who may",
                        g.label()
                    ))
                })?;
            }
            match pairs.iter_mut().find(|(old, _)| old.id == g.id) {
                Some((_, new)) => {
                    new.add("member", Value::Refer(member));
                }
                None => {
                    let mut new = g.entry.clone();
                    new.add("member", Value::Refer(member));
                    pairs.push((g, new));
                }
            }
        }
        if !pairs.is_empty() {
            self.modify_pairs(&Identity::internal(), pairs)?;
        }
        Ok(())
    }

    /// Turns entries recycled before `now - recycled_for` into tombstones, and removes
    /// tombstones older than `now - recycled_for - tombstone_for`. Returns both counts.
    pub fn purge_recycle_bin(&mut self, recycled_for: Duration, tombstone_for: Duration) -> Result<(usize, usize)> {
        let now = self.now();
        self.guarded(|w| {
            let expired = |e: &Entry, age: Duration| recycled_at(e).is_some_and(|t| t + age <= now);
            let recycled = w.internal_search(&Filter::eq("class", "recycled"))?;
            let pairs: Vec<(StoredEntry, Entry)> = recycled
                .into_iter()
                .filter(|e| expired(e, recycled_for))
                .map(|c| {
                    let mut t = Entry::new();
                    t.add("class", Value::Iutf8("object".into()));
                    t.add("class", Value::Iutf8("tombstone".into()));
                    if let Some(u) = c.uuid() {
                        t.set_single("uuid", Value::Uuid(u));
                    }
                    if let Some(at) = recycled_at(&c) {
                        t.set_single("recycled_at", Value::DateTime(at));
                    }
                    (c, t)
                })
                .collect();
            let tombstoned = pairs.len();
            if tombstoned > 0 {
                w.write_derived(pairs)?;
            }
            let old: Vec<StoredEntry> = w
                .internal_search(&Filter::eq("class", "tombstone"))?
                .into_iter()
                .filter(|e| expired(e, recycled_for + tombstone_for))
                .collect();
            let purged = old.len();
            if purged > 0 {
                w.remove_entries(&Identity::internal(), old)?;
            }
            if tombstoned + purged > 0 {
                tracing::info!(
                    "recycle bin: {tombstoned} entries became tombstones, {purged} tombstones purged (as of {})",
                    format_datetime(&now)
                );
            }
            Ok((tombstoned, purged))
        })
    }
}
