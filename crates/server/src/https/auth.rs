//! `POST /v1/auth` (init → begin → cred), `POST /v1/reauth`, `/v1/logout` and
//! `GET /v1/auth/valid`. The state machine, the soft-lock and token issuing are the identity
//! layer's; this module carries the auth session id in the `X-KANIDM-AUTH-SESSION-ID` header
//! and the client address from the connection.

use super::{AUTH_SESSION_HEADER, ApiError, AppState, MAX_UNAUTHENTICATED_BYTES, blocking, json_body_within};
use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use idm_core::proto::{AuthIssueSession, AuthRequest, AuthResponse, AuthState};
use std::net::SocketAddr;
use uuid::Uuid;

fn answer(id: Uuid, state: AuthState) -> Response {
    let continues = matches!(state, AuthState::Choose(_) | AuthState::Continue(_));
    let mut resp = Json(AuthResponse { sessionid: id, state }).into_response();
    if continues && let Ok(v) = HeaderValue::from_str(&id.to_string()) {
        resp.headers_mut().insert(AUTH_SESSION_HEADER, v);
    }
    resp
}

fn session_id(headers: &HeaderMap) -> Option<Uuid> {
    headers.get(AUTH_SESSION_HEADER).and_then(|v| v.to_str().ok()).and_then(|v| Uuid::parse_str(v.trim()).ok())
}

/// One login step. A bearer token on this route is ignored (some clients send a stale one).
async fn auth(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<Json<AuthRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let req = json_body_within(body, MAX_UNAUTHENTICATED_BYTES)?;
    let session = session_id(&headers);
    let idm = state.idm.clone();
    let (id, st) = blocking(move || idm.auth_step(req.step, session, Some(peer.ip()))).await?;
    Ok(answer(id, st))
}

/// Starts re-authenticating the bearer's session; the answer continues like `begin`'s.
async fn reauth(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<Json<AuthIssueSession>, JsonRejection>,
) -> Result<Response, ApiError> {
    // The body names how the token is returned; only a bearer token is offered.
    if let Err(e) = body
        && !matches!(e, JsonRejection::MissingJsonContentType(_))
    {
        json_body_within::<AuthIssueSession>(Err(e), MAX_UNAUTHENTICATED_BYTES)?;
    }
    let (id, st) = state.with_token(&headers, move |idm, token| idm.reauth_begin(token, Some(peer.ip()))).await?;
    Ok(answer(id, st))
}

/// Ends the bearer's session.
async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<()>, ApiError> {
    state.with_token(&headers, |idm, token| idm.logout(token)).await.map(Json)
}

/// 200 when the bearer token is valid now, 401 otherwise.
async fn valid(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<()>, ApiError> {
    state.read(&headers, |_, _| Ok(())).await.map(Json)
}

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/auth", post(auth).layer(DefaultBodyLimit::max(MAX_UNAUTHENTICATED_BYTES)))
        .route("/v1/reauth", post(reauth).layer(DefaultBodyLimit::max(MAX_UNAUTHENTICATED_BYTES)))
        .route("/v1/auth/valid", get(valid))
        .route("/v1/logout", get(logout).post(logout))
}
