//! The reset link (`/ui/reset?token=…`) and the credential editor: one credential update
//! session of the identity layer, opened with a reset token or from a signed-in profile, named
//! by the `__Host-idm-cu` cookie. Every change is staged in the session; "Save" commits them
//! all at once, "Discard" none. The page is drawn from the session's status after each change
//! (post, then redirect), except new backup codes, which exist only in the answer that made
//! them.

use super::browser::{Answer, Browser, CU, Checked, NoFields, Reply, answer, cu_cookie, words};
use super::layout::{csrf_field, error, notice};
use super::login::passkey_prompt;
use super::{call, qr};
use crate::https::AppState;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use idm_core::proto::credupdate::{
    CUCredState, CURegState, CURegWarning, CURequest, CUSessionToken, CUStatus, CredentialDetailType, TotpSecret,
};
use maud::{Markup, html};
use serde::Deserialize;

const HERE: &str = "/ui/credentials";

#[derive(Deserialize)]
pub struct ResetQuery {
    token: Option<String>,
}

/// The reset link's page. Opening it changes nothing (mail scanners open links too): the
/// session starts when the person presses Continue.
pub async fn reset_page(
    b: Browser,
    q: Result<Query<ResetQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let token = q.ok().and_then(|Query(q)| q.token).unwrap_or_default();
    answer(Ok(reset_form(&b, token.trim(), None)))
}

fn reset_form(b: &Browser, token: &str, err: Option<&str>) -> Reply {
    b.page(
        if err.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK },
        "Set up your sign-in",
        html! {
            section.card {
                h1 { "Set up your sign-in" }
                p { "An administrator gave you this link so you can set a password, a passkey or an authenticator app for your account." }
                (error(err))
                form method="post" action="/ui/reset" {
                    (csrf_field(&b.csrf))
                    label for="token" { "Reset code" }
                    input #token type="text" name="token" value=(token) autocomplete="off" autocapitalize="none"
                        spellcheck="false" required maxlength="256";
                    button type="submit" { "Continue" }
                }
            }
        },
    )
}

#[derive(Deserialize)]
pub struct RedeemForm {
    token: String,
}

pub async fn redeem(State(s): State<AppState>, Checked(b, f): Checked<RedeemForm>) -> Response {
    answer(
        async {
            let secret = f.token.trim().to_string();
            if secret.is_empty() || secret.len() > 256 {
                return Err(reset_form(&b, "", Some("Enter the reset code from your link.")));
            }
            match call(&s, move |idm| idm.cu_exchange_intent(&secret)).await {
                Ok((cu, _)) => Ok(b.redirect(HERE).set(cu_cookie(&cu.token))),
                Err(e) => Err(reset_form(&b, f.token.trim(), Some(&words(&e)))),
            }
        }
        .await,
    )
}

/// "Change sign-in methods" on the profile: a session for the signed-in account.
pub async fn begin(State(s): State<AppState>, Checked(b, NoFields {}): Checked<NoFields>) -> Response {
    answer(
        async {
            let token = b.session.clone().ok_or_else(|| b.redirect("/ui/login"))?;
            match call(&s, move |idm| idm.cu_begin_own(&token)).await {
                Ok((cu, _)) => Ok(b.redirect(HERE).set(cu_cookie(&cu.token))),
                Err(e) if e.is_read_only_session() => Ok(b.redirect("/ui/profile?notice=reauth")),
                Err(e) => Err(b.failed(e, "/ui/profile")),
            }
        }
        .await,
    )
}

fn cu_of(b: &Browser) -> Result<CUSessionToken, Reply> {
    b.cu.clone().map(|token| CUSessionToken { token }).ok_or_else(|| no_session(b, false))
}

/// No session (never opened, saved, discarded or timed out). The cookie is cleared only when
/// the browser sent one the server refused: a browser arriving from another site does not
/// send it, and must not lose a session in progress for that.
fn no_session(b: &Browser, refused: bool) -> Reply {
    let page = b.page(
        StatusCode::OK,
        "Sign-in methods",
        html! {
            section.card {
                h1 { "No changes in progress" }
                p { "Open your reset link again, or change your sign-in methods from your profile." }
                p { a href="/ui/profile" { "Your profile" } " · " a href="/ui/reset" { "Enter a reset code" } }
            }
        },
    );
    if refused { page.clear(CU) } else { page }
}

pub async fn editor(State(s): State<AppState>, b: Browser) -> Response {
    answer(
        async {
            let cu = cu_of(&b)?;
            match call(&s, move |idm| idm.cu_status(&cu)).await {
                Ok(st) => Ok(edit_page(&b, &st, None)),
                Err(_) => Err(no_session(&b, true)),
            }
        }
        .await,
    )
}

