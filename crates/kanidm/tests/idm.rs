//! Everyday administration through the real client: people, passwords and policy, groups and
//! nesting, validity dates, service accounts, the domain, and who may do what.

use idm_testkit::server::TestServer;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn kanidmd_bin() -> PathBuf {
    let p = Path::new(env!("CARGO_BIN_EXE_kanidm")).with_file_name("kanidmd");
    assert!(p.exists(), "{} is missing: build the workspace (cargo test --workspace)", p.display());
    p
}

struct Cli<'a> {
    s: &'a TestServer,
    home: tempfile::TempDir,
}

impl Cli<'_> {
    fn run_with(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let ca = self.s.ca.to_str().unwrap().to_string();
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["-H", &self.s.url, "-C", &ca]);
        let mut c = Command::new(env!("CARGO_BIN_EXE_kanidm"));
        c.args(&all).env("HOME", self.home.path()).env_remove("KANIDM_NAME").stdin(Stdio::null());
        for (k, v) in env {
            c.env(k, v);
        }
        c.output().unwrap()
    }

    fn ok_as(&self, who: &str, args: &[&str]) -> String {
        let mut all = args.to_vec();
        all.extend(["-D", who]);
        let o = self.run_with(&all, &[]);
        assert!(o.status.success(), "{who}: kanidm {args:?} failed: {}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    fn fails_as(&self, who: &str, args: &[&str]) -> String {
        let mut all = args.to_vec();
        all.extend(["-D", who]);
        let o = self.run_with(&all, &[]);
        assert!(!o.status.success(), "{who}: kanidm {args:?} should fail: {}", String::from_utf8_lossy(&o.stdout));
        String::from_utf8_lossy(&o.stderr).into_owned()
    }

    fn login(&self, who: &str, password: &str) -> Result<(), String> {
        let o = self.run_with(&["login", "-D", who], &[("KANIDM_PASSWORD", password)]);
        if o.status.success() { Ok(()) } else { Err(String::from_utf8_lossy(&o.stderr).into_owned()) }
    }

    fn set_password(&self, who: &str, target: &str, password: &str) -> Result<(), String> {
        let o = self.run_with(
            &["person", "credential", "set-password", target, "-D", who],
            &[("KANIDM_NEW_PASSWORD", password)],
        );
        if o.status.success() { Ok(()) } else { Err(String::from_utf8_lossy(&o.stderr).into_owned()) }
    }
}

