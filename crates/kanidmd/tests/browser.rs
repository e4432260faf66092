//! The web UI in a real browser: Debian's Chromium, headless, driven by Playwright for Python
//! (`clients/browser_flow.py`) with a CDP virtual authenticator. From a reset link it enrols a
//! passkey, a password and an authenticator app, signs in with the passkey, signs out, and
//! signs in with password + TOTP. The screenshots of every page are kept in
//! `target/ui-screenshots/` as the test's artefacts.
//!
//! Needs `KANIDM_PLAYWRIGHT_PYTHON` and `KANIDM_CHROMIUM` (`scripts/upstream_clients.sh` sets
//! them up; `scripts/test.sh` exports them).

use idm_testkit::api::Api;
use idm_testkit::server::TestServer;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_kanidmd"))
}

fn required(var: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| panic!("{var} is not set: run the suite with scripts/test.sh"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_person_enrols_from_a_reset_link_and_signs_in_with_a_passkey_and_with_totp_in_chromium() {
    let python = required("KANIDM_PLAYWRIGHT_PYTHON");
    let chromium = required("KANIDM_CHROMIUM");
    let s = TestServer::start_for_browser(bin(), &[]);
    let api = Api::new(&s);
    let idm = api.login("idm_admin", &s.passwords["idm_admin"]).await.unwrap();
    let (c, b) =
        api.post("/v1/person", &idm, json!({"attrs": {"name": ["dana"], "displayname": ["Dana Scully"]}})).await;
    assert_eq!(c, 200, "{b}");
    let (_, reset) = api.reset_token(&idm, "dana", 3600).await;
    let link = format!("{}/ui/reset?token={}", s.url, reset["token"].as_str().unwrap());

    let shots = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/ui-screenshots");
    let _ = std::fs::remove_dir_all(&shots);
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/clients/browser_flow.py");
    let out = Command::new(&python)
        .arg(&script)
        .args([&s.url, &s.ca.display().to_string(), &link, "dana", "Trustno1-but-longer", &shots.display().to_string()])
        .env("KANIDM_CHROMIUM", &chromium)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python}: {e}"));
    let said = format!("{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the browser flow failed:\n{said}");
    assert!(said.contains("browser flow complete"), "{said}");

    // What the browser did is what the server holds.
    let (_, st) = api.get("/v1/person/dana/_credential/_status", &idm).await;
    assert_eq!(st["passkeys"][0]["tag"], json!("laptop"), "{st}");
    assert_eq!(st["creds"][0]["type_"]["PasswordMfa"][0], json!(["phone"]), "{st}");
    let (_, sessions) = api.get("/v1/account/dana/_user_auth_token", &idm).await;
    let mechs: Vec<&str> = sessions.as_array().into_iter().flatten().filter_map(|s| s["mechanism"].as_str()).collect();
    assert!(mechs.is_empty(), "both sessions the browser opened were signed out: {sessions}");
    for shot in ["01-reset-link", "03-passkey-enrol", "04-totp-enrol", "08-profile", "09-profile-phone", "12-refused"] {
        let f = shots.join(format!("{shot}.png"));
        let size = std::fs::metadata(&f).map(|m| m.len()).unwrap_or(0);
        assert!(size > 10_000, "{} is missing or blank ({size} bytes)", f.display());
    }
}
