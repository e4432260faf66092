//! OAuth2 clients as entries: `oauth2_resource_server` plus exactly one of `_basic`
//! (confidential, with a secret this server makes) and `_public`. Every change is made as the
//! caller, so who may manage clients is the access profiles' to say
//! (`idm_acp_oauth2_manage`: the `idm_oauth2_admins` group).

use crate::IdmServer;
use crate::password::random_password;
use idm_core::oauth2::{ClaimJoin, ClaimMapping};
use idm_core::proto::{Filter, Modify, ModifyList, ProtoEntry};
use idm_core::server::{QueryServerTransaction, name_filter};
use idm_core::value::Value;
use idm_core::{OperationError, Result};
use tracing::info;

const SECRET: &str = "oauth2_rs_basic_secret";
/// Characters of a client secret (Kanidm's length), from an alphabet without look-alikes.
const SECRET_LEN: usize = 48;

/// Confidential (authenticates with its secret) or public (PKCE only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientKind {
    Basic,
    Public,
}

impl ClientKind {
    fn class(self) -> &'static str {
        match self {
            ClientKind::Basic => "oauth2_resource_server_basic",
            ClientKind::Public => "oauth2_resource_server_public",
        }
    }
}

/// The clients `id` (a name, spn or uuid) names.
pub fn client_filter(id: &str) -> Filter {
    Filter::And(vec![Filter::Eq("class".into(), "oauth2_resource_server".into()), name_filter(id)])
}

fn server_made() -> OperationError {
    OperationError::InvalidRequest(format!(
        "{SECRET} is made by the server; empty it (`kanidm system oauth2 reset-secrets`) for a new one"
    ))
}

/// Kanidm 2022's names for a client's attributes (its Python client still sends them):
/// `oauth2_rs_name` is today's `name`, and its single `oauth2_rs_origin` today's landing URL.
fn today_names(e: &mut ProtoEntry) {
    if let Some(n) = e.attrs.remove("oauth2_rs_name") {
        e.attrs.entry("name".into()).or_insert(n);
    }
    if !e.attrs.contains_key("oauth2_rs_origin_landing")
        && let Some(origins) = e.attrs.remove("oauth2_rs_origin")
    {
        e.attrs.insert("oauth2_rs_origin_landing".into(), origins);
    }
}

impl IdmServer {
    /// Creates a client from `entry` (`{"attrs":{…}}`): its classes are added, and a
    /// confidential client gets its secret.
    pub fn oauth2_create(&self, token: &str, kind: ClientKind, mut entry: ProtoEntry) -> Result<()> {
        today_names(&mut entry);
        // Attribute names are compared as the engine reads them.
        if entry.attrs.keys().any(|a| a.trim().eq_ignore_ascii_case(SECRET)) {
            return Err(server_made());
        }
        let classes = entry.attrs.entry("class".into()).or_default();
        for c in ["object", "oauth2_resource_server", kind.class()] {
            if !classes.iter().any(|x| x.eq_ignore_ascii_case(c)) {
                classes.push(c.to_string());
            }
        }
        if kind == ClientKind::Basic {
            entry.attrs.insert(SECRET.into(), vec![random_password(SECRET_LEN)?]);
        }
        let name = entry.attrs.get("name").and_then(|n| n.first()).cloned().unwrap_or_default();
        self.write_as(token, |w, ident| w.create(ident, &[entry]).map(drop))?;
        info!(client = %name, ?kind, "OAuth2 client created");
        Ok(())
    }

    /// Replaces the attributes `entry` names on the client `id`. Emptying the secret gives a
    /// confidential client a new one (its old secret stops working at once).
    pub fn oauth2_update(&self, token: &str, id: &str, entry: ProtoEntry) -> Result<()> {
        let mut mods = Vec::new();
        for (attr, values) in entry.attrs {
            mods.push(Modify::Purged(attr.clone()));
            if attr.trim().eq_ignore_ascii_case(SECRET) {
                if !values.is_empty() {
                    return Err(server_made());
                }
                mods.push(Modify::Present(attr, random_password(SECRET_LEN)?));
                continue;
            }
            mods.extend(values.into_iter().map(|v| Modify::Present(attr.clone(), v)));
        }
        if mods.is_empty() {
            return Err(OperationError::EmptyRequest);
        }
        self.write_as(token, |w, ident| {
            let n = w.modify(ident, &client_filter(id), &ModifyList::new(mods))?;
            if n == 0 {
                return Err(OperationError::NoMatchingEntries);
            }
            Ok(())
        })
    }

