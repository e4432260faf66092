//! Signing in (name → the mechanisms the account is offered → each credential in turn) and
//! re-authenticating a session for a privilege window. Each step is one call of the identity
//! layer's login state machine; the page shows what it asks for next. The login in progress
//! is named by the `__Host-idm-auth` cookie (with the name it is for, which its pages show);
//! the session it yields goes into the session cookie. As in Kanidm, a web session starts
//! read-only: changes need "confirm it's you" (a re-authentication) first.

use super::browser::{
    AUTH, Answer, Browser, Checked, Reply, answer, auth_cookie, fresh_csrf_cookie, session_cookie, words,
};
use super::layout::{csrf_field, error, notice};
use super::{call, next};
use crate::https::AppState;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use idm_core::proto::{AuthAllowed, AuthCred, AuthInit2, AuthIssueSession, AuthState, AuthStep, OperationError};
use maud::{Markup, html};
use serde::Deserialize;
use uuid::Uuid;

/// Longest account name the form takes.
const MAX_NAME: usize = 256;

#[derive(Deserialize)]
pub struct StartQuery {
    next: Option<String>,
    notice: Option<String>,
}

/// The messages a redirect may ask the sign-in page to show: fixed texts chosen by a short
/// code, so no link can make the page say something of its own.
fn notice_text(code: Option<&str>) -> Option<&'static str> {
    match code? {
        "signed-out" => Some("You are signed out."),
        "saved" => Some("Your credentials are saved. Sign in with them."),
        "ended" => Some("Your session has ended. Sign in again."),
        _ => None,
    }
}

/// What a mechanism is called on the page.
fn mech_label(m: &str) -> &str {
    match m {
        "passkey" => "Passkey",
        "passwordmfa" => "Password and authenticator app",
        "passwordbackupcode" => "Password and backup code",
        "password" => "Password",
        "anonymous" => "Anonymous",
        other => other,
    }
}

/// The first page: the account's name.
fn name_page(b: &Browser, next: &str, name: &str, err: Option<&str>, note: Option<&str>) -> Reply {
    let status = if err.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    b.page(
        status,
        "Sign in",
        html! {
            section.card {
                h1 { "Sign in" }
                (notice(note))
                (error(err))
                form method="post" action="/ui/login" {
                    (csrf_field(&b.csrf))
                    input type="hidden" name="next" value=(next);
                    label for="username" { "Account name" }
                    input #username type="text" name="username" value=(name) autocomplete="username"
                        autocapitalize="none" spellcheck="false" required autofocus maxlength=(MAX_NAME);
                    button type="submit" { "Continue" }
                }
            }
        },
    )
}

pub async fn start_page(
    State(s): State<AppState>,
    b: Browser,
    q: Result<Query<StartQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let (next, code) = q.ok().map(|Query(q)| (q.next, q.notice)).unwrap_or_default();
    let next = next::or_default(next.as_deref());
    // Already signed in: straight on.
    if let Some(token) = b.session.clone()
        && call(&s, move |idm| idm.read_as(&token, |_, _| Ok(()))).await.is_ok()
    {
        return answer(Ok(b.redirect(&next)));
    }
    answer(Ok(name_page(&b, &next, "", None, notice_text(code.as_deref()))))
}

#[derive(Deserialize)]
pub struct NameForm {
    username: String,
    #[serde(default)]
    next: String,
}

pub async fn named(State(s): State<AppState>, Checked(b, f): Checked<NameForm>) -> Response {
    answer(named_answer(&s, &b, f).await)
}

async fn named_answer(s: &AppState, b: &Browser, f: NameForm) -> Answer {
    let next = next::or_default(Some(&f.next));
    let name = f.username.trim().to_string();
    if name.is_empty() || name.len() > MAX_NAME {
        return Err(name_page(b, &next, "", Some("Enter your account name."), None));
    }
    let init = AuthInit2 { username: name.clone(), issue: AuthIssueSession::Token, privileged: false };
    let client = b.client;
    let done = call(s, move |idm| idm.auth_step(AuthStep::Init2(init), None, Some(client))).await;
    match done {
        Ok((id, AuthState::Choose(mechs))) if mechs.len() == 1 => begin(s, b, id, &mechs[0], &next, &name).await,
        Ok((id, AuthState::Choose(mechs))) => Ok(choose_page(b, id, &mechs, &next, &name)),
        Ok((_, AuthState::Denied(why))) => Err(name_page(b, &next, &name, Some(&why), None)),
        Ok((_, other)) => Err(unexpected(b, &next, &name, &other)),
        Err(OperationError::NoMatchingEntries) => {
            Err(name_page(b, &next, &name, Some(&format!("There is no account called '{name}'.")), None))
        }
        Err(e) => Err(name_page(b, &next, &name, Some(&words(&e)), None)),
    }
}

