//! The web UI under `/ui/`: sign-in and re-authentication, the reset link and the credential
//! editor, the profile page and sign-out. Server-rendered HTML whose forms work without
//! JavaScript; only the WebAuthn ceremony needs a script (`static/webauthn.js`).
//!
//! Like the JSON API it parses, calls the identity layer and renders: the login state machine,
//! credential update sessions and the profile are the identity layer's. What this module owns
//! is the browser's side of security: cookies (`__Host-` names, so no subdomain can plant
//! them; `Secure` and `HttpOnly`; the session `SameSite=Lax`, the rest `Strict`), a CSRF token
//! on every form (double-submit, compared in constant time; a submission the browser marks as
//! cross-site is refused outright), return paths that cannot leave the server
//! ([`next::checked`]), and the headers every response carries ([`security_headers`]).

mod browser;
mod credentials;
mod layout;
mod login;
mod next;
mod profile;
mod qr;

use super::AppState;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

/// Every response of the listener: pages are never cached or framed, load nothing from
/// elsewhere and run no inline script; browsers keep to HTTPS.
pub(super) async fn security_headers(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    let set = |h: &mut axum::http::HeaderMap, name: header::HeaderName, value: &'static str| {
        if !h.contains_key(&name) {
            h.insert(name, HeaderValue::from_static(value));
        }
    };
    set(
        h,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; \
         form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
    // Not `includeSubDomains`: other hosts under the domain are not this server's to decide.
    set(h, header::STRICT_TRANSPORT_SECURITY, "max-age=31536000");
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(h, header::REFERRER_POLICY, "no-referrer");
    set(h, header::X_FRAME_OPTIONS, "DENY");
    set(h, header::CACHE_CONTROL, "no-store");
    set(h, header::HeaderName::from_static("cross-origin-opener-policy"), "same-origin");
    resp
}

/// The stylesheet and the WebAuthn script, from the binary.
async fn asset(axum::extract::Path(name): axum::extract::Path<String>) -> Response {
    let (body, kind) = match name.as_str() {
        "style.css" => (include_str!("static/style.css"), "text/css; charset=utf-8"),
        "webauthn.js" => (include_str!("static/webauthn.js"), "text/javascript; charset=utf-8"),
        _ => return super::not_found().await,
    };
    ([(header::CONTENT_TYPE, kind), (header::CACHE_CONTROL, "public, max-age=3600")], body).into_response()
}

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/ui", get(|| async { Redirect::to("/ui/profile") }))
        .route("/ui/", get(|| async { Redirect::to("/ui/profile") }))
        .route("/ui/static/{name}", get(asset))
        .route("/ui/login", get(login::start_page).post(login::named))
        .route("/ui/login/choose", post(login::chose))
        .route("/ui/login/step", post(login::step))
        .route("/ui/reauth", post(login::reauth))
        .route("/ui/logout", post(profile::logout))
        .route("/ui/profile", get(profile::page))
        .route("/ui/profile/revoke", post(profile::revoke))
        .route("/ui/reset", get(credentials::reset_page).post(credentials::redeem))
        .route("/ui/credentials", get(credentials::editor))
        .route("/ui/credentials/begin", post(credentials::begin))
        .route("/ui/credentials/update", post(credentials::update))
        .route("/ui/credentials/commit", post(credentials::commit))
        .route("/ui/credentials/cancel", post(credentials::cancel))
        // Most forms are posted before anyone is signed in: the API's limit for those.
        .layer(DefaultBodyLimit::max(super::MAX_UNAUTHENTICATED_BYTES))
}

/// Runs `f` on the identity layer, off the async workers.
async fn call<T: Send + 'static>(
    s: &AppState,
    f: impl FnOnce(&idm_identity::IdmServer) -> Result<T, idm_core::proto::OperationError> + Send + 'static,
) -> Result<T, idm_core::proto::OperationError> {
    let idm = s.idm.clone();
    super::blocking(move || f(&idm)).await.map_err(|e| e.0)
}
