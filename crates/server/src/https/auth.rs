//! `POST /v1/auth` (init → begin → cred), `POST /v1/reauth`, `/v1/logout` and
//! `GET /v1/auth/valid`. The state machine, the soft-lock and token issuing are the identity
//! layer's; this module carries the auth session id in the `X-KANIDM-AUTH-SESSION-ID` header
//! and the `auth-session-id` cookie (today's clients keep the cookie, 2022's the header), and
//! the client address from the connection.

use super::openapi::{ApiRouter, get, post};
use super::{AUTH_SESSION_HEADER, ApiError, AppState, MAX_UNAUTHENTICATED_BYTES, blocking, cookie, json_body_within};
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, DefaultBodyLimit, State};
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use idm_core::proto::{AuthIssueSession, AuthRequest, AuthResponse, AuthState};
use std::net::SocketAddr;
use uuid::Uuid;

/// The cookie today's clients carry the login in progress with.
const AUTH_SESSION_COOKIE: &str = "auth-session-id";

/// A step's answer. While the login continues, its id goes out in the header and in a
/// cookie only this server's `/v1` routes get back (HTTPS only, no scripts, no cross-site
/// requests); once it has ended, the cookie is cleared.
fn answer(id: Uuid, state: AuthState) -> Response {
    let continues = matches!(state, AuthState::Choose(_) | AuthState::Continue(_));
    let mut resp = Json(AuthResponse { sessionid: id, state }).into_response();
    let h = resp.headers_mut();
    if continues {
        if let Ok(v) = HeaderValue::from_str(&id.to_string()) {
            h.insert(AUTH_SESSION_HEADER, v);
        }
        let cookie = format!("{AUTH_SESSION_COOKIE}={id}; Path=/v1; Secure; HttpOnly; SameSite=Strict");
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            h.insert(SET_COOKIE, v);
        }
    } else {
        let expired = format!("{AUTH_SESSION_COOKIE}=; Path=/v1; Secure; HttpOnly; SameSite=Strict; Max-Age=0");
        if let Ok(v) = HeaderValue::from_str(&expired) {
            h.insert(SET_COOKIE, v);
        }
    }
    resp
}

/// The login in progress: from the header, else from the cookie.
fn session_id(headers: &HeaderMap) -> Option<Uuid> {
    let from_header = headers.get(AUTH_SESSION_HEADER).and_then(|v| v.to_str().ok());
    from_header.or_else(|| cookie(headers, AUTH_SESSION_COOKIE)).and_then(|v| Uuid::parse_str(v.trim()).ok())
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

pub(super) fn routes() -> ApiRouter {
    let small = |m: MethodRouter<AppState>| m.layer(DefaultBodyLimit::max(MAX_UNAUTHENTICATED_BYTES));
    ApiRouter::new()
        .route("/v1/auth", post("A login step: init2 (or the 2022 init), begin, cred.", auth).with(small))
        .route("/v1/reauth", post("Re-authenticate the bearer's session for a privilege window.", reauth).with(small))
        .route("/v1/auth/valid", get("200 while the bearer token is valid, else 401.", valid))
        .route("/v1/logout", get("End the bearer's session.", logout).post("End the bearer's session.", logout))
}
