//! OAuth2 clients are well formed: each is exactly one of confidential (`_basic`) or public
//! (`_public`); its redirect URIs have no fragment (RFC 6749 §3.1.2); redirect URIs are
//! always matched exactly, so a client asking for anything else is told so rather than
//! silently given strict matching; and a group has at most one scope map (and one
//! supplementary map) per client, and one set of values per claim, so what it grants is never
//! ambiguous; a claim is joined one way for every group.

use crate::Result;
use crate::entry::Entry;
use crate::server::{QueryServerTransaction, QueryServerWriteTransaction};
use crate::value::Value;
use idm_proto::OperationError;

const CLIENT: &str = "oauth2_resource_server";
const BASIC: &str = "oauth2_resource_server_basic";
const PUBLIC: &str = "oauth2_resource_server_public";

/// Scope and claim maps grant to groups' members: each names a group (an entry that exists but
/// is not a group, such as a person, is refused; one that does not exist is referential
/// integrity's to refuse, after the write).
pub(crate) fn maps_name_groups<'e>(
    qs: &mut QueryServerWriteTransaction,
    entries: impl Iterator<Item = &'e Entry>,
) -> Result<()> {
    for e in entries.filter(|e| e.has_class(CLIENT)) {
        for attr in ["oauth2_rs_scope_map", "oauth2_rs_sup_scope_map", "oauth2_rs_claim_map"] {
            for u in e.refs(attr).collect::<Vec<_>>() {
                if let Some(target) = qs.be().entry_by_uuid(u)?
                    && !target.has_class("group")
                {
                    return Err(OperationError::InvalidRequest(format!(
                        "OAuth2 client '{}': {attr} names '{}', which is not a group",
                        e.label(),
                        target.label()
                    )));
                }
            }
        }
    }
    Ok(())
}

pub(crate) fn check<'e>(entries: impl Iterator<Item = &'e Entry>) -> Result<()> {
    for e in entries {
        let (client, basic, public) = (e.has_class(CLIENT), e.has_class(BASIC), e.has_class(PUBLIC));
        if !client && !basic && !public {
            continue;
        }
        let bad = |why: String| Err(OperationError::InvalidRequest(format!("OAuth2 client '{}': {why}", e.label())));
        if !client {
            return bad(format!("class '{}' needs class '{CLIENT}'", if basic { BASIC } else { PUBLIC }));
        }
        if basic == public {
            return bad(format!("a client is either confidential ('{BASIC}') or public ('{PUBLIC}'), exactly one"));
        }
        if e.get("oauth2_strict_redirect_uri").is_some_and(|v| v.contains(&Value::Bool(false))) {
            return bad(
                "redirect URIs are always matched exactly here; oauth2_strict_redirect_uri cannot be false".into()
            );
        }
        if let Some(Value::Secret(s)) = e.first("oauth2_rs_basic_secret")
            && s.chars().count() < crate::oauth2::MIN_SECRET_CHARS
        {
            return bad(format!(
                "a client secret has at least {} characters; the server makes one (reset-secrets)",
                crate::oauth2::MIN_SECRET_CHARS
            ));
        }
        for attr in ["oauth2_rs_scope_map", "oauth2_rs_sup_scope_map"] {
            let groups: Vec<uuid::Uuid> = e.refs(attr).collect();
            let distinct: std::collections::BTreeSet<&uuid::Uuid> = groups.iter().collect();
            if distinct.len() != groups.len() {
                return bad(format!("{attr} has two maps for one group; a group has one map per client"));
            }
        }
        let mut claims: std::collections::BTreeMap<&str, crate::oauth2::ClaimJoin> = Default::default();
        let mut seen = std::collections::BTreeSet::new();
        for v in e.get("oauth2_rs_claim_map").into_iter().flatten() {
            if let Value::OauthClaimMap(m) = v {
                if !seen.insert((m.claim.as_str(), m.group)) {
                    return bad(format!("claim '{}' has two sets of values for one group", m.claim));
                }
                if *claims.entry(m.claim.as_str()).or_insert(m.join) != m.join {
                    return bad(format!("claim '{}' is joined two ways; a claim has one join", m.claim));
                }
            }
        }
        for attr in ["oauth2_rs_origin_landing", "oauth2_rs_origin"] {
            for v in e.get(attr).into_iter().flatten() {
                if let Value::Url(u) = v
                    && u.contains('#')
                {
                    return bad(format!("{attr} '{u}' has a fragment, which a redirect URI may not have"));
                }
            }
        }
    }
    Ok(())
}
