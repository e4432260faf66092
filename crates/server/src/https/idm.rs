//! Everyday administration endpoints: people, service accounts, groups, passwords and the
//! domain. Each is a thin translation into engine operations on behalf of the caller, so
//! access control decides who may do what exactly as for the raw API.

use super::{ApiError, AppState, json_body};
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use idm_core::proto::{Filter, Modify, ModifyList, OperationError, ProtoEntry};
use idm_core::server::{QueryServerTransaction, name_filter};
use idm_identity::password::PasswordParams;
use idm_identity::{CredentialStatus, SessionInfo};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::time::Duration;

/// The kinds of account the endpoints manage, by the class that marks them.
#[derive(Clone, Copy)]
enum Kind {
    Person,
    ServiceAccount,
}

impl Kind {
    fn class(self) -> &'static str {
        match self {
            Kind::Person => "person",
            Kind::ServiceAccount => "service_account",
        }
    }
}

fn eq(a: &str, v: &str) -> Filter {
    Filter::Eq(a.into(), v.into())
}

fn of_class(class: &str, f: Filter) -> Filter {
    Filter::And(vec![eq("class", class), f])
}

#[derive(Deserialize)]
struct ListQuery {
    search: Option<String>,
}

async fn search(state: &AppState, headers: &HeaderMap, f: Filter) -> Result<Vec<ProtoEntry>, ApiError> {
    state
        .read(headers, move |r, ident| {
            let found = r.search(ident, &f)?;
            found.iter().map(|e| r.to_proto_entry(e)).collect()
        })
        .await
}

async fn get_one(state: &AppState, headers: &HeaderMap, class: &str, id: &str) -> Result<Json<ProtoEntry>, ApiError> {
    let mut found = search(state, headers, of_class(class, name_filter(id))).await?;
    match found.len() {
        1 => Ok(Json(found.remove(0))),
        0 => Err(ApiError(OperationError::NoMatchingEntries)),
        _ => Err(ApiError(OperationError::InvalidRequest(format!("'{id}' names several entries")))),
    }
}

/// A raw-style modify of the entry of `class` named `id`, as the caller.
async fn modify(
    state: &AppState,
    headers: &HeaderMap,
    class: &str,
    id: &str,
    mods: Vec<Modify>,
) -> Result<Json<()>, ApiError> {
    let f = of_class(class, name_filter(id));
    state.write(headers, move |w, ident| w.modify(ident, &f, &ModifyList::new(mods)).map(drop)).await.map(Json)
}

fn list_filter(class: &str, search: Option<String>) -> Filter {
    match search.filter(|s| !s.trim().is_empty()) {
        None => Filter::Pres("class".into()).and_class(class),
        Some(s) => of_class(
            class,
            Filter::Or(vec![
                Filter::Sub("name".into(), s.clone()),
                Filter::Sub("mail".into(), s.clone()),
                Filter::Sub("displayname".into(), s),
            ]),
        ),
    }
}

trait AndClass {
    fn and_class(self, class: &str) -> Filter;
}

impl AndClass for Filter {
    fn and_class(self, class: &str) -> Filter {
        of_class(class, self)
    }
}

#[derive(Deserialize)]
struct AccountCreate {
    name: String,
    displayname: String,
}

#[derive(Deserialize, Default)]
struct AccountUpdate {
    displayname: Option<String>,
    legalname: Option<String>,
    mail: Option<Vec<String>>,
    /// RFC 3339; an empty string removes the limit.
    account_expire: Option<String>,
    account_valid_from: Option<String>,
}

fn update_mods(u: AccountUpdate) -> Vec<Modify> {
    let mut mods = Vec::new();
    let mut set = |attr: &str, values: Vec<String>| {
        mods.push(Modify::Purged(attr.into()));
        mods.extend(values.into_iter().filter(|v| !v.is_empty()).map(|v| Modify::Present(attr.into(), v)));
    };
    if let Some(v) = u.displayname {
        set("displayname", vec![v]);
    }
    if let Some(v) = u.legalname {
        set("legalname", vec![v]);
    }
    if let Some(v) = u.mail {
        set("mail", v);
    }
    if let Some(v) = u.account_expire {
        set("account_expire", vec![v]);
    }
    if let Some(v) = u.account_valid_from {
        set("account_valid_from", vec![v]);
    }
    mods
}

#[derive(Deserialize)]
struct PasswordSet {
    password: String,
}

#[derive(Deserialize, Default)]
struct ResetTokenCreate {
    /// Seconds the token stays valid (default one hour, at most a week).
    ttl: Option<u64>,
}

