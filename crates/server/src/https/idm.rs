//! Administration endpoints beyond plain entries: credentials (status, update sessions,
//! reset tokens), sessions and locks of any account, the recycle bin and the domain. Each is a
//! thin call into the identity layer or the engine on behalf of the caller, so access control
//! decides who may do what exactly as for the raw API.

use super::entries::{self, Kind};
use super::openapi::{ApiRouter, delete, get, post, put};
use super::{ApiError, AppState};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use idm_core::proto::credupdate::{CUIntentToken, CUSessionToken, CUStatus};
use idm_core::proto::{Filter, OperationError, ProtoEntry};
use idm_core::server::{QueryServerTransaction, name_filter};
use idm_identity::password::PasswordParams;
use idm_identity::{CredentialStatus, SessionInfo};
use serde::Deserialize;
use serde_json::{Value, json};
use std::time::Duration;

fn eq(a: &str, v: &str) -> Filter {
    Filter::Eq(a.into(), v.into())
}

/// A reset token for the account `id`, valid for `ttl` seconds (clamped by the identity layer).
async fn update_intent(
    s: &AppState,
    h: &HeaderMap,
    id: String,
    ttl: Option<u64>,
) -> Result<Json<CUIntentToken>, ApiError> {
    let (token, ttl) =
        s.with_token(h, move |idm, t| idm.create_reset_token(t, &id, ttl.map(Duration::from_secs))).await?;
    let expiry_time = time::OffsetDateTime::now_utc().unix_timestamp() + ttl.as_secs() as i64;
    Ok(Json(CUIntentToken { token, expiry_time }))
}

/// The routes of people and service accounts: their entries, and their credentials.
fn account_routes(kind: Kind) -> ApiRouter {
    entries::routes(kind)
        .route(
            "/{id}/_credential/_status",
            get(
                "Credential status: credentials, reset token, lock, sessions.",
                |State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>| async move {
                    s.with_token(&h, move |idm, t| idm.credential_status(t, &id)).await.map(Json::<CredentialStatus>)
                },
            ),
        )
        .route(
            "/{id}/_credential/_update",
            get(
                "Open a credential update session.",
                |State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>| async move {
                    s.with_token(&h, move |idm, t| idm.cu_begin(t, &id)).await.map(Json::<(CUSessionToken, CUStatus)>)
                },
            ),
        )
        .route(
            "/{id}/_credential/_update_intent",
            get(
                "Create a reset token (default lifetime).",
                |State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>| async move {
                    update_intent(&s, &h, id, None).await
                },
            ),
        )
        .route(
            "/{id}/_credential/_update_intent/{ttl}",
            get(
                "Create a reset token valid for ttl seconds.",
                |State(s): State<AppState>, h: HeaderMap, Path((id, ttl)): Path<(String, u64)>| async move {
                    update_intent(&s, &h, id, Some(ttl)).await
                },
            ),
        )
}

/// Service accounts: what every account has, and API tokens.
fn service_account_routes() -> ApiRouter {
    use idm_identity::api_tokens::{ApiToken, ApiTokenGenerate};
    account_routes(Kind::ServiceAccount)
        .route(
            "/{id}/_api_token",
            get(
                "The service account's API tokens.",
                |State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>| async move {
                    s.with_token(&h, move |idm, t| idm.list_api_tokens(t, &id)).await.map(Json::<Vec<ApiToken>>)
                },
            )
            .post(
                "Issue an API token: {label, expiry, read_write}.",
                |State(s): State<AppState>,
                 h: HeaderMap,
                 Path(id): Path<String>,
                 body: Result<Json<ApiTokenGenerate>, axum::extract::rejection::JsonRejection>| async move {
                    let req = super::json_body(body)?;
                    s.with_token(&h, move |idm, t| idm.generate_api_token(t, &id, &req)).await.map(Json)
                },
            ),
        )
        .route(
            "/{id}/_api_token/{token_id}",
            delete(
                "Destroy an API token.",
                |State(s): State<AppState>, h: HeaderMap, Path((id, token_id)): Path<(String, uuid::Uuid)>| async move {
                    s.with_token(&h, move |idm, t| idm.revoke_sessions(t, &id, Some(token_id))).await.map(|_| Json(()))
                },
            ),
        )
}

/// The 2022 API's credential request (`SetCredentialRequest`): only the password forms.
#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum SetCredential2022 {
    Password(String),
    GeneratePassword,
}

/// `PUT /v1/account/{id}/_credential/primary`, as the 2022 CLI sets passwords: `"success"`, or
/// `{"token": PASSWORD}` for a generated one. Its TOTP and WebAuthn requests are refused by
/// name (passkeys and TOTP come through credential update sessions).
async fn primary_credential_2022(
    State(s): State<AppState>,
    h: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let req: SetCredential2022 = serde_json::from_slice(&body).map_err(|e| {
        ApiError(OperationError::InvalidRequest(format!(
            "only {{\"password\": …}} and \"generatepassword\" are supported here; use a credential update \
             session for other credentials ({e})"
        )))
    })?;
    match req {
        SetCredential2022::Password(pw) => {
            s.with_token(&h, move |idm, t| idm.set_password_now(t, &id, &pw)).await?;
            Ok(Json(json!("success")))
        }
        SetCredential2022::GeneratePassword => {
            let pw = s.with_token(&h, move |idm, t| idm.set_generated_password_now(t, &id)).await?;
            Ok(Json(json!({ "token": pw })))
        }
    }
}

