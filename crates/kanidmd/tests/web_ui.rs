//! The web UI through the real server over HTTPS, driven as a browser drives it (forms,
//! cookies, redirects): the headers every page carries, CSRF refusals, cookie flags,
//! open-redirect refusals, password sign-in, the profile with session revoke, re-authentication,
//! sign-out, and the reset link setting a password, a TOTP and backup codes, which then sign
//! in. (Passkeys in a real browser: `browser.rs`.)

use idm_testkit::api::Api;
use idm_testkit::server::TestServer;
use idm_testkit::web::{Page, Web};
use serde_json::json;
use std::path::Path;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_kanidmd"))
}

const PASSWORD: &str = "Correct-horse-battery-7";

fn assert_page_headers(p: &Page, what: &str) {
    let csp = p.header("content-security-policy");
    for part in ["default-src 'none'", "script-src 'self'", "frame-ancestors 'none'", "form-action 'self'"] {
        assert!(csp.contains(part), "{what}: CSP lacks {part}: {csp}");
    }
    assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"), "{what}: {csp}");
    assert!(p.header("strict-transport-security").contains("max-age="), "{what}: no HSTS");
    assert_eq!(p.header("x-content-type-options"), "nosniff", "{what}");
    assert_eq!(p.header("referrer-policy"), "no-referrer", "{what}");
    assert_eq!(p.header("x-frame-options"), "DENY", "{what}");
}

fn assert_cookie_flags(c: &str, same_site: &str) {
    for flag in ["Path=/", "Secure", "HttpOnly", &format!("SameSite={same_site}")] {
        assert!(c.split("; ").any(|f| f == flag), "{c} lacks {flag}");
    }
    assert!(c.starts_with("__Host-") && !c.contains("Domain="), "{c}");
}

/// A person with a password, made through the API.
async fn person(api: &Api, idm: &str, name: &str) {
    let (c, b) = api.post("/v1/person", idm, json!({"attrs": {"name": [name], "displayname": [format!("{name} Example")], "mail": [format!("{name}@example.com")]}})).await;
    assert_eq!(c, 200, "{b}");
    let (c, b) = api.set_password(idm, name, PASSWORD).await;
    assert_eq!(c, 200, "{b}");
}

