//! Access control profiles: who may search, create, modify and delete which entries.
//!
//! A profile applies to a caller (a *receiver*) when the caller is a member of one of its
//! receiver groups or matches its receiver filter; it acts on entries matched by its target
//! filter (where `"self"` is the caller). Rights add up across profiles. Internal operations
//! are not checked.
//!
//! An *entry-manager* profile (class `access_control_receiver_entry_manager`) applies to
//! whoever manages a target: its target is narrowed, per caller, to the entries whose
//! `entry_managed_by` is the caller or a group the caller is in. Receiver groups or a receiver
//! filter on such a profile further limit which managers it applies to.

use crate::entry::{Entry, StoredEntry};
use crate::filter::{Filter, FilterContext};
use crate::identity::Limits;
use crate::modify::{Modify, ModifyList};
use crate::schema::Schema;
use crate::value::Value;
use crate::{OperationError, Result};
use idm_proto::Filter as ProtoFilter;
use std::collections::BTreeSet;
use std::sync::Arc;
use uuid::Uuid;

/// One enabled profile, as stored in an `access_control_profile` entry.
#[derive(Clone, Debug, PartialEq)]
pub struct AccessControlProfile {
    pub name: String,
    pub uuid: Uuid,
    receiver_groups: Vec<Uuid>,
    receiver_filter: Option<ProtoFilter>,
    entry_manager: bool,
    target: ProtoFilter,
    search_attrs: BTreeSet<String>,
    modify_present: BTreeSet<String>,
    modify_removed: BTreeSet<String>,
    modify_class: BTreeSet<String>,
    create_class: BTreeSet<String>,
    create_attr: BTreeSet<String>,
    delete: bool,
}

fn strings(e: &Entry, attr: &str) -> BTreeSet<String> {
    e.get(attr).into_iter().flatten().filter_map(|v| v.as_str().map(str::to_string)).collect()
}

fn json_filter(e: &Entry, attr: &str) -> Option<ProtoFilter> {
    match e.first(attr) {
        Some(Value::JsonFilter(f)) => Some(f.clone()),
        _ => None,
    }
}

impl AccessControlProfile {
    /// The profile an entry describes, or `None` when it is disabled or incomplete.
    pub fn from_entry(e: &Entry) -> Option<AccessControlProfile> {
        if !e.has_class("access_control_profile") || matches!(e.first("acp_enable"), Some(Value::Bool(false))) {
            return None;
        }
        Some(AccessControlProfile {
            name: e.first_str("name").unwrap_or_default().to_string(),
            uuid: e.uuid()?,
            receiver_groups: e.refs("acp_receiver_group").collect(),
            receiver_filter: json_filter(e, "acp_receiver"),
            entry_manager: e.has_class("access_control_receiver_entry_manager"),
            target: json_filter(e, "acp_targetscope")?,
            search_attrs: if e.has_class("access_control_search") {
                strings(e, "acp_search_attr")
            } else {
                BTreeSet::new()
            },
            modify_present: if e.has_class("access_control_modify") {
                strings(e, "acp_modify_presentattr")
            } else {
                BTreeSet::new()
            },
            modify_removed: if e.has_class("access_control_modify") {
                strings(e, "acp_modify_removedattr")
            } else {
                BTreeSet::new()
            },
            modify_class: if e.has_class("access_control_modify") {
                strings(e, "acp_modify_class")
            } else {
                BTreeSet::new()
            },
            create_class: if e.has_class("access_control_create") {
                strings(e, "acp_create_class")
            } else {
                BTreeSet::new()
            },
            create_attr: if e.has_class("access_control_create") {
                strings(e, "acp_create_attr")
            } else {
                BTreeSet::new()
            },
            delete: e.has_class("access_control_delete"),
        })
    }
}

/// Whether a filter names deleted entries explicitly (`class` = recycled or tombstone).
fn names_deleted(f: &ProtoFilter) -> bool {
    match f {
        ProtoFilter::Eq(a, v) => {
            a.eq_ignore_ascii_case("class") && matches!(v.to_lowercase().as_str(), "recycled" | "tombstone")
        }
        ProtoFilter::And(fs) | ProtoFilter::Or(fs) => fs.iter().any(names_deleted),
        ProtoFilter::AndNot(f) => names_deleted(f),
        _ => false,
    }
}