    /// The secret of the confidential client `id`, for those who may read it; `None` for a
    /// public client.
    pub fn oauth2_basic_secret(&self, token: &str, id: &str) -> Result<Option<String>> {
        self.read_as(token, |r, ident| {
            let mut found = r.search(ident, &client_filter(id))?;
            let client = match found.len() {
                1 => found.remove(0),
                0 => return Err(OperationError::NoMatchingEntries),
                _ => return Err(OperationError::InvalidRequest(format!("'{id}' names several clients"))),
            };
            match client.first(SECRET) {
                Some(Value::Secret(s)) => Ok(Some(s.clone())),
                // A confidential client whose secret the caller may not read.
                _ if client.has_class("oauth2_resource_server_basic") => Err(OperationError::AccessDenied),
                _ => Ok(None),
            }
        })
    }
}

/// A client's grants to a group: the scopes its members may ask for, or those they get besides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScopeMapKind {
    Scopes,
    Supplementary,
}

impl ScopeMapKind {
    fn attr(self) -> &'static str {
        match self {
            ScopeMapKind::Scopes => "oauth2_rs_scope_map",
            ScopeMapKind::Supplementary => "oauth2_rs_sup_scope_map",
        }
    }
}

/// The one entry `f` finds as `ident` sees it, `what` naming it in errors.
fn the_one(
    txn: &mut impl QueryServerTransaction,
    ident: &idm_core::identity::Identity,
    f: &Filter,
    what: &str,
) -> Result<uuid::Uuid> {
    let mut found = txn.search(ident, f)?;
    match found.len() {
        1 => found.remove(0).uuid().ok_or(OperationError::NoMatchingEntries),
        0 => Err(OperationError::NoMatchingEntries),
        _ => Err(OperationError::InvalidRequest(format!("'{what}' names several entries"))),
    }
}

impl IdmServer {
    /// Deletes the client `id` (to the recycle bin).
    pub fn oauth2_delete(&self, token: &str, id: &str) -> Result<()> {
        self.write_as(token, |w, ident| {
            if w.delete(ident, &client_filter(id))? == 0 {
                return Err(OperationError::NoMatchingEntries);
            }
            Ok(())
        })?;
        info!(client = %id, "OAuth2 client deleted");
        Ok(())
    }

    /// Sets what the client `id` grants the members of `group` (replacing the group's map).
    pub fn oauth2_set_scope_map(
        &self,
        token: &str,
        id: &str,
        group: &str,
        scopes: &[String],
        kind: ScopeMapKind,
    ) -> Result<()> {
        let mut set = std::collections::BTreeSet::new();
        for s in scopes {
            set.insert(idm_core::value::oauth_scope(s.trim()).map_err(OperationError::InvalidRequest)?.to_string());
        }
        if set.is_empty() {
            return Err(OperationError::InvalidRequest(
                "give at least one scope (deleting the map takes a group's grants away)".into(),
            ));
        }
        self.change_scope_map(token, id, group, kind, Some(set))
    }

    /// Removes the map of `group` from the client `id` (nothing happens if it has none).
    pub fn oauth2_delete_scope_map(&self, token: &str, id: &str, group: &str, kind: ScopeMapKind) -> Result<()> {
        self.change_scope_map(token, id, group, kind, None)
    }

    fn change_scope_map(
        &self,
        token: &str,
        id: &str,
        group: &str,
        kind: ScopeMapKind,
        scopes: Option<std::collections::BTreeSet<String>>,
    ) -> Result<()> {
        use idm_core::modify::{Modify as M, ModifyList as ML};
        self.write_as(token, |w, ident| {
            let g = group_uuid(w, ident, group)?;
            let client = the_one(w, ident, &client_filter(id), id)?;
            let attr = kind.attr();
            // The group's map is found by the group alone (its equality key).
            let mut mods = vec![M::Removed(attr.into(), Value::OauthScopeMap(g, Default::default()))];
            if let Some(set) = scopes {
                mods.push(M::Present(attr.into(), Value::OauthScopeMap(g, set)));
            }
            w.modify_as(ident, &idm_core::filter::Filter::eq_uuid("uuid", client), &ML::new(mods)).map(drop)
        })
    }
}

