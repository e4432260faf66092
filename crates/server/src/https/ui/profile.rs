//! The profile page (who you are, your groups, your sign-in methods, your sessions with
//! revoke) and signing out. Changes need a session in its privilege window: the page offers
//! "confirm it's you" (a re-authentication) when it is closed.

use super::browser::{AUTH, Answer, Browser, CU, Checked, NoFields, SESSION, answer, fresh_csrf_cookie};
use super::layout::{csrf_field, notice};
use super::{call, next};
use crate::https::AppState;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use idm_core::proto::OperationError;
use idm_core::proto::credupdate::{CUSessionToken, CredentialDetailType};
use idm_identity::profile::Profile;
use maud::{Markup, html};
use serde::Deserialize;
use time::OffsetDateTime;

const HERE: &str = "/ui/profile";

#[derive(Deserialize)]
pub struct ProfileQuery {
    notice: Option<String>,
}

fn notice_text(code: Option<&str>) -> Option<&'static str> {
    match code? {
        "revoked" => Some("The session is revoked: it can no longer be used."),
        "reauth" => Some("Changes need you to confirm it's you first."),
        "saved" => Some("Your sign-in methods are saved."),
        "cancelled" => Some("Nothing was changed."),
        _ => None,
    }
}

/// An RFC 3339 time as people read it: `2026-12-03 14:55 UTC`.
pub fn when(rfc3339: &str) -> String {
    match rfc3339.get(..16) {
        Some(t) if rfc3339.ends_with('Z') => format!("{} UTC", t.replace('T', " ")),
        _ => rfc3339.to_string(),
    }
}

fn at(t: OffsetDateTime) -> String {
    when(&idm_core::value::format_datetime(&t))
}

/// How a session was opened, in words.
fn mechanism(m: &str) -> &str {
    match m {
        "passkey" => "passkey",
        "passwordmfa" => "password and authenticator app",
        "passwordbackupcode" => "password and backup code",
        "password" => "password",
        "generatedpassword" => "recovery password",
        "apitoken" => "API token",
        other => other,
    }
}

pub async fn page(
    State(s): State<AppState>,
    b: Browser,
    q: Result<Query<ProfileQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let code = q.ok().and_then(|Query(q)| q.notice);
    let Some(token) = b.session.clone() else { return answer(Ok(b.redirect("/ui/login"))) };
    answer(match call(&s, move |idm| Ok((idm.profile(&token)?, idm.now()))).await {
        Ok((p, now)) => Ok(b.page(StatusCode::OK, "Profile", render(&b, &p, now, notice_text(code.as_deref())))),
        Err(e) => Err(b.failed(e, HERE)),
    })
}

