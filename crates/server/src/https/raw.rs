//! `GET /v1/self` and the raw `POST /v1/raw/{search,create,modify,delete}` endpoints the
//! document uses: filters and entries as the caller writes them, under access control.

use super::openapi::{ApiRouter, get, post};
use super::{ApiError, AppState, json_body};
use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::HeaderMap;
use idm_core::proto::{Filter as ProtoFilter, ModifyList, OperationError, ProtoEntry};
use idm_core::server::QueryServerTransaction;
use serde::{Deserialize, Serialize};

/// `GET /v1/self`: the caller's entry, and its token's payload as issued (2022 clients
/// require `uat`; today's ignore it).
#[derive(Serialize)]
struct WhoAmI {
    youare: ProtoEntry,
    uat: serde_json::Value,
}

async fn whoami(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<WhoAmI>, ApiError> {
    let token = super::bearer(&headers)?;
    let idm = state.idm.clone();
    let who = super::blocking(move || {
        idm.read_as_with_token(&token, |r, ident, uat| {
            let me = r.search(ident, &ProtoFilter::SelfUuid)?.pop().ok_or(OperationError::NotAuthenticated)?;
            Ok(WhoAmI { youare: r.to_proto_entry(&me)?, uat: uat.clone() })
        })
    })
    .await?;
    Ok(Json(who))
}

#[derive(Deserialize)]
struct SearchRequest {
    filter: ProtoFilter,
}

#[derive(Serialize)]
struct SearchResponse {
    entries: Vec<ProtoEntry>,
}

#[derive(Deserialize)]
struct CreateRequest {
    entries: Vec<ProtoEntry>,
}

#[derive(Deserialize)]
struct ModifyRequest {
    filter: ProtoFilter,
    modlist: ModifyList,
}

async fn raw_search(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<SearchRequest>, JsonRejection>,
) -> Result<Json<SearchResponse>, ApiError> {
    let req = json_body(body)?;
    let entries = state
        .read(&headers, move |r, ident| {
            let found = r.search(ident, &req.filter)?;
            found.iter().map(|e| r.to_proto_entry(e)).collect()
        })
        .await?;
    Ok(Json(SearchResponse { entries }))
}

async fn raw_create(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<CreateRequest>, JsonRejection>,
) -> Result<Json<()>, ApiError> {
    let req = json_body(body)?;
    state.write(&headers, move |w, ident| w.create(ident, &req.entries).map(drop)).await.map(Json)
}

async fn raw_modify(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<ModifyRequest>, JsonRejection>,
) -> Result<Json<()>, ApiError> {
    let req = json_body(body)?;
    state.write(&headers, move |w, ident| w.modify(ident, &req.filter, &req.modlist).map(drop)).await.map(Json)
}

async fn raw_delete(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<SearchRequest>, JsonRejection>,
) -> Result<Json<()>, ApiError> {
    let req = json_body(body)?;
    state.write(&headers, move |w, ident| w.delete(ident, &req.filter).map(drop)).await.map(Json)
}

pub(super) fn routes() -> ApiRouter {
    ApiRouter::new()
        .route("/v1/self", get("The caller's entry and token payload.", whoami))
        .route("/v1/raw/search", post("Entries matching a JSON filter.", raw_search))
        .route("/v1/raw/create", post("Create entries.", raw_create))
        .route("/v1/raw/modify", post("Apply a modify list to the entries a filter matches.", raw_modify))
        .route("/v1/raw/delete", post("Delete the entries a filter matches.", raw_delete))
}