#[derive(Deserialize)]
pub struct UpdateForm {
    action: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    password_confirm: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    label: String,
    #[serde(default)]
    credential: String,
    #[serde(default)]
    id: String,
}

/// The change a form asks for, or what is wrong with the form.
fn request_of(f: UpdateForm) -> Result<CURequest, String> {
    Ok(match f.action.as_str() {
        "password" if f.password != f.password_confirm => return Err("The two passwords are not the same.".into()),
        "password" => CURequest::Password(f.password),
        "password-remove" => CURequest::PrimaryRemove,
        "totp-start" => CURequest::TotpGenerate,
        "totp-verify" => match idm_identity::second_factor::parse_code(&f.code) {
            Some(n) => CURequest::TotpVerify(n, f.label.trim().to_string()),
            _ => return Err("The code is the digits your authenticator app shows.".into()),
        },
        "totp-remove" => CURequest::TotpRemove(f.label),
        "cancel-enrolment" => CURequest::CancelMfaReg,
        "codes-generate" => CURequest::BackupCodeGenerate,
        "codes-remove" => CURequest::BackupCodeRemove,
        "passkey-start" => CURequest::PasskeyInit,
        "passkey-finish" => {
            let reg = serde_json::from_str(&f.credential)
                .map_err(|_| "The passkey's answer could not be read; try again.".to_string())?;
            CURequest::PasskeyFinish(f.label.trim().to_string(), reg)
        }
        "passkey-remove" => CURequest::PasskeyRemove(
            uuid::Uuid::parse_str(f.id.trim()).map_err(|_| "That is not a passkey of this account.".to_string())?,
        ),
        other => return Err(format!("'{other}' is not a change this page makes.")),
    })
}

pub async fn update(State(s): State<AppState>, Checked(b, f): Checked<UpdateForm>) -> Response {
    answer(update_answer(&s, &b, f).await)
}

async fn update_answer(s: &AppState, b: &Browser, f: UpdateForm) -> Answer {
    let cu = cu_of(b)?;
    let failed = match request_of(f) {
        Ok(req) => {
            let c = cu.clone();
            match call(s, move |idm| idm.cu_update(&c, req)).await {
                // New backup codes are in this answer only: show them now.
                Ok(st) if matches!(st.mfaregstate, CURegState::BackupCodes(_)) => return Ok(edit_page(b, &st, None)),
                Ok(_) => return Ok(b.redirect(HERE)),
                Err(e) => words(&e),
            }
        }
        Err(why) => why,
    };
    Err(refused(s, b, cu, &failed).await)
}

/// The editor again, saying why a change was refused (or, if the session has gone meanwhile,
/// that it has).
async fn refused(s: &AppState, b: &Browser, cu: CUSessionToken, why: &str) -> Reply {
    match call(s, move |idm| idm.cu_status(&cu)).await {
        Ok(st) => edit_page(b, &st, Some(why)).status(StatusCode::BAD_REQUEST),
        Err(_) => no_session(b, true),
    }
}

pub async fn commit(State(s): State<AppState>, Checked(b, NoFields {}): Checked<NoFields>) -> Response {
    answer(
        async {
            let cu = cu_of(&b)?;
            let c = cu.clone();
            match call(&s, move |idm| idm.cu_commit(&c)).await {
                Ok(()) => Ok(b.redirect(after(&b, Ended::Saved)).clear(CU)),
                Err(e) => Err(refused(&s, &b, cu, &words(&e)).await),
            }
        }
        .await,
    )
}

pub async fn cancel(State(s): State<AppState>, Checked(b, NoFields {}): Checked<NoFields>) -> Response {
    answer(
        async {
            let cu = cu_of(&b)?;
            if let Err(e) = call(&s, move |idm| idm.cu_cancel(&cu)).await {
                tracing::debug!("discarding an ended credential update session: {e}");
            }
            Ok(b.redirect(after(&b, Ended::Discarded)).clear(CU))
        }
        .await,
    )
}

/// How a credential update session ended.
enum Ended {
    Saved,
    Discarded,
}

/// Where the browser goes once the session is over: the profile if signed in, else sign-in.
fn after(b: &Browser, how: Ended) -> &'static str {
    match (b.session.is_some(), how) {
        (true, Ended::Saved) => "/ui/profile?notice=saved",
        (true, Ended::Discarded) => "/ui/profile?notice=cancelled",
        (false, Ended::Saved) => "/ui/login?notice=saved",
        (false, Ended::Discarded) => "/ui/login",
    }
}