/// Profiles act on live entries unless their target asks for deleted ones (the recycle bin's).
fn live_only(target: Filter, proto: &ProtoFilter) -> Filter {
    if names_deleted(proto) {
        return target;
    }
    Filter::And(vec![
        target,
        Filter::AndNot(Box::new(Filter::Or(vec![Filter::eq("class", "recycled"), Filter::eq("class", "tombstone")]))),
    ])
}

/// One profile that applies to a caller, its target resolved for that caller.
struct Applicable {
    /// Index into [`CallerAccess::profiles`].
    profile: usize,
    /// The target as the profile acts on it (live entries only, unless it names deleted ones).
    scoped: Filter,
    /// The target as written, with `"self"` resolved: what search restriction adds to a term.
    target: Filter,
}

impl Applicable {
    /// A target that matches every entry (`{"pres":"class"}`): restricting to it is a no-op.
    fn universal(&self) -> bool {
        self.target == Filter::pres("class")
    }
}

/// The profiles that apply to one caller, with their targets resolved for that caller.
#[derive(Debug)]
pub struct CallerAccess {
    caller: Uuid,
    profiles: Arc<Vec<AccessControlProfile>>,
    applicable: Vec<Applicable>,
}

impl std::fmt::Debug for Applicable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "profile #{} on {:?}", self.profile, self.target)
    }
}

impl CallerAccess {
    /// Works out which profiles apply to the caller whose entry is `caller`.
    pub fn new(profiles: Arc<Vec<AccessControlProfile>>, caller: &Entry, schema: &Schema) -> Result<CallerAccess> {
        let uuid = caller.uuid().ok_or(OperationError::NotAuthenticated)?;
        let groups: BTreeSet<Uuid> = caller.refs("memberof").chain([uuid]).collect();
        let convert = |pf: &ProtoFilter| -> Result<Filter> {
            // Profile filters name entries by uuid; a name that does not resolve matches nothing.
            let mut resolve = |_: &str| Ok(None);
            let limits = Limits::unlimited();
            let mut ctx = FilterContext { schema, self_uuid: Some(uuid), limits: &limits, resolve: &mut resolve };
            Filter::from_proto(pf, &mut ctx)
        };
        let mut applicable = Vec::new();
        for (i, p) in profiles.iter().enumerate() {
            let by_group = p.receiver_groups.iter().any(|g| groups.contains(g));
            let by_filter = match &p.receiver_filter {
                Some(f) => convert(f).map(|f| f.matches(caller)).unwrap_or(false),
                None => false,
            };
            let receives = if p.entry_manager {
                (p.receiver_groups.is_empty() && p.receiver_filter.is_none()) || by_group || by_filter
            } else {
                by_group || by_filter
            };
            if !receives {
                continue;
            }
            // A profile whose target no longer fits the schema grants nothing.
            let Ok(mut target) = convert(&p.target) else { continue };
            if p.entry_manager {
                let managers = groups.iter().map(|g| Filter::eq_uuid("entry_managed_by", *g)).collect();
                target = Filter::And(vec![target, Filter::Or(managers)]);
            }
            applicable.push(Applicable { profile: i, scoped: live_only(target.clone(), &p.target), target });
        }
        Ok(CallerAccess { caller: uuid, profiles, applicable })
    }

