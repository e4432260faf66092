//! Everyday administration endpoints: people, service accounts, groups, passwords and the
//! domain. Each is a thin translation into engine operations on behalf of the caller, so
//! access control decides who may do what exactly as for the raw API.

use super::{ApiError, AppState, blocking, identity, json_body};
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::{Json, Router};
use idm_core::builtins::UUID_DOMAIN_INFO;
use idm_core::credential::PasswordParams;
use idm_core::identity::Identity;
use idm_core::proto::{Filter, Modify, ModifyList, OperationError, ProtoEntry};
use idm_core::server::{QueryServerTransaction, name_filter};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

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

async fn search(state: &AppState, ident: Identity, f: Filter) -> Result<Vec<ProtoEntry>, ApiError> {
    let qs = state.qs.clone();
    blocking(move || {
        let mut r = qs.read()?;
        let found = r.search(&ident, &f)?;
        found.iter().map(|e| r.to_proto_entry(e)).collect()
    })
    .await
}

async fn get_one(state: &AppState, ident: Identity, class: &str, id: &str) -> Result<Json<ProtoEntry>, ApiError> {
    let mut found = search(state, ident, of_class(class, name_filter(id))).await?;
    match found.len() {
        1 => Ok(Json(found.remove(0))),
        0 => Err(ApiError(OperationError::NoMatchingEntries)),
        _ => Err(ApiError(OperationError::InvalidRequest(format!("'{id}' names several entries")))),
    }
}

