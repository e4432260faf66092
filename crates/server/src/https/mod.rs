//! The HTTPS JSON API. Handlers parse the request, call the identity layer (which identifies
//! the caller from its bearer token inside the transaction that does the work) and render the
//! answer. Every piece of database or hashing work runs on the blocking pool, never on the
//! async workers that serve connections.

pub mod auth;
mod credential;
mod entries;
mod idm;
mod oauth2_admin;
mod openapi;
mod raw;
mod scim;
mod system;
mod ui;

use crate::config::ServerConfig;
use crate::lock::{DbLock, lock_db};
use crate::offline::AdminError;
use crate::online_backup::OnlineBackups;
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use idm_core::builtins::UUID_DOMAIN_INFO;
use idm_core::identity::Identity;
use idm_core::proto::{KANIDM_PROTOCOL_VERSION, OperationError};
use idm_core::server::{QueryServer, QueryServerReadTransaction, QueryServerTransaction, QueryServerWriteTransaction};
use idm_identity::IdmServer;
use idm_sqlite::SqliteBackend;
use openapi::ApiRouter;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;
use tracing::{info, warn};

/// Largest request body accepted from an authenticated caller.
pub const MAX_REQUEST_BYTES: usize = 16 * 1024 * 1024;
/// Largest request body accepted before authentication (logins, token redemption).
pub const MAX_UNAUTHENTICATED_BYTES: usize = 8 * 1024;
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
    idm: Arc<IdmServer>,
    backups: Option<Arc<OnlineBackups>>,
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
fn json_body_within<T>(body: Result<Json<T>, JsonRejection>, limit: usize) -> Result<T, ApiError> {
    body.map(|Json(t)| t).map_err(|e| {
        ApiError(if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            OperationError::ResourceLimit(format!("the request body is larger than the limit of {limit} bytes"))
        } else {
            OperationError::InvalidRequest(e.body_text())
        })
    })
}

fn json_body<T>(body: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    json_body_within(body, MAX_REQUEST_BYTES)
}

/// Runs blocking work (the database, hashing) off the async workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, OperationError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError(OperationError::InvalidState(format!("request task failed: {e}"))))?
        .map_err(ApiError)
}

/// The bearer token of a request. Only its presence is checked here; the identity layer
/// decides whether it is any good.
fn bearer(headers: &HeaderMap) -> Result<String, ApiError> {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .ok_or(ApiError(OperationError::NotAuthenticated))
}

/// The value of the cookie `name`, if the request carries it.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| {
            let (n, value) = c.trim().split_once('=')?;
            (n == name).then_some(value.trim())
        })
}

type Txn<'a, T> = &'a mut T;

impl AppState {
    /// Runs `f` in a read transaction as the request's caller.
    async fn read<T: Send + 'static>(
        &self,
        headers: &HeaderMap,
        f: impl FnOnce(Txn<'_, QueryServerReadTransaction<'_>>, &Identity) -> Result<T, OperationError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let token = bearer(headers)?;
        let idm = self.idm.clone();
        blocking(move || idm.read_as(&token, f)).await
    }

    /// Runs `f` in the write transaction as the request's caller, committing on success.
    async fn write<T: Send + 'static>(
        &self,
        headers: &HeaderMap,
        f: impl FnOnce(Txn<'_, QueryServerWriteTransaction<'_>>, &Identity) -> Result<T, OperationError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let token = bearer(headers)?;
        let idm = self.idm.clone();
        blocking(move || idm.write_as(&token, f)).await
    }

    /// Calls the identity layer with the request's bearer token.
    async fn with_token<T: Send + 'static>(
        &self,
        headers: &HeaderMap,
        f: impl FnOnce(&IdmServer, &str) -> Result<T, OperationError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let token = bearer(headers)?;
        let idm = self.idm.clone();
        blocking(move || f(&idm, &token)).await
    }
}

/// Refuses a request to an authenticated route before its body is read, unless it carries a
/// correctly signed bearer token: nobody unauthenticated gets a 16 MiB body parsed. (The full
/// check of account and session runs inside the operation.)
async fn signed_bearer(
    State(state): State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let checked = match bearer(req.headers()) {
        Ok(token) if state.idm.signature_known(&token) => Ok(()),
        Ok(token) => {
            let idm = state.idm.clone();
            blocking(move || idm.check_signature(&token)).await
        }
        Err(e) => Err(e),
    };
    match checked {
        Ok(()) => next.run(req).await,
        Err(e) => {
            // A small body is read (as much as anyone may send unauthenticated), so the client
            // finishes sending and reads the refusal rather than a broken pipe. A larger one is
            // not: the connection then says it closes, as it cannot carry another request.
            let small = req
                .headers()
                .get(axum::http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<usize>().ok())
                .is_some_and(|n| n <= MAX_UNAUTHENTICATED_BYTES);
            let mut resp = e.into_response();
            // Within a few seconds: a client trickling its body is not waited for.
            let drained = small
                && tokio::time::timeout(
                    Duration::from_secs(2),
                    axum::body::to_bytes(req.into_body(), MAX_UNAUTHENTICATED_BYTES),
                )
                .await
                .is_ok_and(|r| r.is_ok());
            if !drained {
                resp.headers_mut().insert(axum::http::header::CONNECTION, HeaderValue::from_static("close"));
            }
            resp
        }
    }
}