macro_rules! account_routes {
    ($kind:expr) => {{
        const KIND: Kind = $kind;
        Router::new()
            .route(
                "/",
                get(|State(s): State<AppState>, h: HeaderMap, Query(q): Query<ListQuery>| async move {
                    search(&s, &h, list_filter(KIND.class(), q.search)).await.map(Json)
                })
                .post(|State(s): State<AppState>, h: HeaderMap, body: Result<Json<AccountCreate>, JsonRejection>| async move {
                    let req = json_body(body)?;
                    let e = ProtoEntry::from_pairs([
                        ("class", vec![KIND.class(), "account"]),
                        ("name", vec![req.name.as_str()]),
                        ("displayname", vec![req.displayname.as_str()]),
                    ]);
                    s.write(&h, move |w, ident| w.create(ident, &[e]).map(drop)).await.map(Json)
                }),
            )
            .route(
                "/{id}",
                get(|State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>| async move {
                    get_one(&s, &h, KIND.class(), &id).await
                })
                .patch(
                    |State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>, body: Result<Json<AccountUpdate>, JsonRejection>| async move {
                        let mods = update_mods(json_body(body)?);
                        if mods.is_empty() {
                            return Err(ApiError(OperationError::EmptyRequest));
                        }
                        modify(&s, &h, KIND.class(), &id, mods).await
                    },
                )
                .delete(|State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>| async move {
                    let f = of_class(KIND.class(), name_filter(&id));
                    s.write(&h, move |w, ident| w.delete(ident, &f).map(drop)).await.map(Json)
                }),
            )
            .route(
                "/{id}/_credential/_reset_token",
                post(
                    |State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>, body: Result<Json<ResetTokenCreate>, JsonRejection>| async move {
                        let ttl = json_body(body).unwrap_or_default().ttl.map(Duration::from_secs);
                        let (token, ttl) = s.with_token(&h, move |idm, t| idm.create_reset_token(t, &id, ttl)).await?;
                        Ok::<Json<Value>, ApiError>(Json(json!({ "token": token, "valid_for_seconds": ttl.as_secs() })))
                    },
                ),
            )
            .route(
                "/{id}/_credential/_status",
                get(|State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>| async move {
                    s.with_token(&h, move |idm, t| idm.credential_status(t, &id)).await.map(Json::<CredentialStatus>)
                }),
            )
            .route(
                "/{id}/_credential/password",
                post(
                    |State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>, body: Result<Json<PasswordSet>, JsonRejection>| async move {
                        let req = json_body(body)?;
                        s.with_token(&h, move |idm, t| idm.set_password(t, &id, &req.password)).await.map(Json)
                    },
                ),
            )
    }};
}

#[derive(Deserialize, Default)]
struct SessionQuery {
    session: Option<uuid::Uuid>,
}

/// Sessions and locks of any kind of account: `/v1/account/{id}/...`.
fn account_session_routes() -> Router<AppState> {
    Router::new()
        .route(
            "/{id}/_user_auth_token",
            get(|State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>| async move {
                s.with_token(&h, move |idm, t| idm.list_sessions(t, &id)).await.map(Json::<Vec<SessionInfo>>)
            })
            .delete(|State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>, Query(q): Query<SessionQuery>| async move {
                let n = s.with_token(&h, move |idm, t| idm.revoke_sessions(t, &id, q.session)).await?;
                Ok::<Json<Value>, ApiError>(Json(json!({ "revoked": n })))
            }),
        )
        .route(
            "/{id}/_user_auth_token/{session}",
            delete(|State(s): State<AppState>, h: HeaderMap, Path((id, session)): Path<(String, uuid::Uuid)>| async move {
                let n = s.with_token(&h, move |idm, t| idm.revoke_sessions(t, &id, Some(session))).await?;
                Ok::<Json<Value>, ApiError>(Json(json!({ "revoked": n })))
            }),
        )
        .route(
            "/{id}/_lock",
            post(|State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>| async move {
                s.with_token(&h, move |idm, t| idm.lock_account(t, &id)).await.map(Json)
            }),
        )
        .route(
            "/{id}/_unlock",
            post(|State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>| async move {
                s.with_token(&h, move |idm, t| idm.unlock_account(t, &id)).await.map(Json)
            }),
        )
}

#[derive(Deserialize)]
struct GroupCreate {
    name: String,
    description: Option<String>,
}

#[derive(Deserialize)]
struct Members {
    members: Vec<String>,
}

#[derive(Deserialize)]
struct MembersQuery {
    #[serde(default)]
    transitive: bool,
}

async fn group_members(
    s: AppState,
    h: HeaderMap,
    id: String,
    how: &'static str,
    body: Result<Json<Members>, JsonRejection>,
) -> Result<Json<()>, ApiError> {
    let members = json_body(body)?.members;
    let mut mods: Vec<Modify> = Vec::new();
    match how {
        "add" => mods.extend(members.into_iter().map(|m| Modify::Present("member".into(), m))),
        "remove" => mods.extend(members.into_iter().map(|m| Modify::Removed("member".into(), m))),
        _ => {
            mods.push(Modify::Purged("member".into()));
            mods.extend(members.into_iter().map(|m| Modify::Present("member".into(), m)));
        }
    }
    modify(&s, &h, "group", &id, mods).await
}