/// `POST /v1/self/_credential/primary/set_password` `{"value": PASSWORD}` (2022 CLI).
async fn own_password_2022(
    State(s): State<AppState>,
    h: HeaderMap,
    body: Result<Json<Value>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<()>, ApiError> {
    let body = super::json_body(body)?;
    let pw = body["value"]
        .as_str()
        .ok_or_else(|| ApiError(OperationError::InvalidRequest("expected {\"value\": PASSWORD}".into())))?
        .to_string();
    s.with_token(&h, move |idm, t| idm.set_own_password_now(t, &pw)).await.map(Json)
}

#[derive(Deserialize, Default)]
struct SessionQuery {
    session: Option<uuid::Uuid>,
}

/// Sessions and locks of any kind of account: `/v1/account/{id}/...`.
fn account_session_routes() -> ApiRouter {
    ApiRouter::new()
        .route(
            "/{id}/_user_auth_token",
            get("The account's sessions.", |State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>| async move {
                s.with_token(&h, move |idm, t| idm.list_sessions(t, &id)).await.map(Json::<Vec<SessionInfo>>)
            })
            .delete("Revoke sessions (one with ?session=, else all).", |State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>, Query(q): Query<SessionQuery>| async move {
                let n = s.with_token(&h, move |idm, t| idm.revoke_sessions(t, &id, q.session)).await?;
                Ok::<Json<Value>, ApiError>(Json(json!({ "revoked": n })))
            }),
        )
        .route(
            "/{id}/_user_auth_token/{session}",
            delete("Revoke one session.", |State(s): State<AppState>, h: HeaderMap, Path((id, session)): Path<(String, uuid::Uuid)>| async move {
                let n = s.with_token(&h, move |idm, t| idm.revoke_sessions(t, &id, Some(session))).await?;
                Ok::<Json<Value>, ApiError>(Json(json!({ "revoked": n })))
            }),
        )
        .route(
            "/{id}/_lock",
            post("Lock the account (its sessions end).", |State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>| async move {
                s.with_token(&h, move |idm, t| idm.lock_account(t, &id)).await.map(Json)
            }),
        )
        .route(
            "/{id}/_unlock",
            post("Unlock the account.", |State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>| async move {
                s.with_token(&h, move |idm, t| idm.unlock_account(t, &id)).await.map(Json)
            }),
        )
}

/// `GET /v1/domain`: the domain entry as the caller may read it, as Kanidm's one-element list,
/// with how many entries of each kind the caller may see (counted under access control, like
/// a search) and the SPN format.
async fn domain_show(State(s): State<AppState>, h: HeaderMap) -> Result<Json<Vec<ProtoEntry>>, ApiError> {
    s.read(&h, |r, ident| {
        let mut e = match r.search(ident, &eq("uuid", &idm_core::builtins::UUID_DOMAIN_INFO.to_string()))?.pop() {
            Some(d) => r.to_proto_entry(&d)?,
            None => ProtoEntry::default(),
        };
        let name = r.domain_name().unwrap_or_default();
        let mut count = |f: Filter| r.count(ident, &f).map(|n| vec![n.to_string()]);
        let counts = [
            ("domain_entries", count(Filter::Pres("class".into()))?),
            ("domain_persons", count(eq("class", "person"))?),
            ("domain_service_accounts", count(eq("class", "service_account"))?),
            ("domain_groups", count(eq("class", "group"))?),
        ];
        e.attrs.extend(counts.into_iter().map(|(k, v)| (k.to_string(), v)));
        e.attrs.insert("domain_spn_format".into(), vec![format!("NAME@{name}")]);
        Ok(vec![e])
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

fn recycle_bin_routes() -> ApiRouter {
    ApiRouter::new()
        .route(
            "/",
            get("Deleted entries you may see.", |State(s): State<AppState>, h: HeaderMap| async move {
                recycled(&s, &h, Filter::Pres("class".into())).await.map(Json)
            }),
        )
        .route(
            "/{id}",
            get("One deleted entry.", |State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>| async move {
                let mut found = recycled(&s, &h, name_filter(&id)).await?;
                if found.len() != 1 {
                    return Err(ApiError(OperationError::NoMatchingEntries));
                }
                Ok(Json(found.remove(0)))
            }),
        )
        .route(
            "/{id}/_revive",
            post(
                "Revive a deleted entry, with its memberships.",
                |State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>| async move {
                    s.write(&h, move |w, ident| w.revive(ident, &id)).await.map(Json)
                },
            ),
        )
}

/// The routes under `/v1` this module serves.
pub fn routes() -> ApiRouter {
    ApiRouter::new()
        .nest("/person", account_routes(Kind::Person))
        .nest("/service_account", service_account_routes())
        .nest(
            "/account",
            account_routes(Kind::Account)
                .merge(account_session_routes())
                .route("/{id}/_credential/primary", put("Set a password (the 2022 API).", primary_credential_2022)),
        )
        .route(
            "/self/_credential/primary/set_password",
            post("Set your own password (the 2022 API).", own_password_2022),
        )
        .nest("/group", entries::routes(Kind::Group))
        .nest("/recycle_bin", recycle_bin_routes())
        .route("/domain", get("The domain entry, with counts.", domain_show))
}

/// Parameters for hashing passwords set through the API.
pub fn password_params() -> PasswordParams {
    PasswordParams::default()
}
