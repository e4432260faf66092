//! `/v1/credential/*`: credential update sessions, reached with the session's own token (or,
//! to open one, a reset token) rather than a bearer token. Bodies are small and limited as
//! for other requests made before authentication.

use super::{ApiError, AppState, MAX_UNAUTHENTICATED_BYTES, blocking, json_body_within};
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::routing::post;
use axum::{Json, Router};
use idm_core::proto::OperationError;
use idm_core::proto::credupdate::{CURequest, CUSessionToken, CUStatus};

/// `POST /v1/credential/_exchange_intent` with the reset token as a JSON string.
async fn exchange_intent(
    State(s): State<AppState>,
    body: Result<Json<String>, JsonRejection>,
) -> Result<Json<(CUSessionToken, CUStatus)>, ApiError> {
    let secret = json_body_within(body, MAX_UNAUTHENTICATED_BYTES)?;
    let idm = s.idm.clone();
    blocking(move || idm.cu_exchange_intent(&secret)).await.map(Json)
}

async fn status(
    State(s): State<AppState>,
    body: Result<Json<CUSessionToken>, JsonRejection>,
) -> Result<Json<CUStatus>, ApiError> {
    let cu = json_body_within(body, MAX_UNAUTHENTICATED_BYTES)?;
    let idm = s.idm.clone();
    blocking(move || idm.cu_status(&cu)).await.map(Json)
}

/// `POST /v1/credential/_update` with `[CURequest, {"token":…}]`.
async fn update(
    State(s): State<AppState>,
    body: Result<Json<(serde_json::Value, CUSessionToken)>, JsonRejection>,
) -> Result<Json<CUStatus>, ApiError> {
    let (req, cu) = json_body_within(body, MAX_UNAUTHENTICATED_BYTES)?;
    let req = CURequest::parse(&req).map_err(|e| ApiError(OperationError::InvalidRequest(e)))?;
    let idm = s.idm.clone();
    blocking(move || idm.cu_update(&cu, req)).await.map(Json)
}

async fn commit(
    State(s): State<AppState>,
    body: Result<Json<CUSessionToken>, JsonRejection>,
) -> Result<Json<()>, ApiError> {
    let cu = json_body_within(body, MAX_UNAUTHENTICATED_BYTES)?;
    let idm = s.idm.clone();
    blocking(move || idm.cu_commit(&cu)).await.map(Json)
}

async fn cancel(
    State(s): State<AppState>,
    body: Result<Json<CUSessionToken>, JsonRejection>,
) -> Result<Json<()>, ApiError> {
    let cu = json_body_within(body, MAX_UNAUTHENTICATED_BYTES)?;
    let idm = s.idm.clone();
    blocking(move || idm.cu_cancel(&cu)).await.map(Json)
}

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/credential/_exchange_intent", post(exchange_intent))
        .route("/v1/credential/_status", post(status))
        .route("/v1/credential/_update", post(update))
        .route("/v1/credential/_commit", post(commit))
        .route("/v1/credential/_cancel", post(cancel))
        .layer(DefaultBodyLimit::max(MAX_UNAUTHENTICATED_BYTES))
}