fn base32_decode(s: &str) -> Vec<u8> {
    let (mut acc, mut bits, mut out) = (0u32, 0u32, Vec::new());
    for c in s.chars().filter(|c| c.is_ascii_alphanumeric()) {
        let v = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".find(c).unwrap_or_else(|| panic!("not base32: {c}")) as u32;
        acc = (acc << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

fn code(secret: &[u8], step_offset: i64) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let t = idm_testkit::app_totp(secret);
    format!("{:06}", idm_identity::second_factor::code_at(&t, (now / 30 + step_offset) as u64))
}

#[tokio::test(flavor = "multi_thread")]
async fn pages_carry_strict_headers_and_forms_need_this_browsers_csrf_token() {
    let s = TestServer::start_with(bin(), &["ann"]);
    let web = Web::new(&s);
    let p = web.get("/ui/login").await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert_page_headers(&p, "/ui/login");
    assert_eq!(p.header("cache-control"), "no-store");
    assert!(p.header("content-type").starts_with("text/html"), "{}", p.header("content-type"));
    assert_cookie_flags(&p.set_cookie("__Host-idm-csrf").expect("a CSRF cookie"), "Lax");
    let csrf = web.csrf();
    assert!(p.body.contains(&format!("name=\"csrf\" value=\"{csrf}\"")), "the form repeats the token");
    // No inline script or style anywhere: the CSP would block them.
    assert!(!p.body.contains("<script>") && !p.body.contains("style="), "{}", p.body);
    for path in
        ["/ui/reset?token=abc", "/ui/static/style.css", "/ui/static/webauthn.js", "/ui/nothing", "/v1/auth/valid"]
    {
        assert_page_headers(&web.get(path).await, path);
    }
    let js = web.get("/ui/static/webauthn.js").await;
    assert!(js.header("content-type").starts_with("text/javascript"), "{}", js.header("content-type"));
    // Not signed in: pages that need a session send the browser to sign in.
    let p = web.get("/ui/profile").await;
    assert_eq!((p.status, p.location()), (303, "/ui/login"));

    let fields = [("username", "ann"), ("next", "")];
    // Without the token, with a wrong one, or from a browser that never had one: refused,
    // and no login starts.
    for (what, page) in [
        ("missing", web.post_raw("/ui/login", &fields, &[]).await),
        (
            "wrong",
            web.post_raw("/ui/login", &[("csrf", "0123456789abcdef0123456789abcdef"), fields[0], fields[1]], &[]).await,
        ),
        (
            "cross-site",
            web.post_raw("/ui/login", &[("csrf", &csrf), fields[0], fields[1]], &[("sec-fetch-site", "cross-site")])
                .await,
        ),
        (
            "same-site",
            web.post_raw("/ui/login", &[("csrf", &csrf), fields[0], fields[1]], &[("sec-fetch-site", "same-site")])
                .await,
        ),
    ] {
        assert_eq!(page.status, 403, "{what}: {}", page.body);
        assert!(page.body.contains("This form was not sent from a page of this server"), "{what}");
        assert!(page.set_cookie("__Host-idm-auth").is_none(), "{what}: a login started");
        assert_page_headers(&page, what);
    }
    let fresh = Web::new(&s);
    let p = fresh.post_raw("/ui/login", &[("csrf", &csrf), fields[0], fields[1]], &[]).await;
    assert_eq!(p.status, 403, "a token without its cookie: {}", p.body);
    // With it, the login starts.
    let p = web.form("/ui/login", &fields).await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert_cookie_flags(&p.set_cookie("__Host-idm-auth").expect("a login in progress"), "Strict");
    assert!(p.body.contains("name=\"password\""), "{}", p.body);
}

#[tokio::test(flavor = "multi_thread")]
async fn password_sign_in_profile_revoke_reauth_and_sign_out() {
    let s = TestServer::start(bin());
    let api = Api::new(&s);
    let idm = api.login("idm_admin", &s.passwords["idm_admin"]).await.unwrap();
    person(&api, &idm, "bob").await;
    let (c, b) = api.post("/v1/group", &idm, json!({"attrs": {"name": ["web_people"]}})).await;
    assert_eq!(c, 200, "{b}");
    assert_eq!(api.post("/v1/group/web_people/_attr/member", &idm, json!(["bob"])).await.0, 200);
    // Another session of bob's, to revoke from the profile.
    let other = api.login("bob", PASSWORD).await.unwrap();

    let web = Web::new(&s);
    // Wrong password: the page says so, nothing is set.
    let p = web.sign_in("bob", None, "not-the-password", None).await;
    assert_eq!(p.status, 400, "{}", p.body);
    assert!(p.body.contains("role=\"alert\""), "{}", p.body);
    assert!(web.cookie("__Host-idm-session").is_none());
    // After five failures the soft-lock says how long to wait, even with the right password.
    for _ in 1..5 {
        web.sign_in("bob", None, "not-the-password", None).await;
    }
    let p = web.sign_in("bob", None, PASSWORD, None).await;
    assert!(p.body.contains("temporarily locked"), "{}", p.body);
    // Unknown names are told as such.
    web.get("/ui/login").await;
    let p = web.form("/ui/login", &[("username", "nobody"), ("next", "")]).await;
    assert!(p.body.contains("There is no account called"), "{}", p.body);

    // After the lock: signed in, sent to a page of the UI only.
    let unlock = api.call(reqwest::Method::POST, "/v1/account/bob/_unlock", &idm, None).await;
    assert_eq!(unlock.0, 200, "{}", unlock.1);
    for evil in ["https://evil.example/", "//evil.example/", "/\\evil.example", "/ui/../v1/self", "javascript:alert(1)"]
    {
        let w = Web::new(&s);
        w.get("/ui/login").await;
        let p = w.form("/ui/login", &[("username", "bob"), ("next", evil)]).await;
        assert!(p.body.contains("name=\"next\" value=\"/ui/profile\""), "{evil} is not carried on: {}", p.body);
        let p = w.form("/ui/login/step", &[("password", PASSWORD), ("username", "bob"), ("next", evil)]).await;
        assert_eq!((p.status, p.location()), (303, "/ui/profile"), "{evil}: {}", p.body);
        w.form("/ui/logout", &[]).await;
    }
    let w = Web::new(&s);
    w.get("/ui/login?next=/ui/credentials").await;
    w.form("/ui/login", &[("username", "bob"), ("next", "/ui/credentials")]).await;
    let p = w.form("/ui/login/step", &[("password", PASSWORD), ("next", "/ui/credentials")]).await;
    assert_eq!((p.status, p.location()), (303, "/ui/credentials"), "a page of the UI is kept");
    w.form("/ui/logout", &[]).await;

    // Signing in on top of a session ends the first one.
    let first = Web::new(&s);
    first.sign_in("bob", None, PASSWORD, None).await;
    let first_token = first.cookie("__Host-idm-session").expect("signed in");
    // A sign-in that fails leaves it alone.
    first.sign_in("bob", None, "wrong-password", None).await;
    assert_eq!(api.get("/v1/auth/valid", &first_token).await.0, 200, "a failed sign-in ends nothing");
    let unlock = api.call(reqwest::Method::POST, "/v1/account/bob/_unlock", &idm, None).await;
    assert_eq!(unlock.0, 200, "{}", unlock.1);
    first.sign_in("bob", None, PASSWORD, None).await;
    assert_eq!(api.get("/v1/auth/valid", &first_token).await.0, 401, "the earlier session ended");

    let p = web.sign_in("bob", None, PASSWORD, None).await;
    assert_eq!((p.status, p.location()), (303, "/ui/profile"), "{}", p.body);
    assert_cookie_flags(&p.set_cookie("__Host-idm-session").expect("a session cookie"), "Lax");
    assert!(p.set_cookie("__Host-idm-auth").is_some_and(|c| c.contains("Max-Age=0")), "the login cookie goes");

    let p = web.get("/ui/profile").await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert_page_headers(&p, "/ui/profile");
    for shown in ["bob Example", "bob@localhost", "bob@example.com", "web_people@localhost", "this session", "Sign out"]
    {
        assert!(p.body.contains(shown), "the profile lacks {shown}: {}", p.body);
    }
    // A web session starts read-only: revoking needs "confirm it's you" first.
    let (_, sessions) = api.get("/v1/account/bob/_user_auth_token", &idm).await;
    let other_id = sessions
        .as_array()
        .and_then(|a| a.iter().find(|s| api_token_session(&other, s)))
        .and_then(|s| s["session_id"].as_str().map(str::to_string))
        .unwrap_or_else(|| panic!("the API session is listed: {sessions}"));
    assert!(p.body.contains("Confirm it") && !p.body.contains("name=\"session\""), "{}", p.body);
    let p = web.form("/ui/profile/revoke", &[("session", &other_id)]).await;
    assert_eq!((p.status, p.location()), (303, "/ui/profile?notice=reauth"), "{}", p.body);
    assert_eq!(api.get("/v1/auth/valid", &other).await.0, 200, "nothing revoked");
    let p = web.form("/ui/credentials/begin", &[]).await;
    assert_eq!((p.status, p.location()), (303, "/ui/profile?notice=reauth"), "{}", p.body);

    // Re-authentication: asks for the password again and replaces the session cookie.
    let before = web.cookie("__Host-idm-session").unwrap_or_default();
    let p = web.form("/ui/reauth", &[("next", "/ui/profile")]).await;
    assert!(p.body.contains("Confirm it") && p.body.contains("name=\"password\""), "{}", p.body);
    let p = web.form("/ui/login/step", &[("password", PASSWORD), ("next", "/ui/profile")]).await;
    assert_eq!((p.status, p.location()), (303, "/ui/profile"), "{}", p.body);
    let after = web.cookie("__Host-idm-session").unwrap_or_default();
    assert!(!after.is_empty() && after != before, "a new token");
    let p = web.get("/ui/profile").await;
    assert!(p.body.contains("You can make changes until"), "{}", p.body);
    assert!(p.body.contains(&format!("name=\"session\" value=\"{other_id}\"")), "{}", p.body);
    let p = web.form("/ui/profile/revoke", &[("session", &other_id)]).await;
    assert_eq!((p.status, p.location()), (303, "/ui/profile?notice=revoked"), "{}", p.body);
    assert_eq!(api.get("/v1/auth/valid", &other).await.0, 401, "the revoked session no longer works");
    // A session that is not bob's: refused, nothing revoked.
    let (_, idm_sessions) = api.get("/v1/account/idm_admin/_user_auth_token", &idm).await;
    let idm_session = idm_sessions[0]["session_id"].as_str().unwrap_or_default().to_string();
    let p = web.form("/ui/profile/revoke", &[("session", &idm_session)]).await;
    assert!(p.status >= 400, "{}", p.body);
    assert_eq!(api.get("/v1/auth/valid", &idm).await.0, 200);
    // Changing sign-in methods opens a credential update session.
    let p = web.form("/ui/credentials/begin", &[]).await;
    assert_eq!((p.status, p.location()), (303, "/ui/credentials"), "{}", p.body);
    assert!(web.get("/ui/credentials").await.body.contains("A password is set."));

    // Sign out: the cookie goes, and the token it held no longer works anywhere.
    let csrf = web.csrf();
    let cu = web.cookie("__Host-idm-cu").expect("a credential update in progress");
    let p = web.form("/ui/logout", &[]).await;
    assert_eq!((p.status, p.location()), (303, "/ui/login?notice=signed-out"), "{}", p.body);
    assert!(web.cookie("__Host-idm-session").is_none());
    assert!(web.cookie("__Host-idm-cu").is_none(), "the credential update in progress goes too");
    assert!(web.csrf() != csrf && !web.csrf().is_empty(), "a new CSRF token");
    let later = Web::new(&s);
    later.set("__Host-idm-cu", &cu);
    assert!(later.get("/ui/credentials").await.body.contains("No changes in progress"), "ended on the server too");
    assert_eq!(api.get("/v1/auth/valid", &after).await.0, 401);
    web.set("__Host-idm-session", &after);
    let p = web.get("/ui/profile").await;
    assert_eq!((p.status, p.location()), (303, "/ui/login"), "an ended session is sent to sign in");
    assert!(p.set_cookie("__Host-idm-session").is_some_and(|c| c.contains("Max-Age=0")));
}

/// Whether the listed session `s` is the one `token` carries.
fn api_token_session(token: &str, s: &serde_json::Value) -> bool {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap_or_default();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap_or_default();
    let uat: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    uat["session_id"] == s["session_id"]
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reset_link_sets_password_totp_and_backup_codes_which_then_sign_in() {
    let s = TestServer::start(bin());
    let api = Api::new(&s);
    let idm = api.login("idm_admin", &s.passwords["idm_admin"]).await.unwrap();
    let (c, b) = api.post("/v1/person", &idm, json!({"attrs": {"name": ["cat"], "displayname": ["Cat"]}})).await;
    assert_eq!(c, 200, "{b}");
    let (_, reset) = api.reset_token(&idm, "cat", 3600).await;
    let token = reset["token"].as_str().unwrap().to_string();

    let web = Web::new(&s);
    // Opening the link changes nothing; Continue opens the session.
    let p = web.get(&format!("/ui/reset?token={token}")).await;
    assert_eq!(p.status, 200);
    assert!(p.body.contains(&format!("value=\"{token}\"")), "{}", p.body);
    let p = web.form("/ui/reset", &[("token", "not-a-real-token")]).await;
    assert_eq!(p.status, 400);
    assert!(p.body.contains("not valid"), "{}", p.body);
    // The link opened in another browser first: the newer session replaces that one.
    let elsewhere = Web::new(&s);
    elsewhere.get("/ui/reset").await;
    assert_eq!(elsewhere.form("/ui/reset", &[("token", &token)]).await.status, 303);
    assert!(elsewhere.get("/ui/credentials").await.body.contains("No password is set"));
    let p = web.form("/ui/reset", &[("token", &token)]).await;
    assert_eq!((p.status, p.location()), (303, "/ui/credentials"), "{}", p.body);
    assert!(elsewhere.get("/ui/credentials").await.body.contains("No changes in progress"), "replaced");
    assert_cookie_flags(&p.set_cookie("__Host-idm-cu").expect("the session's cookie"), "Strict");
    let p = web.get("/ui/credentials").await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert_page_headers(&p, "/ui/credentials");
    assert!(p.body.contains("No password is set"), "{}", p.body);
    assert!(p.body.contains("id=\"save\" type=\"submit\" disabled"), "nothing to save yet: {}", p.body);

    // Mismatched passwords, then a weak one: told, nothing staged.
    let up = |fields: Vec<(&'static str, String)>| {
        let web = &web;
        async move {
            let f: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            web.form("/ui/credentials/update", &f).await
        }
    };
    let p =
        up(vec![("action", "password".into()), ("password", PASSWORD.into()), ("password_confirm", "x".into())]).await;
    assert_eq!(p.status, 400);
    assert!(p.body.contains("The two passwords are not the same"), "{}", p.body);
    let p = up(vec![("action", "password".into()), ("password", "short".into()), ("password_confirm", "short".into())])
        .await;
    assert_eq!(p.status, 400);
    assert!(p.body.contains("Password rejected"), "{}", p.body);
    let p =
        up(vec![("action", "password".into()), ("password", PASSWORD.into()), ("password_confirm", PASSWORD.into())])
            .await;
    assert_eq!((p.status, p.location()), (303, "/ui/credentials"), "{}", p.body);

    // An authenticator app: the QR code and the key, drawn by the server.
    let p = up(vec![("action", "totp-start".into())]).await;
    assert_eq!(p.status, 303, "{}", p.body);
    let p = web.get("/ui/credentials").await;
    assert!(p.body.contains("<svg class=\"qr\""), "{}", p.body);
    let secret = base32_decode(&p.between("id=\"totp-secret\">", "</code>").expect("the key is shown"));
    assert_eq!(secret.len(), 20, "a 160-bit secret");
    let p = up(vec![("action", "totp-verify".into()), ("code", "000000".into()), ("label", "phone".into())]).await;
    assert!(p.status == 303 || p.body.contains("did not match"), "{}", p.body);
    let p = web.get("/ui/credentials").await;
    if p.body.contains("did not match") {
        assert!(!p.body.contains("<svg class=\"qr\""), "the retry page does not show the secret again");
    }
    let p = up(vec![("action", "totp-verify".into()), ("code", code(&secret, -1)), ("label", "phone".into())]).await;
    assert_eq!((p.status, p.location()), (303, "/ui/credentials"), "{}", p.body);
    let p = web.get("/ui/credentials").await;
    assert!(p.body.contains("<span>phone</span>"), "{}", p.body);
    // Backup codes: shown once, in the answer that made them.
    let p = up(vec![("action", "codes-generate".into())]).await;
    assert_eq!(p.status, 200, "{}", p.body);
    let codes: Vec<String> =
        p.body.split("<li><code>").skip(1).filter_map(|c| c.split("</code>").next().map(str::to_string)).collect();
    assert!(codes.len() >= 8, "{}", p.body);
    assert!(!web.get("/ui/credentials").await.body.contains(&codes[0]), "codes are not shown again");
    let p = web.form("/ui/credentials/commit", &[]).await;
    assert_eq!((p.status, p.location()), (303, "/ui/login?notice=saved"), "{}", p.body);
    assert!(web.cookie("__Host-idm-cu").is_none());
    assert!(web.get("/ui/login?notice=saved").await.body.contains("Your credentials are saved"));
    assert!(web.get("/ui/credentials").await.body.contains("No changes in progress"));
    // A browser that sends no session cookie (arriving from another site) clears nothing.
    let p = Web::new(&s).get("/ui/credentials").await;
    assert!(p.set_cookie("__Host-idm-cu").is_none(), "{:?}", p.set_cookies());

    // Password + TOTP signs in (a wrong code first: refused with the login's message).
    let w = Web::new(&s);
    let p = w.sign_in("cat", Some("passwordmfa"), PASSWORD, Some("999999".into())).await;
    assert!(p.status == 400 && w.cookie("__Host-idm-session").is_none(), "{}", p.body);
    std::thread::sleep(std::time::Duration::from_millis(100));
    let api_unlock = api.call(reqwest::Method::POST, "/v1/account/cat/_unlock", &idm, None).await;
    assert_eq!(api_unlock.0, 200);
    let p = w.sign_in("cat", Some("passwordmfa"), PASSWORD, Some(code(&secret, 0))).await;
    assert_eq!((p.status, p.location()), (303, "/ui/profile"), "{}", p.body);
    let prof = w.get("/ui/profile").await;
    assert!(prof.body.contains("phone") && prof.body.contains("left"), "{}", prof.body);
    // A backup code works once.
    for (attempt, ok) in [(1, true), (2, false)] {
        let w = Web::new(&s);
        w.get("/ui/login").await;
        w.form("/ui/login", &[("username", "cat")]).await;
        let p = w.form("/ui/login/choose", &[("mech", "passwordbackupcode")]).await;
        assert!(p.body.contains("name=\"backup_code\""), "{}", p.body);
        w.form("/ui/login/step", &[("backup_code", &codes[0])]).await;
        let p = w.form("/ui/login/step", &[("password", PASSWORD)]).await;
        assert_eq!(p.status == 303, ok, "attempt {attempt}: {}", p.body);
        if !ok {
            api.call(reqwest::Method::POST, "/v1/account/cat/_unlock", &idm, None).await;
        }
    }
}