async fn write(
    state: &AppState,
    op: impl FnOnce(&mut idm_core::server::QueryServerWriteTransaction<'_>) -> Result<(), OperationError> + Send + 'static,
) -> Result<Json<()>, ApiError> {
    super::write_op(state, op).await
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

#[derive(Deserialize)]
struct ResetTokenUse {
    token: String,
    password: String,
}

/// Redeems a credential reset token: no login needed, the token is the proof.
async fn use_reset_token(
    State(s): State<AppState>,
    body: Result<Json<ResetTokenUse>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let req = json_body(body)?;
    let (qs, params) = (s.qs.clone(), s.password_params);
    let name = blocking(move || {
        let mut w = qs.write()?;
        let name = w.use_reset_token(&req.token, &req.password, &params)?;
        w.commit()?;
        Ok(name)
    })
    .await?;
    Ok(Json(json!({ "name": name })))
}

macro_rules! account_routes {
    ($kind:expr) => {{
        const KIND: Kind = $kind;
        Router::new()
            .route(
                "/",
                get(|State(s): State<AppState>, h: HeaderMap, Query(q): Query<ListQuery>| async move {
                    let ident = identity(&s, &h)?;
                    search(&s, ident, list_filter(KIND.class(), q.search)).await.map(Json)
                })
                .post(|State(s): State<AppState>, h: HeaderMap, body: Result<Json<AccountCreate>, JsonRejection>| async move {
                    let ident = identity(&s, &h)?;
                    let req = json_body(body)?;
                    let e = ProtoEntry::from_pairs([
                        ("class", vec![KIND.class(), "account"]),
                        ("name", vec![req.name.as_str()]),
                        ("displayname", vec![req.displayname.as_str()]),
                    ]);
                    write(&s, move |w| w.create(&ident, &[e]).map(drop)).await
                }),
            )
            .route(
                "/{id}",
                get(|State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>| async move {
                    let ident = identity(&s, &h)?;
                    get_one(&s, ident, KIND.class(), &id).await
                })
                .patch(
                    |State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>, body: Result<Json<AccountUpdate>, JsonRejection>| async move {
                        let ident = identity(&s, &h)?;
                        let mods = update_mods(json_body(body)?);
                        if mods.is_empty() {
                            return Err(ApiError(OperationError::EmptyRequest));
                        }
                        let f = of_class(KIND.class(), name_filter(&id));
                        write(&s, move |w| w.modify(&ident, &f, &ModifyList::new(mods)).map(drop)).await
                    },
                )
                .delete(|State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>| async move {
                    let ident = identity(&s, &h)?;
                    let f = of_class(KIND.class(), name_filter(&id));
                    write(&s, move |w| w.delete(&ident, &f).map(drop)).await
                }),
            )
            .route(
                "/{id}/_credential/_reset_token",
                post(
                    |State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>, body: Result<Json<ResetTokenCreate>, JsonRejection>| async move {
                        let ident = identity(&s, &h)?;
                        let ttl = json_body(body).unwrap_or_default().ttl.unwrap_or(3600).clamp(60, 7 * 24 * 3600);
                        let qs = s.qs.clone();
                        let token = blocking(move || {
                            let mut w = qs.write()?;
                            let t = w.create_reset_token(&ident, &id, std::time::Duration::from_secs(ttl))?;
                            w.commit()?;
                            Ok(t)
                        })
                        .await?;
                        Ok::<Json<Value>, ApiError>(Json(json!({ "token": token, "valid_for_seconds": ttl })))
                    },
                ),
            )
            .route(
                "/{id}/_credential/password",
                post(
                    |State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>, body: Result<Json<PasswordSet>, JsonRejection>| async move {
                        let ident = identity(&s, &h)?;
                        let req = json_body(body)?;
                        let params = s.password_params;
                        write(&s, move |w| w.set_password(&ident, &id, &req.password, &params)).await
                    },
                ),
            )
    }};
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
    let ident = identity(&s, &h)?;
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
    let f = of_class("group", name_filter(&id));
    write(&s, move |w| w.modify(&ident, &f, &ModifyList::new(mods)).map(drop)).await
}

fn group_routes() -> Router<AppState> {
    Router::new()
        .route(
            "/",
            get(|State(s): State<AppState>, h: HeaderMap, Query(q): Query<ListQuery>| async move {
                let ident = identity(&s, &h)?;
                search(&s, ident, list_filter("group", q.search)).await.map(Json)
            })
            .post(|State(s): State<AppState>, h: HeaderMap, body: Result<Json<GroupCreate>, JsonRejection>| async move {
                let ident = identity(&s, &h)?;
                let req = json_body(body)?;
                let mut e = ProtoEntry::from_pairs([("class", vec!["group"]), ("name", vec![req.name.as_str()])]);
                if let Some(d) = req.description.filter(|d| !d.is_empty()) {
                    e.attrs.insert("description".into(), vec![d]);
                }
                write(&s, move |w| w.create(&ident, &[e]).map(drop)).await
            }),
        )
        .route(
            "/{id}",
            get(|State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>| async move {
                let ident = identity(&s, &h)?;
                get_one(&s, ident, "group", &id).await
            })
            .delete(|State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>| async move {
                let ident = identity(&s, &h)?;
                let f = of_class("group", name_filter(&id));
                write(&s, move |w| w.delete(&ident, &f).map(drop)).await
            }),
        )
        .route(
            "/{id}/_members",
            get(|State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>, Query(q): Query<MembersQuery>| async move {
                let ident = identity(&s, &h)?;
                if !q.transitive {
                    let Json(g) = get_one(&s, ident, "group", &id).await?;
                    return Ok(Json(json!(g.attrs.get("member").cloned().unwrap_or_default())));
                }
                // Everything whose memberof includes the group: nested members too.
                let Json(g) = get_one(&s, ident.clone(), "group", &id).await?;
                let uuid = g.get("uuid").and_then(|u| u.first()).cloned().ok_or(ApiError(OperationError::NoMatchingEntries))?;
                let found = search(&s, ident, eq("memberof", &uuid)).await?;
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

async fn domain_show(State(s): State<AppState>, h: HeaderMap) -> Result<Json<DomainInfo>, ApiError> {
    identity(&s, &h)?;
    let qs = s.qs.clone();
    blocking(move || {
        let mut r = qs.read()?;
        let d = r.entry_by_uuid(UUID_DOMAIN_INFO)?.ok_or(OperationError::NoMatchingEntries)?;
        let name = d.first_str("domain_name").unwrap_or_default().to_string();
        let count =
            |r: &mut idm_core::server::QueryServerReadTransaction<'_>, class: &str| -> Result<u64, OperationError> {
                Ok(r.search_ids(&idm_core::filter::Filter::eq("class", class))?.len())
            };
        Ok(DomainInfo {
            uuid: d
                .first("domain_uuid")
                .and_then(idm_core::value::Value::as_uuid)
                .map(|u| u.to_string())
                .unwrap_or_default(),
            spn_format: format!("NAME@{name}"),
            entries: r.be().raw().entry_count()?,
            persons: count(&mut r, "person")?,
            service_accounts: count(&mut r, "service_account")?,
            groups: count(&mut r, "group")?,
            name,
        })
    })
    .await
    .map(Json)
}

async fn recycled(state: &AppState, ident: Identity, f: Filter) -> Result<Vec<ProtoEntry>, ApiError> {
    let qs = state.qs.clone();
    blocking(move || {
        let mut r = qs.read()?;
        let found = r.search_recycled(&ident, &f)?;
        found.iter().map(|e| r.to_proto_entry(e)).collect()
    })
    .await
}

fn recycle_bin_routes() -> Router<AppState> {
    Router::new()
        .route(
            "/",
            get(|State(s): State<AppState>, h: HeaderMap| async move {
                let ident = identity(&s, &h)?;
                recycled(&s, ident, Filter::Pres("class".into())).await.map(Json)
            }),
        )
        .route(
            "/{id}",
            get(|State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>| async move {
                let ident = identity(&s, &h)?;
                let mut found = recycled(&s, ident, name_filter(&id)).await?;
                if found.len() != 1 {
                    return Err(ApiError(OperationError::NoMatchingEntries));
                }
                Ok(Json(found.remove(0)))
            }),
        )
        .route(
            "/{id}/_revive",
            post(|State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>| async move {
                let ident = identity(&s, &h)?;
                write(&s, move |w| w.revive(&ident, &id)).await
            }),
        )
}

/// The routes under `/v1` this module serves.
pub fn routes() -> Router<AppState> {
    Router::new()
        .nest("/person", account_routes!(Kind::Person))
        .nest("/service_account", account_routes!(Kind::ServiceAccount))
        .nest("/group", group_routes())
        .nest("/recycle_bin", recycle_bin_routes())
        .route("/credential/_reset", post(use_reset_token))
        .route("/domain", get(domain_show))
}

/// Parameters for hashing passwords set through the API.
pub fn password_params() -> PasswordParams {
    PasswordParams::default()
}