/// The mechanisms the account may sign in with, one button each.
fn choose_page(b: &Browser, id: Uuid, mechs: &[String], next: &str, name: &str) -> Reply {
    b.page(
        StatusCode::OK,
        "Sign in",
        html! {
            section.card {
                h1 { "Sign in as " (name) }
                p { "Choose how to sign in:" }
                form.stack method="post" action="/ui/login/choose" {
                    (csrf_field(&b.csrf))
                    input type="hidden" name="next" value=(next);
                    @for m in mechs {
                        button type="submit" name="mech" value=(m) { (mech_label(m)) }
                    }
                }
                p.small { a href="/ui/login" { "Not you? Use another account" } }
            }
        },
    )
    .set(auth_cookie(id, name))
}

#[derive(Deserialize)]
pub struct ChooseForm {
    mech: String,
    #[serde(default)]
    next: String,
}

pub async fn chose(State(s): State<AppState>, Checked(b, f): Checked<ChooseForm>) -> Response {
    answer(
        async {
            let next = next::or_default(Some(&f.next));
            let (id, name) = b.auth.clone().ok_or_else(|| ended(&b, &next))?;
            begin(&s, &b, id, &f.mech, &next, &name).await
        }
        .await,
    )
}

/// Begins the mechanism `mech` and shows what it asks for first.
async fn begin(s: &AppState, b: &Browser, id: Uuid, mech: &str, next: &str, name: &str) -> Answer {
    let (m, client) = (mech.to_string(), b.client);
    let done = call(s, move |idm| idm.auth_step(AuthStep::Begin(m), Some(id), Some(client))).await;
    match done {
        Ok((id, AuthState::Continue(allowed))) => Ok(step_page(b, id, &allowed, next, name, None)),
        Ok((_, AuthState::Denied(why))) => Err(name_page(b, next, name, Some(&why), None).clear(AUTH)),
        Ok((_, other)) => Err(unexpected(b, next, name, &other)),
        Err(e) => Err(name_page(b, next, name, Some(&words(&e)), None).clear(AUTH)),
    }
}

/// The page asking for the credential the login wants next. `name` is empty when a signed-in
/// session re-authenticates.
fn step_page(b: &Browser, id: Uuid, allowed: &[AuthAllowed], next: &str, name: &str, err: Option<&str>) -> Reply {
    let heading = if name.is_empty() { "Confirm it's you".to_string() } else { format!("Sign in as {name}") };
    let body = html! {
        section.card {
            h1 { (heading) }
            (error(err))
            form method="post" action="/ui/login/step" #step-form {
                (csrf_field(&b.csrf))
                input type="hidden" name="next" value=(next);
                @match allowed.first() {
                    Some(AuthAllowed::Password) => {
                        label for="password" { "Password" }
                        input #password type="password" name="password" autocomplete="current-password" required autofocus;
                        button type="submit" { "Sign in" }
                    }
                    Some(AuthAllowed::Totp) => {
                        label for="totp" { "Code from your authenticator app" }
                        input #totp type="text" name="totp" inputmode="numeric" autocomplete="one-time-code"
                            pattern="[0-9]{6}" maxlength="6" required autofocus;
                        button type="submit" { "Continue" }
                    }
                    Some(AuthAllowed::BackupCode) => {
                        label for="backup_code" { "One of your backup codes" }
                        input #backup_code type="text" name="backup_code" autocomplete="off" autocapitalize="none"
                            spellcheck="false" required autofocus;
                        button type="submit" { "Continue" }
                    }
                    Some(AuthAllowed::Passkey(options)) => {
                        (passkey_prompt("get", options, "Use your passkey"))
                    }
                    Some(AuthAllowed::Anonymous) => {
                        input type="hidden" name="anonymous" value="1";
                        button type="submit" { "Continue anonymously" }
                    }
                    None => { p { "Nothing more is needed." } }
                }
            }
            p.small { a href="/ui/login" { "Start again" } }
        }
    };
    b.page(if err.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK }, "Sign in", body)
        .set(auth_cookie(id, name))
}

/// The WebAuthn ceremony `ceremony` ("get" or "create") with the server's `options`: the
/// script asks the browser's authenticator and sends its answer in the form's `credential`
/// field. Without JavaScript there is no way to use a passkey, and the page says so.
pub fn passkey_prompt(ceremony: &str, options: &serde_json::Value, button: &str) -> Markup {
    html! {
        div #webauthn data-ceremony=(ceremony) data-options=(options.to_string()) {
            input type="hidden" name="credential" #credential;
            p #webauthn-status .small role="status" aria-live="polite" {}
            button #webauthn-start type="button" { (button) }
            noscript { p.error { "Passkeys need JavaScript, which this browser has turned off for this page." } }
        }
        script src="/ui/static/webauthn.js" defer {}
    }
}