#[test]
fn the_life_of_a_person() {
    let s = TestServer::start_with(&kanidmd_bin(), &["bob"]);
    let cli = Cli { s: &s, home: tempfile::tempdir().unwrap() };
    cli.login("idm_admin", &s.passwords["idm_admin"]).unwrap();
    cli.login("bob", &s.passwords["bob"]).unwrap();
    let idm = "idm_admin";

    cli.ok_as(idm, &["person", "create", "alice", "Alice Liddell"]);
    cli.ok_as(idm, &["person", "update", "alice", "--mail", "alice@example.com", "--legalname", "Alice L"]);
    let got = cli.ok_as(idm, &["person", "get", "alice"]);
    assert!(got.contains("displayname: Alice Liddell") && got.contains("mail: alice@example.com"), "{got}");
    let listed = cli.ok_as(idm, &["person", "list", "--search", "lidd"]);
    assert!(listed.contains("name: alice") && !listed.contains("name: bob"), "{listed}");

    // The password policy says why it refuses.
    for (pw, why) in
        [("short", "at least 10"), ("password123", "common passwords"), ("alice-in-wonderland", "account's name")]
    {
        let err = cli.set_password(idm, "alice", pw).unwrap_err();
        assert!(err.contains(why), "{pw}: {err}");
    }
    cli.set_password(idm, "alice", "correct horse battery staple").unwrap();
    cli.login("alice", "correct horse battery staple").unwrap();
    assert!(cli.ok_as("alice", &["self", "whoami"]).contains("alice@localhost"));

    // A one-time reset token lets alice choose a new password without logging in.
    let out = cli.ok_as(idm, &["person", "credential", "create-reset-token", "alice", "--ttl", "600"]);
    let token = out.lines().next().unwrap().rsplit(' ').next().unwrap().to_string();
    assert!(out.contains(&format!("/ui/reset?token={token}")), "the link to the web page: {out}");
    assert!(out.contains('█') || out.contains('▀'), "and its QR code: {out}");
    // The lifetime may also be given as upstream's CLI takes it, after the name.
    let again = cli.ok_as(idm, &["person", "credential", "create-reset-token", "alice", "120"]);
    let left: i64 = again
        .split("Valid for ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{again}"));
    assert!((100..=120).contains(&left), "{again}");
    let token = again.lines().next().unwrap().rsplit(' ').next().unwrap().to_string();
    let redeem =
        |pw: &str| cli.run_with(&["person", "credential", "use-reset-token", &token], &[("KANIDM_NEW_PASSWORD", pw)]);
    let o = redeem("short");
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("at least 10"));
    let o = redeem("through the looking glass");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    cli.login("alice", "through the looking glass").unwrap();
    let o = redeem("another fine passphrase");
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("not valid"), "a token works once");
    // A password set by someone else ends the holder's sessions.
    cli.set_password(idm, "alice", "correct horse battery staple").unwrap();
    assert!(cli.fails_as("alice", &["self", "whoami"]).contains("401"));
    cli.login("alice", "correct horse battery staple").unwrap();

    // Nested groups: alice is in inner, inner in outer.
    cli.ok_as(idm, &["group", "create", "inner", "--description", "Inner group"]);
    cli.ok_as(idm, &["group", "create", "outer"]);
    cli.ok_as(idm, &["group", "add-members", "inner", "alice"]);
    cli.ok_as(idm, &["group", "add-members", "outer", "inner"]);
    assert_eq!(cli.ok_as(idm, &["group", "list-members", "outer"]).trim(), "inner@localhost");
    let all = cli.ok_as(idm, &["group", "list-members", "outer", "--transitive"]);
    assert!(all.contains("alice@localhost") && all.contains("inner@localhost"), "{all}");
    let me = cli.ok_as("alice", &["self", "whoami", "-o", "json"]);
    assert!(me.contains("outer@localhost"), "alice sees her transitive membership: {me}");
    cli.ok_as(idm, &["group", "set-members", "inner", "bob"]);
    assert_eq!(cli.ok_as(idm, &["group", "list-members", "inner"]).trim(), "bob@localhost");
    cli.ok_as(idm, &["group", "remove-members", "inner", "bob"]);
    assert_eq!(cli.ok_as(idm, &["group", "list-members", "inner"]).trim(), "");

    // Validity dates are enforced at login.
    cli.ok_as(idm, &["person", "update", "alice", "--expire", "2001-01-01T00:00:00Z"]);
    let err = cli.login("alice", "correct horse battery staple").unwrap_err();
    assert!(err.contains("expired"), "{err}");
    cli.ok_as(idm, &["person", "update", "alice", "--expire", ""]);
    cli.ok_as(idm, &["person", "update", "alice", "--valid-from", "2999-01-01T00:00:00Z"]);
    let err = cli.login("alice", "correct horse battery staple").unwrap_err();
    assert!(err.contains("not valid yet"), "{err}");
    cli.ok_as(idm, &["person", "update", "alice", "--valid-from", ""]);
    cli.login("alice", "correct horse battery staple").unwrap();

    // Service accounts and the domain.
    cli.ok_as(idm, &["service-account", "create", "backup_agent", "Backup Agent", "outer"]);
    let agent = cli.ok_as(idm, &["service-account", "get", "backup_agent"]);
    assert!(agent.contains("class: service_account") && agent.contains("entry_managed_by: outer@localhost"), "{agent}");
    cli.ok_as(idm, &["group", "create", "managed", "--managed-by", "inner"]);
    assert!(cli.ok_as(idm, &["group", "get", "managed"]).contains("entry_managed_by: inner@localhost"));
    let dom = cli.ok_as(idm, &["domain", "show"]);
    assert!(
        dom.contains("name: localhost") && dom.contains("persons: 2") && dom.contains("service_accounts: 1"),
        "{dom}"
    );

    // Deleting moves the person to the recycle bin and removes its memberships.
    cli.ok_as(idm, &["group", "add-members", "inner", "alice"]);
    cli.ok_as(idm, &["person", "delete", "alice"]);
    assert!(cli.fails_as(idm, &["person", "get", "alice"]).contains("No matching entries"));
    assert_eq!(cli.ok_as(idm, &["group", "list-members", "outer", "--transitive"]).trim(), "inner@localhost");
    assert!(cli.login("alice", "correct horse battery staple").is_err());
    let bin = cli.ok_as(idm, &["recycle-bin", "list"]);
    assert!(bin.contains("name: alice") && bin.contains("recycled_at"), "{bin}");
    assert!(cli.ok_as(idm, &["recycle-bin", "get", "alice"]).contains("class: recycled"));
    // An ordinary person sees nothing in the bin and cannot revive.
    assert!(!cli.ok_as("bob", &["recycle-bin", "list"]).contains("alice"));
    assert!(cli.fails_as("bob", &["recycle-bin", "revive", "alice"]).contains("404"));
    // The bin remembers her groups; revived, alice is back in them and logs in again.
    let got = cli.ok_as(idm, &["recycle-bin", "get", "alice"]);
    assert!(got.contains("recycled_directmemberof: inner@localhost"), "{got}");
    cli.ok_as(idm, &["recycle-bin", "revive", "alice"]);
    cli.login("alice", "correct horse battery staple").unwrap();
    assert!(cli.ok_as(idm, &["person", "get", "alice"]).contains("spn: alice@localhost"));
    assert_eq!(cli.ok_as(idm, &["group", "list-members", "inner"]).trim(), "alice@localhost");
    assert!(cli.ok_as(idm, &["group", "list-members", "outer", "--transitive"]).contains("alice@localhost"));
    s.stop();
}

