//! `/v1/credential/*`: credential update sessions, reached with the session's own token (or,
//! to open one, a reset token) rather than a bearer token. Bodies are small and limited as
//! for other requests made before authentication.

use super::openapi::{ApiRouter, post};
use super::{ApiError, AppState, MAX_UNAUTHENTICATED_BYTES, blocking, json_body_within};
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, State};
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

pub(super) fn routes() -> ApiRouter {
    ApiRouter::new()
        .route(
            "/v1/credential/_exchange_intent",
            post("Open a credential update session with a reset token.", exchange_intent),
        )
        .route("/v1/credential/_status", post("The state of a credential update session.", status))
        .route("/v1/credential/_update", post("Stage a change in a credential update session.", update))
        .route("/v1/credential/_commit", post("Commit a credential update session.", commit))
        .route("/v1/credential/_cancel", post("Abandon a credential update session.", cancel))
        .map_router(|r| r.layer(DefaultBodyLimit::max(MAX_UNAUTHENTICATED_BYTES)))
}