#[derive(Deserialize)]
pub struct StepForm {
    #[serde(default)]
    next: String,
    password: Option<String>,
    totp: Option<String>,
    backup_code: Option<String>,
    credential: Option<String>,
    anonymous: Option<String>,
}

pub async fn step(State(s): State<AppState>, Checked(b, f): Checked<StepForm>) -> Response {
    answer(
        async {
            let next = next::or_default(Some(&f.next));
            let (id, name) = b.auth.clone().ok_or_else(|| ended(&b, &next))?;
            let cred = if let Some(c) = f.credential.as_deref().filter(|c| !c.is_empty()) {
                let v = serde_json::from_str(c).map_err(|_| {
                    name_page(&b, &next, &name, Some("The passkey's answer could not be read; start again."), None)
                        .clear(AUTH)
                })?;
                AuthCred::Passkey(v)
            } else if let Some(code) = f.totp.as_deref() {
                match idm_identity::second_factor::parse_code(code) {
                    Some(n) => AuthCred::Totp(n),
                    // Not worth an attempt: the login is still waiting for a code.
                    _ => {
                        return Err(step_page(
                            &b,
                            id,
                            &[AuthAllowed::Totp],
                            &next,
                            &name,
                            Some("The code is the digits your authenticator app shows."),
                        ));
                    }
                }
            } else if let Some(code) = f.backup_code {
                AuthCred::BackupCode(code.trim().to_string())
            } else if let Some(pw) = f.password {
                AuthCred::Password(pw)
            } else if f.anonymous.is_some() {
                AuthCred::Anonymous
            } else {
                return Err(name_page(&b, &next, &name, Some("The form was empty; start again."), None).clear(AUTH));
            };
            let client = b.client;
            let done = call(&s, move |idm| idm.auth_step(AuthStep::Cred(cred), Some(id), Some(client))).await;
            match done {
                Ok((id, AuthState::Continue(allowed))) => Ok(step_page(&b, id, &allowed, &next, &name, None)),
                Ok((_, AuthState::Success(token))) => {
                    // The session this browser had before goes (unless this re-authenticated it).
                    if let Some(old) = b.session.clone() {
                        let new = token.clone();
                        if let Err(e) = call(&s, move |idm| idm.end_replaced_session(&old, &new)).await {
                            tracing::warn!("the session this sign-in replaced could not be ended: {e}");
                        }
                    }
                    Ok(b.redirect(&next).set(session_cookie(&token)).set(fresh_csrf_cookie()).clear(AUTH))
                }
                Ok((_, AuthState::Denied(why))) => Err(name_page(&b, &next, &name, Some(&why), None).clear(AUTH)),
                Ok((_, other)) => Err(unexpected(&b, &next, &name, &other)),
                Err(e) => Err(name_page(&b, &next, &name, Some(&words(&e)), None).clear(AUTH)),
            }
        }
        .await,
    )
}

#[derive(Deserialize)]
pub struct ReauthForm {
    #[serde(default)]
    next: String,
}

/// Starts re-authenticating the signed-in session; the steps continue as a login's.
pub async fn reauth(State(s): State<AppState>, Checked(b, f): Checked<ReauthForm>) -> Response {
    answer(
        async {
            let next = next::or_default(Some(&f.next));
            let token = b.session.clone().ok_or_else(|| b.redirect(&next::login_then(&next)))?;
            let client = b.client;
            match call(&s, move |idm| idm.reauth_begin(&token, Some(client))).await {
                Ok((id, AuthState::Continue(allowed))) => Ok(step_page(&b, id, &allowed, &next, "", None)),
                Ok((_, AuthState::Denied(why))) => Err(b.failed(OperationError::AccessDeniedReason(why), &next)),
                Ok((_, other)) => Err(unexpected(&b, &next, "", &other)),
                Err(e) => Err(b.failed(e, &next)),
            }
        }
        .await,
    )
}

/// A login that is no longer in progress (the cookie expired, or the browser lost it).
fn ended(b: &Browser, next: &str) -> Reply {
    name_page(b, next, "", Some("This sign-in has ended (it timed out or was finished elsewhere); start again."), None)
}

fn unexpected(b: &Browser, next: &str, name: &str, st: &AuthState) -> Reply {
    tracing::warn!("unexpected login state for the web UI: {st:?}");
    name_page(b, next, name, Some("The sign-in took an unexpected turn; start again."), None).clear(AUTH)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_are_fixed_texts() {
        assert_eq!(notice_text(Some("signed-out")), Some("You are signed out."));
        assert_eq!(notice_text(Some("<script>")), None);
        assert_eq!(notice_text(None), None);
    }
}
