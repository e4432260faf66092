//! `/scim/v1/Entry`, the SCIM endpoint today's `kanidm raw` uses: search with a SCIM filter
//! (sorting, paging, attribute selection), get one entry, create, update (PUT the attributes
//! to replace) and delete. The mapping of values and queries is `idm_core::server::scim`;
//! these handlers parse, call it as the caller, and render.

use super::openapi::{ApiRouter, get};
use super::{ApiError, AppState, json_body};
use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use idm_core::proto::OperationError;
use idm_core::proto::scim::{ScimListResponse, ScimQuery};
use idm_core::server::ScimRead;
use idm_core::server::scim::ScimObject;

fn query(q: Result<Query<ScimQuery>, QueryRejection>) -> Result<ScimQuery, ApiError> {
    q.map(|Query(q)| q).map_err(|e| ApiError(OperationError::InvalidRequest(format!("query: {}", e.body_text()))))
}

async fn search(
    State(s): State<AppState>,
    h: HeaderMap,
    q: Result<Query<ScimQuery>, QueryRejection>,
) -> Result<Json<ScimListResponse>, ApiError> {
    let q = query(q)?;
    s.read(&h, move |r, ident| r.scim_search(ident, &q)).await.map(Json)
}

async fn create(
    State(s): State<AppState>,
    h: HeaderMap,
    body: Result<Json<ScimObject>, JsonRejection>,
) -> Result<Json<ScimObject>, ApiError> {
    let body = json_body(body)?;
    s.write(&h, move |w, ident| w.scim_create(ident, body)).await.map(Json)
}

async fn update(
    State(s): State<AppState>,
    h: HeaderMap,
    body: Result<Json<ScimObject>, JsonRejection>,
) -> Result<Json<ScimObject>, ApiError> {
    let body = json_body(body)?;
    s.write(&h, move |w, ident| w.scim_update(ident, body)).await.map(Json)
}

async fn get_one(
    State(s): State<AppState>,
    h: HeaderMap,
    Path(id): Path<String>,
    q: Result<Query<ScimQuery>, QueryRejection>,
) -> Result<Json<ScimObject>, ApiError> {
    let q = query(q)?;
    s.read(&h, move |r, ident| r.scim_get(ident, &id, &q)).await.map(Json)
}

async fn delete(State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>) -> Result<Json<()>, ApiError> {
    s.write(&h, move |w, ident| w.scim_delete(ident, &id)).await.map(Json)
}

pub(super) fn routes() -> ApiRouter {
    ApiRouter::new()
        .route(
            "/scim/v1/Entry",
            get("Entries matching a SCIM filter, sorted and paged.", search)
                .post("Create an entry.", create)
                .put("Replace the named attributes of an entry.", update),
        )
        .route("/scim/v1/Entry/{id}", get("One entry.", get_one).delete("Delete an entry.", delete))
}
