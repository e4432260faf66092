//! The browser a request comes from, as the UI sees it: its cookies, its CSRF token, the
//! address it connects from; and [`Reply`], what a handler answers with (a page or a
//! redirect, plus the cookies to set or clear).

use super::layout;
use crate::https::{AppState, cookie};
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use idm_core::proto::OperationError;
use maud::Markup;
use std::net::{IpAddr, SocketAddr};
use tracing::warn;
use uuid::Uuid;

/// The signed-in session: the session token itself, checked by the identity layer on every
/// request. `Lax`, so a link from elsewhere to a page here arrives signed in.
pub const SESSION: &str = "__Host-idm-session";
/// The login in progress.
pub const AUTH: &str = "__Host-idm-auth";
/// The credential update session in progress.
pub const CU: &str = "__Host-idm-cu";
/// The CSRF token every form repeats. `Lax`, so arriving by a link from elsewhere does not
/// replace it (which would break the forms of open tabs): it protects by being secret, and
/// forms a browser says another site sent are refused anyway.
pub const CSRF: &str = "__Host-idm-csrf";
/// How long a login in progress is remembered by the browser (the server forgets it sooner).
const AUTH_COOKIE_SECONDS: i64 = 600;

/// A `Set-Cookie` value for a cookie only this origin gets, over HTTPS, never seen by scripts.
pub fn set_cookie(name: &str, value: &str, same_site: &str, max_age: Option<i64>) -> String {
    let age = max_age.map(|s| format!("; Max-Age={s}")).unwrap_or_default();
    format!("{name}={value}; Path=/; Secure; HttpOnly; SameSite={same_site}{age}")
}

pub fn clear_cookie(name: &str) -> String {
    set_cookie(name, "", "Strict", Some(0))
}

pub fn session_cookie(token: &str) -> String {
    set_cookie(SESSION, token, "Lax", None)
}

/// The login in progress and the name it was started for (shown on its pages: the cookie,
/// not a form field, says whose login a tab continues).
pub fn auth_cookie(id: Uuid, name: &str) -> String {
    let value = format!("{id}.{}", hex(name.as_bytes()));
    set_cookie(AUTH, &value, "Strict", Some(AUTH_COOKIE_SECONDS))
}

/// Gone when the browser closes, like the session it may have been opened from.
pub fn cu_cookie(token: &str) -> String {
    set_cookie(CU, token, "Strict", None)
}

/// A new CSRF token: on every change of who is signed in.
pub fn fresh_csrf_cookie() -> String {
    set_cookie(CSRF, &Uuid::new_v4().simple().to_string(), "Lax", None)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Option<String> {
    let bytes = (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect::<Option<Vec<u8>>>()?;
    String::from_utf8(bytes).ok()
}

/// The login in progress a cookie names: its id, and the account name it was started for.
fn parse_auth(v: &str) -> Option<(Uuid, String)> {
    let (id, name) = v.split_once('.').unwrap_or((v, ""));
    Some((Uuid::parse_str(id).ok()?, unhex(name)?))
}

/// Compares without stopping at the first difference, so the time taken says nothing about
/// how much of a guess was right.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A cookie value as this server writes them: short and plain (anything else is ignored).
fn plain(v: &str, max: usize) -> Option<&str> {
    (!v.is_empty() && v.len() <= max && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)))
        .then_some(v)
}

pub struct Browser {
    /// The token forms must repeat: the browser's, or a new one set with this answer.
    pub csrf: String,
    fresh_csrf: bool,
    pub session: Option<String>,
    /// The login in progress, and the name it is for (empty for a re-authentication).
    pub auth: Option<(Uuid, String)>,
    pub cu: Option<String>,
    pub client: IpAddr,
    /// The browser says the request was not started by a page of this server
    /// (`Sec-Fetch-Site` other than `same-origin`, or `none` for what the person typed).
    cross_site: bool,
}