impl IdmServer {
    /// Sets the values the custom claim `claim` takes for `group`'s members on the client
    /// `id` (replacing that group's; the claim keeps its join, an array by default).
    pub fn oauth2_set_claim_map(
        &self,
        token: &str,
        id: &str,
        claim: &str,
        group: &str,
        values: &[String],
    ) -> Result<()> {
        let claim = claim.trim().to_string();
        if let Some(why) = idm_core::oauth2::claim_name_problem(&claim) {
            return Err(OperationError::InvalidRequest(why));
        }
        let values: std::collections::BTreeSet<String> = values.iter().map(|v| v.trim().to_string()).collect();
        if values.is_empty() {
            return Err(OperationError::InvalidRequest(
                "give at least one value (deleting the claim map takes the group's values away)".into(),
            ));
        }
        self.change_claim_maps(token, id, Some(group), |maps, g| {
            let join = maps.iter().find(|m| m.claim == claim).map_or(ClaimJoin::Array, |m| m.join);
            if let Some(why) = values.iter().find_map(|v| join.refuses(v)) {
                return Err(OperationError::InvalidRequest(why.into()));
            }
            maps.retain(|m| !(m.claim == claim && m.group == g));
            maps.push(ClaimMapping { claim, group: g, join, values });
            Ok(())
        })
    }

    /// Removes `group`'s values of `claim` from the client `id`.
    pub fn oauth2_delete_claim_map(&self, token: &str, id: &str, claim: &str, group: &str) -> Result<()> {
        self.change_claim_maps(token, id, Some(group), |maps, g| {
            maps.retain(|m| !(m.claim == claim && m.group == g));
            Ok(())
        })
    }

    /// How the client `id` joins the values of `claim` (`array`, `csv` or `ssv`).
    pub fn oauth2_set_claim_join(&self, token: &str, id: &str, claim: &str, join: &str) -> Result<()> {
        let join = ClaimJoin::from_name(join.trim_matches('"'))
            .ok_or_else(|| OperationError::InvalidRequest(format!("'{join}' is not a join: array, csv or ssv")))?;
        self.change_claim_maps(token, id, None, |maps, _| {
            if !maps.iter().any(|m| m.claim == claim) {
                return Err(OperationError::InvalidRequest(format!(
                    "claim '{claim}' has no values yet; give it some with update-claim-map first"
                )));
            }
            for m in maps.iter_mut().filter(|m| m.claim == claim) {
                if let Some(why) = m.values.iter().find_map(|v| join.refuses(v)) {
                    return Err(OperationError::InvalidRequest(why.into()));
                }
                m.join = join;
            }
            Ok(())
        })
    }

    /// Rewrites the client's claim maps with `change` (given the maps and, if `group` is
    /// named, its uuid), in one write as the caller.
    fn change_claim_maps(
        &self,
        token: &str,
        id: &str,
        group: Option<&str>,
        change: impl FnOnce(&mut Vec<ClaimMapping>, uuid::Uuid) -> Result<()>,
    ) -> Result<()> {
        use idm_core::modify::{Modify as M, ModifyList as ML};
        const ATTR: &str = "oauth2_rs_claim_map";
        self.write_as(token, |w, ident| {
            let g = match group {
                Some(name) => group_uuid(w, ident, name)?,
                None => uuid::Uuid::nil(),
            };
            let mut found = w.search(ident, &client_filter(id))?;
            let client = match found.len() {
                1 => found.remove(0),
                0 => return Err(OperationError::NoMatchingEntries),
                _ => return Err(OperationError::InvalidRequest(format!("'{id}' names several clients"))),
            };
            let mut maps: Vec<ClaimMapping> = client
                .get(ATTR)
                .into_iter()
                .flatten()
                .filter_map(|v| match v {
                    Value::OauthClaimMap(m) => Some((**m).clone()),
                    _ => None,
                })
                .collect();
            change(&mut maps, g)?;
            let mut mods = vec![M::Purged(ATTR.into())];
            mods.extend(maps.into_iter().map(|m| M::Present(ATTR.into(), Value::OauthClaimMap(Box::new(m)))));
            let u = client.uuid().ok_or(OperationError::NoMatchingEntries)?;
            w.modify_as(ident, &idm_core::filter::Filter::eq_uuid("uuid", u), &ML::new(mods)).map(drop)
        })
    }
}

/// The group `name` names, as `ident` sees it.
fn group_uuid(
    txn: &mut impl QueryServerTransaction,
    ident: &idm_core::identity::Identity,
    name: &str,
) -> Result<uuid::Uuid> {
    let groups = Filter::And(vec![Filter::Eq("class".into(), "group".into()), name_filter(name)]);
    the_one(txn, ident, &groups, name).map_err(|e| match e {
        OperationError::NoMatchingEntries => {
            OperationError::InvalidRequest(format!("there is no group called '{name}'"))
        }
        other => other,
    })
}
