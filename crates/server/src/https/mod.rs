//! The HTTPS JSON API: `GET /status`, `POST /v1/auth`, `GET /v1/self` and the raw
//! `POST /v1/raw/{search,create,modify,delete}` endpoints. Every request runs through the
//! engine as the authenticated caller, so access control applies to all of it.

pub mod auth;
mod idm;

use crate::config::ServerConfig;
use crate::lock::{DbLock, lock_db};
use crate::offline::AdminError;
use crate::online_backup::{BackupStatus, OnlineBackups};
use auth::{
    AuthCred, AuthRequest, AuthResponse, AuthSessions, AuthState, AuthStep, TOKEN_LIFETIME, TokenClaims, TokenSigner,
};
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use idm_core::builtins::{UUID_ANONYMOUS, UUID_DOMAIN_INFO, UUID_IDM_ADMINS, UUID_SYSTEM_ADMINS};
use idm_core::identity::{Identity, Limits};
use idm_core::proto::{Filter as ProtoFilter, ModifyList, OperationError, ProtoEntry};
use idm_core::server::{QueryServer, QueryServerTransaction, session_active};
use idm_core::value::{Credential, Value};
use idm_sqlite::SqliteBackend;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;
use time::OffsetDateTime;
use tracing::{info, warn};
use uuid::Uuid;

/// Largest request body accepted.
pub const MAX_REQUEST_BYTES: usize = 16 * 1024 * 1024;
pub const AUTH_SESSION_HEADER: &str = "x-kanidm-auth-session-id";
/// How long a client may take to send its request headers.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Error)]
pub enum ServerError {
    #[error(transparent)]
    Admin(#[from] AdminError),
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: String, source: std::io::Error },
    #[error("{0}")]
    Runtime(String),
}

#[derive(Clone)]
struct AppState {
    qs: Arc<QueryServer>,
    auth: Arc<AuthSessions>,
    signer: Arc<TokenSigner>,
    backups: Option<Arc<OnlineBackups>>,
    password_params: idm_core::credential::PasswordParams,
}

/// An engine error as an HTTP response: JSON body in upstream's shape, a status that fits.
struct ApiError(OperationError);

impl From<OperationError> for ApiError {
    fn from(e: OperationError) -> Self {
        ApiError(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        use OperationError::*;
        let status = match &self.0 {
            ResourceLimit(m) if m.starts_with("the request body") => StatusCode::PAYLOAD_TOO_LARGE,
            NotAuthenticated | SessionExpired => StatusCode::UNAUTHORIZED,
            AccessDenied | AccessDeniedReason(_) | SystemProtectedObject(_) => StatusCode::FORBIDDEN,
            NoMatchingEntries => StatusCode::NOT_FOUND,
            EmptyRequest | SchemaViolation(_) | Plugin(_) | InvalidAttribute(_) | InvalidRequest(_)
            | ResourceLimit(_) => StatusCode::BAD_REQUEST,
            Backend(_) | Serde(_) | Consistency(_) | InvalidState(_) | TransactionFailed => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        let mut resp = (status, Json(&self.0)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert("www-authenticate", HeaderValue::from_static("Bearer"));
        }
        resp
    }
}

/// A body that is not the JSON the endpoint takes: 400 with serde's position and reason, or
/// 413 naming the limit when it is too large.
fn json_body<T>(body: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    body.map(|Json(t)| t).map_err(|e| {
        ApiError(if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            OperationError::ResourceLimit(format!(
                "the request body is larger than the limit of {MAX_REQUEST_BYTES} bytes"
            ))
        } else {
            OperationError::InvalidRequest(e.body_text())
        })
    })
}

/// Runs blocking engine work off the async workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, OperationError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError(OperationError::InvalidState(format!("request task failed: {e}"))))?
        .map_err(ApiError)
}

fn now_unix() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

/// The caller of a request, from its bearer token.
fn identity(state: &AppState, headers: &HeaderMap) -> Result<Identity, ApiError> {
    caller(state, headers).map(|(ident, _)| ident)
}