impl FromRequestParts<AppState> for Browser {
    type Rejection = (StatusCode, &'static str);

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, Self::Rejection> {
        let h = &parts.headers;
        let existing = cookie(h, CSRF).and_then(|v| plain(v, 64)).filter(|v| v.len() >= 32).map(str::to_string);
        let fresh_csrf = existing.is_none();
        let csrf = existing.unwrap_or_else(|| Uuid::new_v4().simple().to_string());
        // Every connection has its address (the soft-lock counts per network).
        let client = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
            .ok_or((StatusCode::INTERNAL_SERVER_ERROR, "the client's address is unknown"))?;
        let cross_site = h.get("sec-fetch-site").is_some_and(|v| !matches!(v.as_bytes(), b"same-origin" | b"none"));
        Ok(Browser {
            csrf,
            fresh_csrf,
            session: cookie(h, SESSION).and_then(|v| plain(v, 4096)).map(str::to_string),
            auth: cookie(h, AUTH).and_then(|v| plain(v, 1200)).and_then(parse_auth),
            cu: cookie(h, CU).and_then(|v| plain(v, 1024)).map(str::to_string),
            client,
            cross_site,
        })
    }
}

impl Browser {
    /// Refuses a form that does not carry this browser's CSRF token, or that another site
    /// made the browser send.
    pub fn check_form(&self, sent: &str) -> Result<(), Reply> {
        if self.cross_site || self.fresh_csrf || !same(sent, &self.csrf) {
            return Err(self.forged());
        }
        Ok(())
    }

    fn forged(&self) -> Reply {
        warn!(client = %self.client, cross_site = self.cross_site, "form refused: CSRF check failed");
        self.page(
            StatusCode::FORBIDDEN,
            "Form refused",
            layout::problem(
                "This form was not sent from a page of this server, or the page is too old. \
                 Go back, reload the page and try again.",
            ),
        )
    }

    /// A whole page.
    pub fn page(&self, status: StatusCode, title: &str, body: Markup) -> Reply {
        let html = layout::page(title, self.session.is_some(), &self.csrf, body);
        self.reply(status, Kind::Html(html.into_string()))
    }

    /// `303 See Other` to a path of this server.
    pub fn redirect(&self, to: &str) -> Reply {
        self.reply(StatusCode::SEE_OTHER, Kind::Redirect(to.to_string()))
    }

    fn reply(&self, status: StatusCode, kind: Kind) -> Reply {
        let mut cookies = Vec::new();
        if self.fresh_csrf {
            cookies.push(set_cookie(CSRF, &self.csrf, "Lax", None));
        }
        Reply { status, kind, cookies }
    }

    /// The page for an error the identity layer gave ([`words`]). An ended session sends the
    /// browser to sign in again, then back to `here`.
    pub fn failed(&self, e: OperationError, here: &str) -> Reply {
        use OperationError::*;
        if matches!(e, NotAuthenticated | SessionExpired) {
            return self.redirect(&super::next::login_then(here)).clear(SESSION);
        }
        let msg = words(&e);
        let status = match e {
            AccessDenied | AccessDeniedReason(_) => StatusCode::FORBIDDEN,
            NoMatchingEntries => StatusCode::NOT_FOUND,
            InvalidRequest(_) | ResourceLimit(_) => StatusCode::BAD_REQUEST,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        self.page(status, "Problem", layout::problem(&msg))
    }
}

/// An error of the identity layer in words for the person at the browser: its own message
/// where it is meant for people, a general one (and a log line) where it is not.
pub fn words(e: &OperationError) -> String {
    use OperationError::*;
    match e {
        InvalidRequest(m) | AccessDeniedReason(m) | ResourceLimit(m) => m.clone(),
        AccessDenied => "You are not allowed to do that.".into(),
        NoMatchingEntries => "There is nothing by that name here.".into(),
        NotAuthenticated | SessionExpired => "Your session has ended; sign in again.".into(),
        _ => {
            warn!("page failed: {e}");
            "Something went wrong on the server; try again, or ask an administrator to look at its log.".into()
        }
    }
}

/// A form with nothing but its CSRF token (a button).
#[derive(serde::Deserialize)]
pub struct NoFields {}

/// A form posted from one of this browser's pages: the browser, and the form's fields. The
/// CSRF token is checked before any other field is read, so a forged form is refused as
/// forged whatever else it holds; a form that is not the page's (a field missing or
/// malformed, not `application/x-www-form-urlencoded`) is refused naming the problem.
pub struct Checked<T>(pub Browser, pub T);

impl<T: serde::de::DeserializeOwned> FromRequest<AppState> for Checked<T> {
    type Rejection = Response;