fn warning_text(w: &CURegWarning) -> &'static str {
    match w {
        CURegWarning::MfaRequired => {
            "Your account's policy needs a second factor: add an authenticator app or a passkey before saving."
        }
        CURegWarning::PasskeyRequired => "Your account's policy needs a passkey: add one before saving.",
        CURegWarning::NoValidCredentials => "Add a password or a passkey: without one you could not sign in.",
        CURegWarning::Unsatisfiable => "Your account's policy cannot be met by what this server offers.",
        _ => "Your account's policy asks for a kind of passkey this page cannot enrol.",
    }
}

/// The secret in groups of four, for typing into an app by hand.
fn grouped(secret: &TotpSecret) -> String {
    let b32 = secret.base32();
    b32.as_bytes().chunks(4).map(|c| String::from_utf8_lossy(c).into_owned()).collect::<Vec<_>>().join(" ")
}

fn action_button(b: &Browser, action: &str, text: &str, class: &str, extra: Option<(&str, &str)>) -> Markup {
    html! {
        form.inline method="post" action="/ui/credentials/update" {
            (csrf_field(&b.csrf))
            input type="hidden" name="action" value=(action);
            @if let Some((name, value)) = extra { input type="hidden" name=(name) value=(value); }
            button class=[(!class.is_empty()).then_some(class)] type="submit" { (text) }
        }
    }
}

/// The enrolment in progress, if any: a TOTP to confirm, a passkey to create, codes to note.
fn enrolment(b: &Browser, st: &CUStatus) -> Markup {
    let code_form = |label_err: bool| {
        html! {
            form method="post" action="/ui/credentials/update" {
                (csrf_field(&b.csrf))
                input type="hidden" name="action" value="totp-verify";
                label for="code" { "The six-digit code the app shows" }
                input #code type="text" name="code" inputmode="numeric" autocomplete="one-time-code"
                    pattern="[0-9]{6}" maxlength="6" required autofocus[!label_err];
                label for="label" { "A name for this app (to tell it apart later)" }
                input #label type="text" name="label" value="authenticator app" maxlength="64" required autofocus[label_err];
                button type="submit" { "Add the app" }
            }
        }
    };
    let cancel = action_button(b, "cancel-enrolment", "Cancel", "secondary", None);
    html! {
        @match &st.mfaregstate {
            CURegState::TotpCheck(secret) => {
                section.card.focus #totp-enrol {
                    h2 { "Add an authenticator app" }
                    ol.steps {
                        li {
                            "Scan this code with the app:"
                            @if let Some(svg) = qr::svg(&secret.uri(), "QR code to scan with an authenticator app") { (svg) }
                        }
                        li { "Or type this key into it: " code #totp-secret { (grouped(secret)) } }
                        li { "Then enter the code it shows." }
                    }
                    (code_form(false))
                    (cancel)
                }
            }
            CURegState::TotpTryAgain => {
                section.card.focus #totp-enrol {
                    h2 { "Add an authenticator app" }
                    p.error role="alert" { "That code did not match. Check that the phone's clock is right, and enter the code the app shows now." }
                    (code_form(false))
                    (cancel)
                }
            }
            CURegState::TotpNameTryAgain(why) => {
                section.card.focus #totp-enrol {
                    h2 { "Add an authenticator app" }
                    p.error role="alert" { "Choose another name: " (why) "." }
                    (code_form(true))
                    (cancel)
                }
            }
            CURegState::Passkey(options) => {
                section.card.focus #passkey-enrol {
                    h2 { "Add a passkey" }
                    form method="post" action="/ui/credentials/update" {
                        (csrf_field(&b.csrf))
                        input type="hidden" name="action" value="passkey-finish";
                        label for="label" { "A name for this passkey" }
                        input #label type="text" name="label" value="passkey" maxlength="64" required;
                        (passkey_prompt("create", options, "Create the passkey"))
                    }
                    (cancel)
                }
            }
            CURegState::BackupCodes(codes) => {
                section.card.focus #backup-codes {
                    h2 { "Your backup codes" }
                    p { "Write these down or print them now: they are not shown again. Each works once, in place of the authenticator app." }
                    ul.codes { @for c in codes { li { code { (c) } } } }
                }
            }
            _ => {}
        }
    }
}