#[test]
fn ordinary_people_are_denied_administration() {
    let s = TestServer::start_with(&kanidmd_bin(), &["bob", "carol"]);
    let cli = Cli { s: &s, home: tempfile::tempdir().unwrap() };
    cli.login("bob", &s.passwords["bob"]).unwrap();
    cli.login("idm_admin", &s.passwords["idm_admin"]).unwrap();
    cli.ok_as("idm_admin", &["group", "create", "team"]);
    cli.ok_as("idm_admin", &["group", "add-members", "team", "carol"]);
    cli.ok_as("idm_admin", &["service-account", "create", "robot", "Robot"]);
    for args in [
        &["person", "create", "mallory", "Mallory"][..],
        &["person", "update", "carol", "--displayname", "Hacked"],
        &["person", "delete", "carol"],
        &["person", "update", "carol", "--mail", "carol@evil.example"],
        &["service-account", "create", "svc", "Svc"],
        &["service-account", "update", "robot", "--displayname", "Hacked"],
        &["service-account", "delete", "robot"],
        &["group", "create", "evil"],
        &["group", "add-members", "team", "bob"],
        &["group", "remove-members", "team", "carol"],
        &["group", "set-members", "team", "bob"],
        &["group", "delete", "team"],
        &["group", "add-members", "idm_admins", "bob"],
    ] {
        let err = cli.fails_as("bob", args);
        assert!(err.contains("403") || err.contains("404"), "{args:?}: {err}");
    }
    // ... and nothing changed.
    assert_eq!(cli.ok_as("idm_admin", &["group", "list-members", "team"]).trim(), "carol@localhost");
    assert!(cli.ok_as("idm_admin", &["service-account", "get", "robot"]).contains("displayname: Robot"));
    let err = cli.set_password("bob", "carol", "another long password").unwrap_err();
    assert!(err.contains("403") || err.contains("404"), "{err}");
    let err = cli.fails_as("bob", &["person", "credential", "create-reset-token", "carol"]);
    assert!(err.contains("403") || err.contains("404"), "{err}");
    // System administrators extend the list of refused passwords and the minimum length.
    cli.login("admin", &s.passwords["admin"]).unwrap();
    let mods = cli.home.path().join("policy.json");
    std::fs::write(
        &mods,
        r#"[{"present":["badlist_password","Tr0ub4dor&3 is mine"]},{"purged":"password_min_length"},{"present":["password_min_length","12"]}]"#,
    )
    .unwrap();
    let system_config = r#"{"eq":["uuid","00000000-0000-0000-0000-ffffff000027"]}"#;
    cli.ok_as("admin", &["raw", "modify", system_config, mods.to_str().unwrap()]);
    assert!(cli.set_password("bob", "bob", "Tr0ub4dor&3 is mine").unwrap_err().contains("common passwords"));
    assert!(cli.set_password("bob", "bob", "elevenchars").unwrap_err().contains("at least 12"));
    // ... which nobody else may do.
    assert!(cli.fails_as("idm_admin", &["raw", "modify", system_config, mods.to_str().unwrap()]).contains("403"));

    // Bob may change his own password, within the policy.
    assert!(cli.set_password("bob", "bob", "tiny").unwrap_err().contains("at least 12"));
    cli.set_password("bob", "bob", "a much better passphrase").unwrap();
    cli.login("bob", "a much better passphrase").unwrap();
    // idm_admin may not touch high-privilege accounts such as admin.
    let err = cli.set_password("idm_admin", "admin", "take over the system now").unwrap_err();
    assert!(err.contains("403") || err.contains("404"), "{err}");
    s.stop();
}