/// The caller and its token's claims. The token must be correctly signed, unexpired, and its
/// session not revoked.
fn caller(state: &AppState, headers: &HeaderMap) -> Result<(Identity, TokenClaims), ApiError> {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .ok_or(ApiError(OperationError::NotAuthenticated))?;
    let claims = state.signer.verify(token, now_unix()).map_err(|reason| {
        if reason.contains("expired") {
            ApiError(OperationError::SessionExpired)
        } else {
            ApiError(OperationError::NotAuthenticated)
        }
    })?;
    let mut r = state.qs.read()?;
    let caller = r.entry_by_uuid(claims.uuid)?.ok_or(ApiError(OperationError::NotAuthenticated))?;
    if !session_active(&caller, claims.session) {
        return Err(ApiError(OperationError::SessionExpired));
    }
    let admin = caller.refs("memberof").any(|g| g == UUID_SYSTEM_ADMINS || g == UUID_IDM_ADMINS);
    Ok((Identity::user(claims.uuid, if admin { Limits::admin() } else { Limits::user() }), claims))
}

/// Online backups are the system administrators' business.
fn require_system_admin(state: &AppState, headers: &HeaderMap) -> Result<Identity, ApiError> {
    let ident = identity(state, headers)?;
    let uuid = ident.uuid().ok_or(ApiError(OperationError::NotAuthenticated))?;
    let mut r = state.qs.read()?;
    let caller = r.entry_by_uuid(uuid)?.ok_or(ApiError(OperationError::NotAuthenticated))?;
    if !caller.refs("memberof").any(|g| g == UUID_SYSTEM_ADMINS) {
        return Err(ApiError(OperationError::AccessDeniedReason(
            "online backups are managed by members of system_admins".into(),
        )));
    }
    Ok(ident)
}

fn configured_backups(state: &AppState) -> Result<Arc<OnlineBackups>, ApiError> {
    state.backups.clone().ok_or_else(|| {
        ApiError(OperationError::InvalidRequest(
            "online backups are not configured: add an [online_backup] section to server.toml".into(),
        ))
    })
}