fn group_routes() -> Router<AppState> {
    Router::new()
        .route(
            "/",
            get(|State(s): State<AppState>, h: HeaderMap, Query(q): Query<ListQuery>| async move {
                search(&s, &h, list_filter("group", q.search)).await.map(Json)
            })
            .post(|State(s): State<AppState>, h: HeaderMap, body: Result<Json<GroupCreate>, JsonRejection>| async move {
                let req = json_body(body)?;
                let mut e = ProtoEntry::from_pairs([("class", vec!["group"]), ("name", vec![req.name.as_str()])]);
                if let Some(d) = req.description.filter(|d| !d.is_empty()) {
                    e.attrs.insert("description".into(), vec![d]);
                }
                s.write(&h, move |w, ident| w.create(ident, &[e]).map(drop)).await.map(Json)
            }),
        )
        .route(
            "/{id}",
            get(|State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>| async move {
                get_one(&s, &h, "group", &id).await
            })
            .delete(|State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>| async move {
                let f = of_class("group", name_filter(&id));
                s.write(&h, move |w, ident| w.delete(ident, &f).map(drop)).await.map(Json)
            }),
        )
        .route(
            "/{id}/_members",
            get(|State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>, Query(q): Query<MembersQuery>| async move {
                let Json(g) = get_one(&s, &h, "group", &id).await?;
                if !q.transitive {
                    return Ok(Json(json!(g.attrs.get("member").cloned().unwrap_or_default())));
                }
                // Everything whose memberof includes the group: nested members too.
                let uuid = g.get("uuid").and_then(|u| u.first()).cloned().ok_or(ApiError(OperationError::NoMatchingEntries))?;
                let found = search(&s, &h, eq("memberof", &uuid)).await?;
                let mut names: Vec<String> = found
                    .iter()
                    .filter_map(|e| e.get("spn").or_else(|| e.get("name")).and_then(|v| v.first()).cloned())
                    .collect();
                names.sort();
                Ok::<Json<Value>, ApiError>(Json(json!(names)))
            })
            .post(|State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>, body: Result<Json<Members>, JsonRejection>| async move {
                group_members(s, h, id, "add", body).await
            })
            .put(|State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>, body: Result<Json<Members>, JsonRejection>| async move {
                group_members(s, h, id, "set", body).await
            })
            .delete(|State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>, body: Result<Json<Members>, JsonRejection>| async move {
                group_members(s, h, id, "remove", body).await
            }),
        )
}

#[derive(Serialize)]
struct DomainInfo {
    name: String,
    uuid: String,
    spn_format: String,
    entries: u64,
    persons: u64,
    service_accounts: u64,
    groups: u64,
}

/// The domain's facts, and how many entries of each kind the caller may see (counted under
/// access control, like a search).
async fn domain_show(State(s): State<AppState>, h: HeaderMap) -> Result<Json<DomainInfo>, ApiError> {
    s.read(&h, |r, ident| {
        let name = r.domain_name().unwrap_or_default();
        let uuid = r.state().domain_uuid.map(|u| u.to_string()).unwrap_or_default();
        let mut count = |f: Filter| r.count(ident, &f);
        Ok(DomainInfo {
            uuid,
            spn_format: format!("NAME@{name}"),
            entries: count(Filter::Pres("class".into()))?,
            persons: count(eq("class", "person"))?,
            service_accounts: count(eq("class", "service_account"))?,
            groups: count(eq("class", "group"))?,
            name,
        })
    })
    .await
    .map(Json)
}

async fn recycled(state: &AppState, headers: &HeaderMap, f: Filter) -> Result<Vec<ProtoEntry>, ApiError> {
    state
        .read(headers, move |r, ident| {
            let found = r.search_recycled(ident, &f)?;
            found.iter().map(|e| r.to_proto_entry(e)).collect()
        })
        .await
}

fn recycle_bin_routes() -> Router<AppState> {
    Router::new()
        .route(
            "/",
            get(|State(s): State<AppState>, h: HeaderMap| async move {
                recycled(&s, &h, Filter::Pres("class".into())).await.map(Json)
            }),
        )
        .route(
            "/{id}",
            get(|State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>| async move {
                let mut found = recycled(&s, &h, name_filter(&id)).await?;
                if found.len() != 1 {
                    return Err(ApiError(OperationError::NoMatchingEntries));
                }
                Ok(Json(found.remove(0)))
            }),
        )
        .route(
            "/{id}/_revive",
            post(|State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>| async move {
                s.write(&h, move |w, ident| w.revive(ident, &id)).await.map(Json)
            }),
        )
}

/// The routes under `/v1` this module serves.
pub fn routes() -> Router<AppState> {
    Router::new()
        .nest("/person", account_routes!(Kind::Person))
        .nest("/service_account", account_routes!(Kind::ServiceAccount))
        .nest("/account", account_session_routes())
        .nest("/group", group_routes())
        .nest("/recycle_bin", recycle_bin_routes())
        .route("/domain", get(domain_show))
}

/// Parameters for hashing passwords set through the API.
pub fn password_params() -> PasswordParams {
    PasswordParams::default()
}