#[test]
fn sessions_locks_keys_and_reauthentication_from_the_cli() {
    let s = TestServer::start_with(&kanidmd_bin(), &["bob"]);
    let cli = Cli { s: &s, home: tempfile::tempdir().unwrap() };
    cli.login("idm_admin", &s.passwords["idm_admin"]).unwrap();
    cli.ok_as("idm_admin", &["person", "create", "erin", "Erin"]);
    cli.set_password("idm_admin", "erin", "a quiet first passphrase").unwrap();
    cli.login("erin", "a quiet first passphrase").unwrap();

    // A write from a read-only session re-authenticates by itself (here from KANIDM_PASSWORD)
    // and goes through; without a password to use, it says what to do.
    let o = cli.run_with(&["person", "update", "erin", "--displayname", "E", "-D", "erin"], &[]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("kanidm reauth"), "{}", String::from_utf8_lossy(&o.stderr));
    let o = cli.run_with(
        &["person", "update", "erin", "--displayname", "Erin E", "-D", "erin"],
        &[("KANIDM_PASSWORD", "a quiet first passphrase")],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(cli.ok_as("erin", &["self", "whoami"]).contains("Erin E"));
    // `kanidm reauth` on its own, and a wrong password is refused.
    let o = cli.run_with(&["reauth", "-D", "erin"], &[("KANIDM_PASSWORD", "not the passphrase")]);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("incorrect"));
    let o = cli.run_with(&["reauth", "-D", "erin"], &[("KANIDM_PASSWORD", "a quiet first passphrase")]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    // Sessions: listed with their mechanism and address, revoked one by one or all at once.
    cli.login("bob", &s.passwords["bob"]).unwrap();
    let listed = cli.ok_as("idm_admin", &["person", "session", "list", "bob"]);
    assert!(listed.contains("mechanism: generatedpassword") && listed.contains("client: 127.0.0.1"), "{listed}");
    let id = listed.lines().find_map(|l| l.strip_prefix("session_id: ")).unwrap().to_string();
    let out = cli.ok_as("idm_admin", &["person", "session", "revoke", "bob", &id]);
    assert!(out.contains("Revoked 1"), "{out}");
    assert!(cli.fails_as("bob", &["self", "whoami"]).contains("401"));
    cli.login("bob", &s.passwords["bob"]).unwrap();
    assert!(cli.ok_as("idm_admin", &["person", "session", "revoke", "bob", "--all"]).contains("Revoked 1"));

    // Lock and unlock; the credential status says what is pending.
    cli.login("bob", &s.passwords["bob"]).unwrap();
    cli.ok_as("idm_admin", &["person", "lock", "bob"]);
    assert!(cli.fails_as("bob", &["self", "whoami"]).contains("401"));
    assert!(cli.login("bob", &s.passwords["bob"]).unwrap_err().contains("expired"));
    cli.ok_as("idm_admin", &["person", "unlock", "bob"]);
    cli.login("bob", &s.passwords["bob"]).unwrap();
    cli.ok_as("idm_admin", &["person", "credential", "create-reset-token", "bob"]);
    let status = cli.ok_as("idm_admin", &["person", "credential", "status", "bob"]);
    assert!(status.contains("password: generated password") && status.contains("reset token: pending"), "{status}");
    assert!(status.contains("by idm_admin@localhost"), "{status}");

    // Signing keys, for system administrators.
    cli.login("admin", &s.passwords["admin"]).unwrap();
    let before = cli.ok_as("admin", &["system", "key", "list"]);
    assert_eq!(before.matches("status: active").count(), 1, "{before}");
    assert!(cli.ok_as("admin", &["system", "key", "rotate"]).contains("kid:"));
    let after = cli.ok_as("admin", &["system", "key", "list"]);
    assert!(after.contains("status: retired") && after.contains("verifies_until"), "{after}");
    assert!(cli.fails_as("idm_admin", &["system", "key", "rotate"]).contains("403"));
    assert!(cli.ok_as("bob", &["self", "whoami"]).contains("bob@localhost"), "sessions survive a rotation");
    s.stop();
}

#[test]
fn the_client_refuses_plain_http_and_trusts_every_ca_of_a_bundle() {
    let s = TestServer::start(&kanidmd_bin());
    let cli = Cli { s: &s, home: tempfile::tempdir().unwrap() };
    let plain = s.url.replace("https://", "http://");
    let o = Command::new(env!("CARGO_BIN_EXE_kanidm"))
        .args(["login", "-H", &plain, "-D", "admin"])
        .env("HOME", cli.home.path())
        .env("KANIDM_PASSWORD", &s.passwords["admin"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("https://"), "{}", String::from_utf8_lossy(&o.stderr));
    // Another CA first, the server's second: the server is still trusted.
    let other = idm_server::tls::generate_dev_certs(&["localhost".into()]).unwrap();
    let bundle = cli.home.path().join("bundle.pem");
    std::fs::write(&bundle, format!("{}{}", other.ca, std::fs::read_to_string(&s.ca).unwrap())).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_kanidm"))
        .args(["login", "-H", &s.url, "-C", bundle.to_str().unwrap(), "-D", "admin"])
        .env("HOME", cli.home.path())
        .env("KANIDM_PASSWORD", &s.passwords["admin"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    s.stop();
}

#[test]
fn service_account_api_tokens_from_the_cli() {
    let s = TestServer::start(&kanidmd_bin());
    let cli = Cli { s: &s, home: tempfile::tempdir().unwrap() };
    cli.login("idm_admin", &s.passwords["idm_admin"]).unwrap();
    cli.ok_as("idm_admin", &["service-account", "create", "robot", "Robot"]);
    let token = cli.ok_as("idm_admin", &["service-account", "api-token", "generate", "robot", "ci", "--read-write"]);
    let token = token.trim().to_string();
    // The token is a bearer token: any command runs with it, as the service account.
    let o = cli.run_with(&["self", "whoami"], &[("KANIDM_TOKEN", token.as_str())]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("robot@localhost"));
    let status = cli.ok_as("idm_admin", &["service-account", "api-token", "status", "robot"]);
    assert!(status.contains("label: ci") && status.contains("purpose: readwrite"), "{status}");
    let id = status.lines().find_map(|l| l.strip_prefix("token_id: ")).unwrap().to_string();
    cli.ok_as("idm_admin", &["service-account", "api-token", "destroy", "robot", &id]);
    let o = cli.run_with(&["self", "whoami"], &[("KANIDM_TOKEN", token.as_str())]);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("401"));
    assert!(cli.fails_as("idm_admin", &["person", "api-token", "status", "idm_admin"]).contains("service accounts"));
    s.stop();
}

/// The venv Python with pyotp, from `scripts/upstream_clients.sh`.
fn python_with_pyotp() -> PathBuf {
    let p = std::env::var_os("KANIDM_UPSTREAM_PYTHON").map(PathBuf::from).unwrap_or_else(|| {
        let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default();
        home.join(".cache/idm-upstream/pykanidm-1.3.0/bin/python")
    });
    assert!(p.exists(), "{} is missing: run scripts/upstream_clients.sh", p.display());
    p
}

#[test]
fn credentials_are_updated_interactively_and_a_totp_signs_in() {
    let s = TestServer::start(&kanidmd_bin());
    let cli = Cli { s: &s, home: tempfile::tempdir().unwrap() };
    cli.login("idm_admin", &s.passwords["idm_admin"]).unwrap();
    cli.ok_as("idm_admin", &["person", "create", "fred", "Fred"]);
    let pw = "Qd6*orchard-signal-tide";
    let typed = format!("{pw}\r");

    // In a terminal: the password, a TOTP from its QR code's secret (the code typed is
    // pyotp's), backup codes, then commit.
    let pty = Path::new(env!("CARGO_MANIFEST_DIR")).join("../kanidmd/tests/clients/pty_run.py");
    let prompt = "credential update> ";
    let steps = [
        (prompt, "pw\r"),
        ("New password: ", typed.as_str()),
        ("Repeat it: ", typed.as_str()),
        (prompt, "totp\r"),
        ("Label for this authenticator: ", "phone\r"),
        ("Code shown by the app", "@totp"),
        ("TOTP 'phone' added", ""),
        (prompt, "bcg\r"),
        ("shown only now", ""),
        (prompt, "commit\r"),
        ("Saved.", ""),
    ];
    let ca = s.ca.to_str().unwrap();
    let o = Command::new(python_with_pyotp())
        .arg(&pty)
        .arg(env!("CARGO_BIN_EXE_kanidm"))
        .args(["person", "credential", "update", "fred", "-H", &s.url, "-C", ca, "-D", "idm_admin"])
        .env("HOME", cli.home.path())
        .env("PTY_DIALOG", serde_json::to_string(&steps).unwrap())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout).replace("\r\n", "\n");
    assert!(o.status.success(), "{out}\n{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.contains("otpauth://totp/localhost:fred?secret=") && out.contains('█'), "a QR code: {out}");
    let secret = out.split("Secret: ").nth(1).and_then(|r| r.split_whitespace().next()).unwrap().to_string();
    let status = cli.ok_as("idm_admin", &["person", "credential", "status", "fred", "-o", "json"]);
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert_eq!(status["creds"][0]["type_"]["PasswordMfa"], serde_json::json!([["phone"], [], 8]), "{status}");

    // Signing in needs the code as well (the next step's: the current one was used to enrol).
    let next = Command::new(python_with_pyotp())
        .args(["-c", "import pyotp, sys, time; print(pyotp.TOTP(sys.argv[1]).at(int(time.time()) + 30))", &secret])
        .output()
        .unwrap();
    let code = String::from_utf8_lossy(&next.stdout).trim().to_string();
    let o = cli.run_with(&["login", "-D", "fred"], &[("KANIDM_PASSWORD", pw)]);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("KANIDM_TOTP"), "{o:?}");
    let o = cli.run_with(&["login", "-D", "fred"], &[("KANIDM_PASSWORD", pw), ("KANIDM_TOTP", &code)]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(cli.ok_as("fred", &["self", "whoami"]).contains("fred@localhost"));

    // From standard input, one command per line: a refused change is reported and the
    // session goes on; cancel leaves everything as it was.
    let mut c = Command::new(env!("CARGO_BIN_EXE_kanidm"));
    c.args(["person", "credential", "update", "fred", "-H", &s.url, "-C", ca, "-D", "idm_admin"])
        .env("HOME", cli.home.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"trm tablet\ntrm phone\nstatus\ncancel\n").unwrap();
    let o = child.wait_with_output().unwrap();
    let (out, err) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(o.status.success(), "{out}\n{err}");
    assert!(err.contains("no TOTP is labelled 'tablet'"), "{err}");
    assert!(out.contains("TOTP 'phone' removed") && out.contains("Cancelled"), "{out}");
    let status = cli.ok_as("idm_admin", &["person", "credential", "status", "fred", "-o", "json"]);
    assert!(status.contains("PasswordMfa"), "cancel changed nothing: {status}");
    s.stop();
}

#[test]
fn oauth2_clients_from_the_cli() {
    let s = TestServer::start_with(&kanidmd_bin(), &["bob"]);
    let cli = Cli { s: &s, home: tempfile::tempdir().unwrap() };
    cli.login("idm_admin", &s.passwords["idm_admin"]).unwrap();
    cli.login("bob", &s.passwords["bob"]).unwrap();
    let oauth2 = |who: &str, args: &[&str]| {
        let mut all = vec!["system", "oauth2"];
        all.extend_from_slice(args);
        cli.ok_as(who, &all)
    };
    let refused = |who: &str, args: &[&str]| {
        let mut all = vec!["system", "oauth2"];
        all.extend_from_slice(args);
        cli.fails_as(who, &all)
    };
    // idm_admin is one of idm_oauth2_admins (through idm_admins).
    oauth2("idm_admin", &["create", "wiki", "The Wiki", "https://wiki.example.com/"]);
    oauth2("idm_admin", &["create-public", "cli-app", "A CLI app", "https://app.example.com/"]);
    let got = oauth2("idm_admin", &["get", "wiki"]);
    for shown in ["displayname: The Wiki", "oauth2_rs_origin_landing: https://wiki.example.com/", "spn: wiki@localhost"]
    {
        assert!(got.contains(shown), "{shown}: {got}");
    }
    assert!(got.contains("oauth2_rs_basic_secret: (hidden)"), "the secret is never shown by get: {got}");
    let secret = oauth2("idm_admin", &["show-basic-secret", "wiki"]).trim().to_string();
    assert_eq!(secret.len(), 48, "{secret}");
    assert!(secret.chars().all(|c| c.is_ascii_alphanumeric()), "{secret}");
    oauth2("idm_admin", &["reset-secrets", "wiki"]);
    let new = oauth2("idm_admin", &["show-basic-secret", "wiki"]).trim().to_string();
    assert!(new.len() == 48 && new != secret, "a new secret");
    assert!(refused("idm_admin", &["show-basic-secret", "cli-app"]).contains("public client"));
    // Redirect URIs: added, matched exactly later; a fragment is refused, naming it.
    oauth2("idm_admin", &["add-redirect-url", "wiki", "https://wiki.example.com/oauth2/callback"]);
    assert!(
        oauth2("idm_admin", &["get", "wiki"]).contains("oauth2_rs_origin: https://wiki.example.com/oauth2/callback")
    );
    let err = refused("idm_admin", &["add-redirect-url", "wiki", "https://wiki.example.com/cb#x"]);
    assert!(err.contains("fragment"), "{err}");
    oauth2("idm_admin", &["remove-redirect-url", "wiki", "https://wiki.example.com/oauth2/callback"]);
    assert!(!oauth2("idm_admin", &["get", "wiki"]).contains("oauth2_rs_origin:"));
    oauth2("idm_admin", &["set-displayname", "wiki", "Team Wiki"]);
    oauth2("idm_admin", &["set-landing-url", "wiki", "https://wiki.example.com/start"]);
    let got = oauth2("idm_admin", &["get", "wiki"]);
    assert!(got.contains("displayname: Team Wiki") && got.contains("https://wiki.example.com/start"), "{got}");
    let list = oauth2("idm_admin", &["list"]);
    assert!(list.contains("name: wiki") && list.contains("name: cli-app"), "{list}");
    // Scope maps: which groups may use the client, and with which scopes; one map per group.
    cli.ok_as("idm_admin", &["group", "create", "wiki_users"]);
    oauth2("idm_admin", &["update-scope-map", "wiki", "wiki_users", "openid", "email", "profile"]);
    let got = oauth2("idm_admin", &["get", "wiki"]);
    assert!(got.contains(r#"oauth2_rs_scope_map: wiki_users@localhost: {"email", "openid", "profile"}"#), "{got}");
    oauth2("idm_admin", &["update-scope-map", "wiki", "wiki_users", "openid"]);
    let got = oauth2("idm_admin", &["get", "wiki"]);
    assert!(got.contains(r#"wiki_users@localhost: {"openid"}"#) && !got.contains("email"), "replaced: {got}");
    oauth2("idm_admin", &["update-sup-scope-map", "wiki", "wiki_users", "groups"]);
    assert!(
        oauth2("idm_admin", &["get", "wiki"]).contains(r#"oauth2_rs_sup_scope_map: wiki_users@localhost: {"groups"}"#)
    );
    let err = refused("idm_admin", &["update-scope-map", "wiki", "wiki_users", "not a scope!"]);
    assert!(err.contains("not an OAuth2 scope"), "{err}");
    let err = refused("idm_admin", &["update-scope-map", "wiki", "nobody_group", "openid"]);
    assert!(err.contains("no group called 'nobody_group'"), "{err}");
    oauth2("idm_admin", &["delete-sup-scope-map", "wiki", "wiki_users"]);
    assert!(!oauth2("idm_admin", &["get", "wiki"]).contains("oauth2_rs_sup_scope_map"));
    // Claim maps: a custom claim's values per group, joined one way per claim.
    oauth2("idm_admin", &["update-claim-map", "wiki", "team", "wiki_users", "engineering", "wiki"]);
    let got = oauth2("idm_admin", &["get", "wiki"]);
    assert!(got.contains(r#"oauth2_rs_claim_map: team:wiki_users@localhost:array:"engineering,wiki""#), "{got}");
    oauth2("idm_admin", &["update-claim-map-join", "wiki", "team", "csv"]);
    assert!(oauth2("idm_admin", &["get", "wiki"]).contains(r#"team:wiki_users@localhost:csv:"engineering,wiki""#));
    let err = refused("idm_admin", &["update-claim-map", "wiki", "team", "wiki_users", "a,b"]);
    assert!(err.contains("cannot hold commas"), "{err}");
    assert!(refused("idm_admin", &["update-claim-map-join", "wiki", "nothing", "csv"]).contains("no values yet"));
    assert!(refused("idm_admin", &["update-claim-map-join", "wiki", "team", "sideways"]).contains("not a join"));
    oauth2("idm_admin", &["delete-claim-map", "wiki", "team", "wiki_users"]);
    assert!(!oauth2("idm_admin", &["get", "wiki"]).contains("oauth2_rs_claim_map"));
    oauth2("idm_admin", &["update-claim-map", "wiki", "team", "wiki_users", "engineering"]);
    // Deleting the group takes its maps with it.
    cli.ok_as("idm_admin", &["group", "delete", "wiki_users"]);
    let got = oauth2("idm_admin", &["get", "wiki"]);
    assert!(!got.contains("oauth2_rs_scope_map") && !got.contains("oauth2_rs_claim_map"), "gone with the group: {got}");
    // An ordinary person sees a client's name (names are public, as every entry's are), not
    // its URLs or secret, and changes nothing.
    let seen = oauth2("bob", &["list"]);
    assert!(seen.contains("name: wiki") && !seen.contains("https://") && !seen.contains("secret"), "{seen}");
    for args in [
        &["create", "evil", "Evil", "https://evil.example/"][..],
        &["show-basic-secret", "wiki"],
        &["reset-secrets", "wiki"],
        &["delete", "wiki"],
    ] {
        refused("bob", args);
    }
    oauth2("idm_admin", &["delete", "cli-app"]);
    assert!(!oauth2("idm_admin", &["list"]).contains("cli-app"));
    s.stop();
}