    async fn from_request(req: axum::extract::Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let b = Browser::from_request_parts(&mut parts, state).await.map_err(IntoResponse::into_response)?;
        // A form no page of this browser's sent is refused before its body is read.
        if b.cross_site || b.fresh_csrf {
            return Err(b.forged().into_response());
        }
        let is_form = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        let req = axum::extract::Request::from_parts(parts, body);
        // Too large is 413, naming the limit.
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| b.page(e.status(), "Problem", layout::problem(&e.body_text())).into_response())?;
        let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes).unwrap_or_default();
        let sent = fields.iter().find(|(k, _)| k == "csrf").map(|(_, v)| v.as_str()).unwrap_or_default();
        b.check_form(sent).map_err(IntoResponse::into_response)?;
        let parsed = if is_form {
            serde_urlencoded::from_bytes::<T>(&bytes).map_err(|e| e.to_string())
        } else {
            Err("it is not sent as application/x-www-form-urlencoded".to_string())
        };
        match parsed {
            Ok(form) => Ok(Checked(b, form)),
            Err(why) => Err({
                b.page(
                    StatusCode::BAD_REQUEST,
                    "Problem",
                    layout::problem(&format!("The form could not be read: {why}.")),
                )
                .into_response()
            }),
        }
    }
}

enum Kind {
    Html(String),
    Redirect(String),
}

/// What a handler answers: a page or a redirect, with cookies.
pub struct Reply {
    status: StatusCode,
    kind: Kind,
    cookies: Vec<String>,
}

impl Reply {
    pub fn set(mut self, cookie: String) -> Reply {
        self.cookies.push(cookie);
        self
    }

    pub fn status(mut self, status: StatusCode) -> Reply {
        self.status = status;
        self
    }

    pub fn clear(self, name: &str) -> Reply {
        self.set(clear_cookie(name))
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let mut resp = match self.kind {
            Kind::Html(body) => {
                (self.status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response()
            }
            Kind::Redirect(to) => {
                let mut r = self.status.into_response();
                if let Ok(v) = HeaderValue::from_str(&to) {
                    r.headers_mut().insert(header::LOCATION, v);
                }
                r
            }
        };
        for c in self.cookies {
            if let Ok(v) = HeaderValue::from_str(&c) {
                resp.headers_mut().append(header::SET_COOKIE, v);
            }
        }
        resp
    }
}

/// A handler's result: either way, something to show.
pub type Answer = Result<Reply, Reply>;

/// Either side of an [`Answer`] is the response.
pub fn answer(a: Answer) -> Response {
    match a {
        Ok(r) | Err(r) => r.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparisons_and_cookie_values() {
        assert!(same("abc", "abc"));
        assert!(!same("abc", "abd") && !same("abc", "ab") && !same("", "a"));
        assert_eq!(plain("a-b_c.d", 16), Some("a-b_c.d"));
        assert_eq!(plain("a;b", 16), None);
        assert_eq!(plain("", 16), None);
        assert_eq!(plain("aaaa", 3), None);
        let c = session_cookie("t");
        assert!(c.contains("HttpOnly") && c.contains("Secure") && c.contains("SameSite=Lax") && c.contains("Path=/"));
        let a = auth_cookie(Uuid::nil(), "ann; x");
        assert!(a.contains("SameSite=Strict"), "{a}");
        let value = a.split(';').next().and_then(|c| c.split_once('=')).map(|(_, v)| v).unwrap_or_default();
        assert_eq!(plain(value, 1200).and_then(parse_auth), Some((Uuid::nil(), "ann; x".to_string())));
        assert_eq!(parse_auth(&Uuid::nil().to_string()), Some((Uuid::nil(), String::new())));
        assert_eq!(parse_auth("nope.00"), None);
        assert!(clear_cookie(CU).contains("Max-Age=0"));
    }
}