async fn backup_status(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<BackupStatus>, ApiError> {
    require_system_admin(&state, &headers)?;
    Ok(Json(configured_backups(&state)?.status()))
}

#[derive(Serialize)]
struct BackupDone {
    file: String,
    entries: u64,
}

async fn backup_now(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<BackupDone>, ApiError> {
    require_system_admin(&state, &headers)?;
    let backups = configured_backups(&state)?;
    let qs = state.qs.clone();
    let (file, entries) =
        blocking(move || backups.run_now(&qs).map_err(|e| OperationError::Backend(format!("backup failed: {e}"))))
            .await?;
    Ok(Json(BackupDone { file: file.display().to_string(), entries }))
}

/// Revokes the session of the token that makes the request.
async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<()>, ApiError> {
    let (_, claims) = caller(&state, &headers)?;
    write_op(&state, move |w| w.revoke_auth_session(claims.uuid, claims.session).map(drop)).await
}

async fn status() -> Json<bool> {
    Json(true)
}

/// When an account may not log in at `now`, the reason.
fn validity_problem(e: &idm_core::entry::Entry, now: OffsetDateTime) -> Option<String> {
    if let Some(Value::DateTime(from)) = e.first("account_valid_from")
        && now < *from
    {
        return Some("account is not valid yet".into());
    }
    if let Some(Value::DateTime(until)) = e.first("account_expire")
        && now >= *until
    {
        return Some("account has expired".into());
    }
    None
}

async fn auth(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<AuthRequest>, JsonRejection>,
) -> Response {
    match auth_step(state, headers, body).await {
        Ok((id, st)) => {
            let mut resp = Json(AuthResponse { sessionid: id, state: st }).into_response();
            if let Ok(v) = HeaderValue::from_str(&id.to_string()) {
                resp.headers_mut().insert(AUTH_SESSION_HEADER, v);
            }
            resp
        }
        Err(e) => e.into_response(),
    }
}

async fn auth_step(
    state: AppState,
    headers: HeaderMap,
    body: Result<Json<AuthRequest>, JsonRejection>,
) -> Result<(Uuid, AuthState), ApiError> {
    let req = json_body(body)?;
    let session_id =
        || -> Result<Uuid, ApiError> {
            headers.get(AUTH_SESSION_HEADER).and_then(|v| v.to_str().ok()).and_then(|v| Uuid::parse_str(v).ok()).ok_or(
                ApiError(OperationError::InvalidRequest(format!("missing or invalid {AUTH_SESSION_HEADER} header"))),
            )
        };
    match req.step {
        AuthStep::Init(name) => {
            let qs = state.qs.clone();
            let account = blocking(move || {
                let mut r = qs.read()?;
                let u = match Uuid::parse_str(&name) {
                    Ok(u) => Some(u),
                    Err(_) => r.resolve_name(&name)?,
                };
                Ok(match u {
                    Some(u) => r.entry_by_uuid(u)?.filter(|e| e.has_class("account")).map(|e| e.entry),
                    None => None,
                })
            })
            .await?;
            let Some(account) = account else {
                return Ok((Uuid::nil(), AuthState::Denied("no such account".into())));
            };
            let uuid = account.uuid().unwrap_or_default();
            if let Some(why) = validity_problem(&account, OffsetDateTime::now_utc()) {
                return Ok((Uuid::nil(), AuthState::Denied(why)));
            }
            let offered = if uuid == UUID_ANONYMOUS {
                vec!["anonymous".to_string()]
            } else if account.has("primary_credential") {
                vec!["password".to_string()]
            } else {
                return Ok((Uuid::nil(), AuthState::Denied("account has no credentials".into())));
            };
            let id = state.auth.start(uuid, offered.clone());
            Ok((id, AuthState::Choose(offered)))
        }
        AuthStep::Begin(mech) => {
            let id = session_id()?;
            let session = state.auth.get(id).ok_or(ApiError(OperationError::SessionExpired))?;
            if !session.offered.contains(&mech) {
                return Ok((id, AuthState::Denied(format!("mechanism '{mech}' is not available for this account"))));
            }
            state.auth.choose(id, &mech);
            Ok((id, AuthState::Continue(vec![mech])))
        }
        AuthStep::Cred(cred) => {
            let id = session_id()?;
            let session = state.auth.get(id).ok_or(ApiError(OperationError::SessionExpired))?;
            let account = session.account;
            let mech = match (&cred, session.chosen.as_deref()) {
                (AuthCred::Anonymous, Some("anonymous")) => "anonymous",
                (AuthCred::Password(_), Some("password")) => "password",
                _ => return Ok((id, AuthState::Denied("credential does not match the chosen mechanism".into()))),
            };
            if let Some(secs) = state.auth.locked(account) {
                warn!(%account, "authentication refused: credential locked after repeated failures");
                return Ok((
                    id,
                    AuthState::Denied(format!(
                        "account is temporarily locked after repeated failures; try again in {secs} s"
                    )),
                ));
            }
            let ok = match cred {
                AuthCred::Anonymous => true,
                AuthCred::Password(pw) => {
                    let qs = state.qs.clone();
                    blocking(move || {
                        let mut r = qs.read()?;
                        let e = r.entry_by_uuid(account)?;
                        Ok(matches!(e.as_ref().and_then(|e| e.first("primary_credential")),
                            Some(Value::Credential(c @ Credential::Password { .. })) if c.verify_password(&pw)))
                    })
                    .await?
                }
            };
            state.auth.finish(id);
            if mech == "password" {
                state.auth.record(account, ok);
            }
            if !ok {
                warn!(%account, "authentication failed: wrong password");
                return Ok((id, AuthState::Denied("incorrect password".into())));
            }
            let now = now_unix();
            let claims = TokenClaims {
                uuid: account,
                session: Uuid::new_v4(),
                iat: now,
                exp: now + TOKEN_LIFETIME.as_secs() as i64,
                mech: mech.to_string(),
            };
            // The session is recorded on the account so it can be listed and revoked.
            let (session, exp, m) = (claims.session, claims.exp, mech.to_string());
            write_op(&state, move |w| w.add_auth_session(account, session, exp, &m, now)).await.map(drop)?;
            info!(%account, mech, "authentication succeeded");
            Ok((id, AuthState::Success(state.signer.sign(&claims))))
        }
    }
}

#[derive(Serialize)]
struct WhoAmI {
    youare: ProtoEntry,
}

async fn whoami(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<WhoAmI>, ApiError> {
    let ident = identity(&state, &headers)?;
    let qs = state.qs.clone();
    let youare = blocking(move || {
        let mut r = qs.read()?;
        let me = r.search(&ident, &ProtoFilter::SelfUuid)?.pop().ok_or(OperationError::NotAuthenticated)?;
        r.to_proto_entry(&me)
    })
    .await?;
    Ok(Json(WhoAmI { youare }))
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
    let ident = identity(&state, &headers)?;
    let req = json_body(body)?;
    let qs = state.qs.clone();
    let entries = blocking(move || {
        let mut r = qs.read()?;
        let found = r.search(&ident, &req.filter)?;
        found.iter().map(|e| r.to_proto_entry(e)).collect()
    })
    .await?;
    Ok(Json(SearchResponse { entries }))
}

/// Runs one write operation in its own transaction and commits it.
async fn write_op(
    state: &AppState,
    op: impl FnOnce(&mut idm_core::server::QueryServerWriteTransaction<'_>) -> Result<(), OperationError> + Send + 'static,
) -> Result<Json<()>, ApiError> {
    let qs = state.qs.clone();
    blocking(move || {
        let mut w = qs.write()?;
        op(&mut w)?;
        w.commit()
    })
    .await?;
    Ok(Json(()))
}

async fn raw_create(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<CreateRequest>, JsonRejection>,
) -> Result<Json<()>, ApiError> {
    let ident = identity(&state, &headers)?;
    let req = json_body(body)?;
    write_op(&state, move |w| w.create(&ident, &req.entries).map(drop)).await
}

async fn raw_modify(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<ModifyRequest>, JsonRejection>,
) -> Result<Json<()>, ApiError> {
    let ident = identity(&state, &headers)?;
    let req = json_body(body)?;
    write_op(&state, move |w| w.modify(&ident, &req.filter, &req.modlist).map(drop)).await
}

async fn raw_delete(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<SearchRequest>, JsonRejection>,
) -> Result<Json<()>, ApiError> {
    let ident = identity(&state, &headers)?;
    let req = json_body(body)?;
    write_op(&state, move |w| w.delete(&ident, &req.filter).map(drop)).await
}

fn router(state: AppState) -> Router {
    Router::new()
        .route("/status", get(status))
        .route("/v1/auth", post(auth))
        .route("/v1/self", get(whoami))
        .route("/v1/logout", post(logout))
        .route("/v1/system/backup", get(backup_status).post(backup_now))
        .nest("/v1", idm::routes())
        .route("/v1/raw/search", post(raw_search))
        .route("/v1/raw/create", post(raw_create))
        .route("/v1/raw/modify", post(raw_modify))
        .route("/v1/raw/delete", post(raw_delete))
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BYTES))
        .with_state(state)
}

/// Every ten minutes, turns old recycle-bin entries into tombstones and purges old tombstones.
async fn purge_recycle_bin(qs: Arc<QueryServer>) {
    let mut every = tokio::time::interval(Duration::from_secs(600));
    loop {
        every.tick().await;
        let qs = qs.clone();
        let done = tokio::task::spawn_blocking(move || -> Result<(), OperationError> {
            let mut w = qs.write()?;
            w.purge_recycle_bin(idm_core::server::RECYCLE_BIN_RETENTION, idm_core::server::TOMBSTONE_RETENTION)?;
            w.commit()
        })
        .await;
        if let Ok(Err(e)) = done {
            warn!("recycle bin purge failed: {e}");
        }
    }
}

/// A running server: its address, and the means to stop it.
pub struct Running {
    pub addr: SocketAddr,
    handle: axum_server::Handle<SocketAddr>,
    scheduler: Option<tokio::task::JoinHandle<()>>,
    purger: tokio::task::JoinHandle<()>,
    backend: Arc<SqliteBackend>,
    _lock: DbLock,
}

impl Running {
    /// Stops accepting connections, lets requests finish, then checkpoints the database so the
    /// data folder alone is a complete copy.
    pub async fn shutdown(self, served: tokio::task::JoinHandle<std::io::Result<()>>) -> Result<(), ServerError> {
        if let Some(s) = &self.scheduler {
            s.abort();
        }
        self.purger.abort();
        self.handle.graceful_shutdown(Some(Duration::from_secs(10)));
        let _ = served.await;
        if let Err(e) = self.backend.checkpoint() {
            warn!("checkpoint at shutdown failed: {e}");
        }
        info!("server stopped");
        Ok(())
    }
}

/// Starts serving on the configured address. Returns once listening.
pub async fn start(
    config: &ServerConfig,
) -> Result<(Running, tokio::task::JoinHandle<std::io::Result<()>>), ServerError> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (Some(chain), Some(key)) = (&config.tls_chain, &config.tls_key) else {
        return Err(crate::tls::TlsError::NotConfigured.into());
    };
    let tls = crate::tls::server_config(chain, key)?;
    let domain = config.require_domain().map_err(AdminError::from)?;
    let lock = lock_db(config.db_path()).map_err(AdminError::from)?;
    let backend = Arc::new(
        SqliteBackend::open(config.db_path(), config.sqlite())
            .map_err(|source| AdminError::Storage { path: config.db_path().to_path_buf(), source })?,
    );
    let qs = QueryServer::new(backend.clone()).map_err(AdminError::from)?;
    qs.initialise(&domain).map_err(AdminError::from)?;
    let key = {
        let mut r = qs.read().map_err(AdminError::from)?;
        let d = r.entry_by_uuid(UUID_DOMAIN_INFO).map_err(AdminError::from)?;
        d.and_then(|d| d.first("domain_token_key").and_then(Value::as_str).map(str::to_string))
            .ok_or_else(|| ServerError::Runtime("the domain entry has no token key".into()))?
    };
    let backups = OnlineBackups::from_config(config).map_err(ServerError::Runtime)?.map(Arc::new);
    let qs = Arc::new(qs);
    let scheduler = backups.as_ref().map(|b| {
        info!("{}", b.describe());
        tokio::spawn(b.clone().run_schedule(qs.clone()))
    });
    let purger = tokio::spawn(purge_recycle_bin(qs.clone()));
    let state = AppState {
        qs,
        auth: Arc::new(AuthSessions::default()),
        signer: Arc::new(TokenSigner::new(key.as_bytes())),
        backups,
        password_params: idm::password_params(),
    };
    let addr: SocketAddr = config
        .bindaddress
        .parse()
        .map_err(|e| ServerError::Bind { addr: config.bindaddress.clone(), source: std::io::Error::other(e) })?;
    let handle = axum_server::Handle::new();
    let rustls_config = axum_server::tls_rustls::RustlsConfig::from_config(Arc::new(tls));
    let app = router(state);
    let mut server = axum_server::bind_rustls(addr, rustls_config).handle(handle.clone());
    // A client that trickles its request headers is cut off rather than holding a connection
    // (TLS handshakes already time out after 10 s).
    server.http_builder().http1().timer(hyper_util::rt::TokioTimer::new()).header_read_timeout(HEADER_READ_TIMEOUT);
    let served = tokio::spawn(server.serve(app.into_make_service()));
    let bound = handle.listening().await.ok_or_else(|| ServerError::Bind {
        addr: addr.to_string(),
        source: std::io::Error::other("the listener did not start (address in use?)"),
    })?;
    info!("listening on https://{bound}");
    Ok((Running { addr: bound, handle, backend, scheduler, purger, _lock: lock }, served))
}