fn edit_page(b: &Browser, st: &CUStatus, err: Option<&str>) -> Reply {
    let (has_password, totps, codes_left) = match st.primary.as_ref().map(|p| &p.type_) {
        Some(CredentialDetailType::PasswordMfa(t, _, n)) => (true, t.clone(), *n),
        Some(_) => (true, Vec::new(), 0),
        None => (false, Vec::new(), 0),
    };
    let enrolling = !matches!(st.mfaregstate, CURegState::None | CURegState::BackupCodes(_));
    let modifiable = st.primary_state == CUCredState::Modifiable;
    let body = html! {
        section.card {
            h1 { "Sign-in methods" }
            p.small { "For " strong { (st.displayname) } " (" (st.spn) ")" }
            (error(err))
            @for w in &st.warnings { p.warning { (warning_text(w)) } }
            @if st.dirty { (notice(Some("You have changes that are not saved yet."))) }
        }
        (enrolment(b, st))
        section.card #password-section {
            h2 { "Password" }
            p { @if has_password { "A password is set." } @else { "No password is set." } }
            @if modifiable {
                form method="post" action="/ui/credentials/update" {
                    (csrf_field(&b.csrf))
                    input type="hidden" name="action" value="password";
                    label for="password" { "New password" }
                    input #password type="password" name="password" autocomplete="new-password" required;
                    label for="password_confirm" { "The new password again" }
                    input #password_confirm type="password" name="password_confirm" autocomplete="new-password" required;
                    button type="submit" { @if has_password { "Change the password" } @else { "Set the password" } }
                }
                @if has_password && !st.passkeys.is_empty() {
                    (action_button(b, "password-remove", "Remove the password (sign in with passkeys only)", "secondary", None))
                }
            }
        }
        section.card #totp-section {
            h2 { "Authenticator apps" }
            @if totps.is_empty() { p { "None." } }
            @else {
                ul.items {
                    @for t in &totps {
                        li { span { (t) } (action_button(b, "totp-remove", "Remove", "danger", Some(("label", t.as_str())))) }
                    }
                }
            }
            @if !has_password { p.small { "Set a password first: an authenticator app is asked for after it." } }
            @else if !enrolling { (action_button(b, "totp-start", "Add an authenticator app", "", None)) }
        }
        @if !totps.is_empty() {
            section.card #codes-section {
                h2 { "Backup codes" }
                p { @if codes_left > 0 { (codes_left) " unused backup codes." } @else { "No backup codes." } }
                (action_button(b, "codes-generate", if codes_left > 0 { "Make new backup codes" } else { "Make backup codes" }, "", None))
                @if codes_left > 0 { (action_button(b, "codes-remove", "Remove the backup codes", "secondary", None)) }
            }
        }
        section.card #passkeys-section {
            h2 { "Passkeys" }
            @if st.passkeys.is_empty() { p { "None." } }
            @else {
                ul.items {
                    @for k in &st.passkeys {
                        li { span { (k.tag) } (action_button(b, "passkey-remove", "Remove", "danger", Some(("id", &k.uuid.to_string())))) }
                    }
                }
            }
            @if !enrolling && st.passkeys_state == CUCredState::Modifiable {
                (action_button(b, "passkey-start", "Add a passkey", "", None))
            }
        }
        section.card.actions {
            p.small { "Nothing changes until you save. Saving signs out your other sessions if the password changed." }
            form.inline method="post" action="/ui/credentials/commit" {
                (csrf_field(&b.csrf))
                button #save type="submit" disabled[!st.can_commit] { "Save changes" }
            }
            form.inline method="post" action="/ui/credentials/cancel" {
                (csrf_field(&b.csrf))
                button.secondary type="submit" { "Discard changes" }
            }
        }
    };
    b.page(StatusCode::OK, "Sign-in methods", body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(action: &str) -> UpdateForm {
        UpdateForm {
            action: action.into(),
            password: "a".into(),
            password_confirm: "a".into(),
            code: "012345".into(),
            label: " phone ".into(),
            credential: "{}".into(),
            id: String::new(),
        }
    }

    #[test]
    fn forms_become_requests() {
        assert_eq!(request_of(form("password")), Ok(CURequest::Password("a".into())));
        assert!(request_of(UpdateForm { password_confirm: "b".into(), ..form("password") }).is_err());
        assert_eq!(request_of(form("totp-verify")), Ok(CURequest::TotpVerify(12345, "phone".into())));
        assert!(request_of(UpdateForm { code: "+12345".into(), ..form("totp-verify") }).is_err());
        assert!(request_of(form("passkey-remove")).is_err());
        assert!(request_of(form("drop-table")).unwrap_err().contains("drop-table"));
    }
}