    /// The applicable profiles whose target matches `e`.
    fn targeting<'s>(&'s self, e: &'s Entry) -> impl Iterator<Item = &'s AccessControlProfile> + 's {
        self.applicable.iter().filter(move |a| a.scoped.matches(e)).map(|a| &self.profiles[a.profile])
    }

    /// `f` with every term limited to the entries on which the caller may read the term's
    /// attribute, so the planner never gathers candidates by values the caller cannot see: a
    /// term on an attribute no profile lets it read matches nothing. For entries the caller
    /// may see (every filtered attribute readable), the result matches exactly what `f` does.
    /// `deleted` says whether `f` may match recycled entries (the recycle bin's searches):
    /// profiles then count only as far as they reach deleted entries.
    pub fn restrict(&self, f: &Filter, deleted: bool) -> Filter {
        match f {
            Filter::And(fs) => Filter::And(fs.iter().map(|f| self.restrict(f, deleted)).collect()),
            Filter::Or(fs) => Filter::Or(fs.iter().map(|f| self.restrict(f, deleted)).collect()),
            Filter::AndNot(f) => Filter::AndNot(Box::new(self.restrict(f, deleted))),
            Filter::Eq(a, _)
            | Filter::Sub(a, _)
            | Filter::Stw(a, _)
            | Filter::Enw(a, _)
            | Filter::Lt(a, _)
            | Filter::Pres(a) => {
                let mut targets: Vec<Filter> = Vec::new();
                for app in &self.applicable {
                    if !self.profiles[app.profile].search_attrs.contains(a) {
                        continue;
                    }
                    // On live entries a profile's written target and its live-only form agree,
                    // and the cheaper one is used; a target matching everything adds nothing.
                    if !deleted && app.universal() {
                        return f.clone();
                    }
                    let target = if deleted { &app.scoped } else { &app.target };
                    if !targets.contains(target) {
                        targets.push(target.clone());
                    }
                }
                match targets.len() {
                    // Or of nothing: matches no entry, and plans to an empty set.
                    0 => Filter::Or(Vec::new()),
                    1 => Filter::And(vec![f.clone(), targets.remove(0)]),
                    _ => Filter::And(vec![f.clone(), Filter::Or(targets)]),
                }
            }
        }
    }

    pub fn caller(&self) -> Uuid {
        self.caller
    }

    /// Attributes of `e` the caller may read.
    pub fn readable<'s>(&'s self, e: &'s Entry) -> BTreeSet<&'s str> {
        self.targeting(e).flat_map(|p| p.search_attrs.iter().map(String::as_str)).collect()
    }

    /// Whether the caller sees `e` in a search with `filter`.
    pub fn visible(&self, filter: &Filter, e: &Entry) -> bool {
        let mut used = Vec::new();
        filter.attributes(&mut used);
        let readable = self.readable(e);
        !readable.is_empty() && used.iter().all(|a| readable.contains(a))
    }

    /// An entry as the caller may see it: only its readable attributes.
    pub fn reduce(&self, s: StoredEntry) -> StoredEntry {
        let readable = self.readable(&s.entry);
        let mut reduced = Entry::new();
        for (attr, vs) in s.entry.attrs() {
            if readable.contains(attr.as_str()) {
                reduced.set(attr, vs.clone());
            }
        }
        StoredEntry { id: s.id, entry: reduced }
    }

    /// Whether the caller may create `e` as submitted. `ignore` lists attributes the server
    /// added itself (a uuid assigned before parsing).
    pub fn check_create(&self, e: &Entry, ignore: &[&str]) -> Result<()> {
        let classes: BTreeSet<&str> = e.classes().collect();
        let attrs: Vec<&str> = e.attr_names().filter(|a| !ignore.contains(a)).collect();
        let allowed = self.targeting(e).any(|p| {
            !p.create_class.is_empty()
                && classes.iter().all(|c| p.create_class.contains(*c))
                && attrs.iter().all(|a| p.create_attr.contains(*a))
        });
        if allowed {
            return Ok(());
        }
        Err(OperationError::AccessDeniedReason(format!(
            "you may not create '{}' with classes {:?} and attributes {:?}",
            e.label(),
            classes,
            attrs
        )))
    }

    /// Whether the caller may apply `ml` to `e`.
    pub fn check_modify(&self, e: &Entry, ml: &ModifyList) -> Result<()> {
        let profiles: Vec<&AccessControlProfile> = self.targeting(e).collect();
        let class_value = |v: &Value| v.as_str().map(str::to_string).unwrap_or_default();
        for m in &ml.0 {
            let ok = match m {
                Modify::Present(a, v) => profiles.iter().any(|p| {
                    p.modify_present.contains(a) && (a != "class" || p.modify_class.contains(&class_value(v)))
                }),
                Modify::Removed(a, v) => profiles.iter().any(|p| {
                    p.modify_removed.contains(a) && (a != "class" || p.modify_class.contains(&class_value(v)))
                }),
                // Removing every class would destroy the entry's meaning; nobody may.
                Modify::Purged(a) => a != "class" && profiles.iter().any(|p| p.modify_removed.contains(a)),
            };
            if !ok {
                return Err(OperationError::AccessDeniedReason(format!(
                    "you may not change attribute '{}' of '{}'",
                    m.attr(),
                    e.label()
                )));
            }
        }
        Ok(())
    }

    pub fn check_delete(&self, e: &Entry) -> Result<()> {
        if self.targeting(e).any(|p| p.delete) {
            return Ok(());
        }
        Err(OperationError::AccessDeniedReason(format!("you may not delete '{}'", e.label())))
    }
}