fn render(b: &Browser, p: &Profile, now: OffsetDateTime, note: Option<&str>) -> Markup {
    let privileged = p.privileged_at(now);
    html! {
        (notice(note))
        section.card {
            h1 { (p.displayname) }
            dl.facts {
                dt { "Account name" } dd { (p.name) }
                dt { "Principal name" } dd { (p.spn) }
                @if !p.mail.is_empty() {
                    dt { "Email" }
                    dd { @for (i, m) in p.mail.iter().enumerate() { @if i > 0 { ", " } (m) } }
                }
                dt { "Groups" }
                dd {
                    @if p.groups.is_empty() { "none" }
                    @else { ul.tags { @for g in &p.groups { li { (g) } } } }
                }
            }
        }
        section.card {
            h2 { "Sign-in methods" }
            (methods(p))
            @if privileged {
                form method="post" action="/ui/credentials/begin" {
                    (csrf_field(&b.csrf))
                    button type="submit" { "Change sign-in methods" }
                }
                @if let Some(until) = p.privileged_until {
                    p.small { "You can make changes until " (at(until)) "." }
                }
            } @else {
                (confirm(b))
            }
        }
        section.card {
            h2 { "Sessions" }
            p.small { "Where you are signed in. Revoke any you do not recognise." }
            div.scroll {
                table.sessions {
                    thead { tr { th { "Signed in" } th { "Expires" } th { "With" } th { "From" } th { span.visually-hidden { "Action" } } } }
                    tbody {
                        @for s in &p.sessions {
                            tr {
                                td data-label="Signed in" { (when(&s.issued_at)) }
                                td data-label="Expires" { (s.expiry.as_deref().map(when).unwrap_or_else(|| "when revoked".into())) }
                                td data-label="With" { (mechanism(&s.mechanism)) }
                                td data-label="From" { (s.client.as_deref().unwrap_or("—")) }
                                td {
                                    @if s.session_id == p.current_session { strong { "this session" } }
                                    @else if privileged {
                                        form.inline method="post" action="/ui/profile/revoke" {
                                            (csrf_field(&b.csrf))
                                            input type="hidden" name="session" value=(s.session_id);
                                            button.danger type="submit" aria-label={"Revoke the session signed in " (when(&s.issued_at))} { "Revoke" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if !privileged && p.sessions.len() > 1 { p.small { "Confirm it's you (above) to revoke sessions." } }
        }
    }
}

/// The button that re-authenticates the session, to open its privilege window.
fn confirm(b: &Browser) -> Markup {
    html! {
        form method="post" action="/ui/reauth" {
            (csrf_field(&b.csrf))
            input type="hidden" name="next" value=(HERE);
            p.small { "To make changes, confirm it's you." }
            button type="submit" { "Confirm it's you" }
        }
    }
}

/// What the account signs in with, without any secret.
fn methods(p: &Profile) -> Markup {
    let c = &p.credentials;
    let (password, totps, codes) = match c.creds.first().map(|d| &d.type_) {
        Some(CredentialDetailType::Password) => ("set", Vec::new(), None),
        Some(CredentialDetailType::GeneratedPassword) => ("a recovery password", Vec::new(), None),
        Some(CredentialDetailType::PasswordMfa(t, _, n)) => ("set", t.clone(), Some(*n)),
        _ => ("none", Vec::new(), None),
    };
    html! {
        dl.facts {
            dt { "Password" } dd { (password) }
            dt { "Authenticator apps" }
            dd { @if totps.is_empty() { "none" } @else { (totps.join(", ")) } }
            @if let Some(n) = codes.filter(|n| *n > 0) { dt { "Backup codes" } dd { (n) " left" } }
            dt { "Passkeys" }
            dd {
                @if c.passkeys.is_empty() { "none" }
                @else {
                    ul.tags {
                        @for k in &c.passkeys {
                            li { (k.tag) @if k.stale { " (made for the server's old name: no longer works)" } }
                        }
                    }
                }
            }
        }
    }
}

#[derive(Deserialize)]
pub struct RevokeForm {
    session: String,
}

pub async fn revoke(State(s): State<AppState>, Checked(b, f): Checked<RevokeForm>) -> Response {
    answer(revoke_answer(&s, &b, f).await)
}

async fn revoke_answer(s: &AppState, b: &Browser, f: RevokeForm) -> Answer {
    let token = b.session.clone().ok_or_else(|| b.redirect(&next::login_then(HERE)))?;
    let which = uuid::Uuid::parse_str(f.session.trim())
        .map_err(|_| b.failed(OperationError::InvalidRequest("that is not a session id".into()), HERE))?;
    match call(s, move |idm| idm.revoke_own_session(&token, which)).await {
        Ok(_) => Ok(b.redirect("/ui/profile?notice=revoked")),
        Err(e) if e.is_read_only_session() => Ok(b.redirect("/ui/profile?notice=reauth")),
        Err(e) => Err(b.failed(e, HERE)),
    }
}

/// Ends the session on the server and in the browser. Every cookie of the UI goes (a login
/// or credential update in progress too: the next person at this browser gets nothing of
/// it), even when the server no longer knows the session, and the CSRF token is new.
pub async fn logout(State(s): State<AppState>, Checked(b, NoFields {}): Checked<NoFields>) -> Response {
    answer(
        async {
            if let Some(token) = b.session.clone()
                && let Err(e) = call(&s, move |idm| idm.logout(&token)).await
            {
                tracing::debug!("sign-out of an ended session: {e}");
            }
            // A credential update in progress ends too, on the server as in the browser.
            if let Some(token) = b.cu.clone()
                && let Err(e) = call(&s, move |idm| idm.cu_cancel(&CUSessionToken { token })).await
            {
                tracing::debug!("the credential update session had ended already: {e}");
            }
            Ok(b.redirect("/ui/login?notice=signed-out").clear(SESSION).clear(AUTH).clear(CU).set(fresh_csrf_cookie()))
        }
        .await,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_as_people_read_them() {
        assert_eq!(when("2026-12-03T14:55:12Z"), "2026-12-03 14:55 UTC");
        assert_eq!(when("soon"), "soon");
    }
}