/// Every response carries `X-KANIDM-OPID` (a fresh id, also on the request's log lines, to
/// find a failed request in the log) and `X-KANIDM-VERSION` (the Kanidm protocol version).
async fn kanidm_headers(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    use tracing::Instrument;
    let opid = uuid::Uuid::new_v4();
    let span = tracing::info_span!("request", %opid, method = %req.method(), path = %req.uri().path());
    let mut resp = next.run(req).instrument(span).await;
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&opid.to_string()) {
        h.insert("x-kanidm-opid", v);
    }
    h.insert("x-kanidm-version", HeaderValue::from_static(idm_core::proto::KANIDM_PROTOCOL_VERSION));
    resp
}

/// Unknown routes: 404 with Kanidm's text.
async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "Route not found").into_response()
}

/// `GET /v1/jwk/{kid}`: a session signing key's public half, for clients that verify tokens.
async fn jwk(
    State(state): State<AppState>,
    axum::extract::Path(kid): axum::extract::Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let idm = state.idm.clone();
    blocking(move || idm.public_jwk(&kid)).await.map(Json)
}

/// `GET /status`: `true` once the database answers.
async fn status(State(state): State<AppState>) -> Result<Json<bool>, ApiError> {
    let qs = state.idm.qs().clone();
    blocking(move || {
        let mut r = qs.read()?;
        r.entry_by_uuid(UUID_DOMAIN_INFO)?
            .map(|_| true)
            .ok_or_else(|| OperationError::InvalidState("the database has no domain entry".into()))
    })
    .await
    .map(Json)
}

fn router(state: AppState) -> Router {
    let signed = state.clone();
    let authenticated = ApiRouter::new()
        .merge(raw::routes())
        .merge(scim::routes())
        .merge(system::routes())
        .nest("/v1", idm::routes())
        .nest("/v1/oauth2", oauth2_admin::routes())
        .authenticated(|r| r.route_layer(axum::middleware::from_fn_with_state(signed, signed_bearer)));
    let api = ApiRouter::new()
        .route("/status", openapi::get("true once the database answers.", status))
        .route("/v1/jwk/{kid}", openapi::get("A session signing key's public JWK.", jwk))
        .merge(auth::routes())
        .merge(credential::routes())
        .merge(authenticated);
    // The document lists the routes just registered, and itself.
    let mut ops = api.operations().to_vec();
    ops.push(openapi::Operation {
        path: OPENAPI_PATH.into(),
        method: axum::http::Method::GET,
        summary: "This document.",
        authenticated: false,
    });
    let doc = Arc::new(openapi::document(&ops, KANIDM_PROTOCOL_VERSION));
    api.into_router()
        .route(OPENAPI_PATH, get(move || async move { Json(doc.as_ref().clone()) }))
        .merge(ui::routes())
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BYTES))
        .layer(axum::middleware::from_fn(ui::security_headers))
        .layer(axum::middleware::from_fn(kanidm_headers))
        .with_state(state)
}

/// Where the OpenAPI document of the API is served (as Kanidm serves its own).
const OPENAPI_PATH: &str = "/docs/v1/openapi.json";

/// Every ten minutes: turns old recycle-bin entries into tombstones, purges old tombstones,
/// and removes retired signing keys that nothing can still use.
async fn housekeeping(idm: Arc<IdmServer>) {
    let mut every = tokio::time::interval(Duration::from_secs(600));
    loop {
        every.tick().await;
        let idm = idm.clone();
        let done = tokio::task::spawn_blocking(move || -> Result<(), OperationError> {
            let mut w = idm.qs().write()?;
            w.purge_recycle_bin(idm_core::server::RECYCLE_BIN_RETENTION, idm_core::server::TOMBSTONE_RETENTION)?;
            w.commit()?;
            idm.purge_expired().map(drop)
        })
        .await;
        if let Ok(Err(e)) = done {
            warn!("housekeeping failed: {e}");
        }
    }
}

/// A running server: its address, and the means to stop it.
pub struct Running {
    pub addr: SocketAddr,
    handle: axum_server::Handle<SocketAddr>,
    scheduler: Option<tokio::task::JoinHandle<()>>,
    housekeeper: tokio::task::JoinHandle<()>,
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
        self.housekeeper.abort();
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
    crate::files::warn_if_exposed(config);
    let lock = lock_db(config.db_path()).map_err(AdminError::from)?;
    let backend = Arc::new(
        SqliteBackend::open(config.db_path(), config.sqlite())
            .map_err(|source| AdminError::Storage { path: config.db_path().to_path_buf(), source })?,
    );
    let qs = QueryServer::new(backend.clone()).map_err(AdminError::from)?;
    qs.initialise(&domain).map_err(AdminError::from)?;
    let qs = Arc::new(qs);
    // Passkeys are for the domain, at the origin people's browsers use (the domain itself
    // when no origin is configured).
    let origin = config.origin.clone().unwrap_or_else(|| format!("https://{domain}"));
    let idm = IdmServer::new(qs.clone(), idm::password_params()).and_then(|i| i.with_origin(&origin));
    let idm = Arc::new(idm.map_err(AdminError::from)?);
    let backups = OnlineBackups::from_config(config).map_err(ServerError::Runtime)?.map(Arc::new);
    let scheduler = backups.as_ref().map(|b| {
        info!("{}", b.describe());
        tokio::spawn(b.clone().run_schedule(qs.clone()))
    });
    let housekeeper = tokio::spawn(housekeeping(idm.clone()));
    let state = AppState { idm, backups };
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
    let served = tokio::spawn(server.serve(app.into_make_service_with_connect_info::<SocketAddr>()));
    let bound = handle.listening().await.ok_or_else(|| ServerError::Bind {
        addr: addr.to_string(),
        source: std::io::Error::other("the listener did not start (address in use?)"),
    })?;
    info!("listening on https://{bound}");
    Ok((Running { addr: bound, handle, backend, scheduler, housekeeper, _lock: lock }, served))
}
