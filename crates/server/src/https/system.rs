//! Server administration: the server-wide settings (`/v1/system`, the `system_config` entry
//! under access control), online backups and the session signing keys. Who may use backups
//! and keys is data: the `online_backup` and `signing_keys` server rights of the caller's
//! groups.

use super::openapi::{ApiRouter, get, post};
use super::{ApiError, AppState, blocking};
use crate::online_backup::{BackupStatus, OnlineBackups};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use idm_core::identity::ServerRight;
use idm_core::proto::{Filter, OperationError, ProtoEntry};
use idm_identity::keys::KeyInfo;
use serde::Serialize;
use serde_json::{Value, json};
use std::sync::Arc;

fn configured(state: &AppState) -> Result<Arc<OnlineBackups>, OperationError> {
    state.backups.clone().ok_or_else(|| {
        OperationError::InvalidRequest(
            "online backups are not configured: add an [online_backup] section to server.toml".into(),
        )
    })
}

async fn backup_status(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<BackupStatus>, ApiError> {
    state.read(&headers, |_, ident| ident.require_right(ServerRight::OnlineBackup)).await?;
    Ok(Json(configured(&state)?.status()))
}

#[derive(Serialize)]
struct BackupDone {
    file: String,
    entries: u64,
}

async fn backup_now(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<BackupDone>, ApiError> {
    state
        .read(&headers, |_, ident| {
            ident.require_right(ServerRight::OnlineBackup)?;
            ident.require_write()
        })
        .await?;
    let backups = configured(&state)?;
    let qs = state.idm.qs().clone();
    let (file, entries) =
        blocking(move || backups.run_now(&qs).map_err(|e| OperationError::Backend(format!("backup failed: {e}"))))
            .await?;
    Ok(Json(BackupDone { file: file.display().to_string(), entries }))
}

async fn keys(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<Vec<KeyInfo>>, ApiError> {
    state.with_token(&headers, |idm, token| idm.list_keys(token)).await.map(Json)
}

async fn rotate(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    let kid = state.with_token(&headers, |idm, token| idm.rotate_key(token)).await?;
    Ok(Json(json!({ "kid": kid })))
}

async fn revoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(kid): Path<String>,
) -> Result<Json<()>, ApiError> {
    state.with_token(&headers, move |idm, token| idm.revoke_key(token, &kid)).await.map(Json)
}

/// The server-wide settings entry.
fn system_config() -> Filter {
    Filter::Eq("uuid".into(), idm_core::builtins::UUID_SYSTEM_CONFIG.to_string())
}

/// `GET /v1/system`: the settings entry as the caller may read it, as Kanidm's list.
async fn system_get(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<Vec<ProtoEntry>>, ApiError> {
    super::entries::search(&state, &headers, system_config()).await.map(Json)
}

pub(super) fn routes() -> ApiRouter {
    ApiRouter::new()
        .route("/v1/system", get("The server settings entry.", system_get))
        .route(
            "/v1/system/_attr/{attr}",
            super::entries::one_attribute(|attr: String| (system_config(), "system_config".to_string(), attr)),
        )
        .route(
            "/v1/system/backup",
            get("Online backups: schedule, last result.", backup_status).post("Run an online backup now.", backup_now),
        )
        .route("/v1/system/key", get("The session signing keys.", keys))
        .route("/v1/system/key/_rotate", post("Rotate the session signing key.", rotate))
        .route("/v1/system/key/{kid}/_revoke", post("Revoke a signing key and the sessions it signed.", revoke))
}
