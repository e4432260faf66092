//! The published clients — the `kanidm` CLI (kanidm_tools 1.10.4 from crates.io) and the
//! Python `kanidm` 1.3.0 from PyPI, installed by `scripts/upstream_clients.sh` into a cache
//! outside the work tree — against our server; effects are checked with our own API calls.

use idm_testkit::api::Api;
use idm_testkit::server::TestServer;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A published client installed by `scripts/upstream_clients.sh`: from `var`, else its cache.
fn installed(var: &str, cached: &str) -> PathBuf {
    let p = std::env::var_os(var).map(PathBuf::from).unwrap_or_else(|| {
        let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default();
        home.join(".cache/idm-upstream").join(cached)
    });
    assert!(
        p.exists(),
        "{} is missing: run scripts/upstream_clients.sh (or the whole suite with scripts/test.sh)",
        p.display()
    );
    p
}

fn upstream_cli() -> PathBuf {
    installed("KANIDM_UPSTREAM_CLI", "kanidm-1.10.4/bin/kanidm")
}

struct Upstream<'a> {
    bin: PathBuf,
    s: &'a TestServer,
    home: tempfile::TempDir,
}

impl Upstream<'_> {
    fn run(&self, who: &str, args: &[&str], password: Option<&str>) -> Output {
        let ca = self.s.ca.to_str().unwrap().to_string();
        let mut c = Command::new(&self.bin);
        c.args(args)
            .args(["-H", &self.s.url, "-C", &ca, "-D", who])
            .env("HOME", self.home.path())
            .env("RUST_LOG", "error")
            .env_remove("KANIDM_NAME")
            .stdin(Stdio::null());
        if let Some(pw) = password {
            c.env("KANIDM_PASSWORD", pw);
        }
        c.output().unwrap()
    }

    /// Runs a command that must succeed; its standard output.
    fn ok(&self, who: &str, args: &[&str]) -> String {
        let o = self.run(who, args, None);
        let (out, err) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        assert!(o.status.success(), "kanidm {args:?} as {who} failed:\n{out}\n{err}");
        assert!(!err.contains("ERROR"), "kanidm {args:?} as {who} reported an error:\n{out}\n{err}");
        out.into_owned()
    }

    /// Runs an interactive command in a pseudo-terminal, typing each reply once its prompt
    /// has appeared (`tests/clients/pty_run.py`); its output, after asserting it succeeded.
    fn dialog(&self, who: &str, args: &[&str], steps: &[(&str, &str)]) -> String {
        let pty = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/pty_run.py");
        let ca = self.s.ca.to_str().unwrap().to_string();
        // The venv's Python: it has pyotp, for replies that type TOTP codes.
        let o = Command::new(installed("KANIDM_UPSTREAM_PYTHON", "pykanidm-1.3.0/bin/python"))
            .arg(pty)
            .arg(&self.bin)
            .args(args)
            .args(["-H", &self.s.url, "-C", &ca, "-D", who])
            .env("HOME", self.home.path())
            .env("RUST_LOG", "error")
            .env("PTY_DIALOG", serde_json::to_string(steps).unwrap())
            .env_remove("KANIDM_NAME")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        // A terminal ends lines with CR LF.
        let out = String::from_utf8_lossy(&o.stdout).replace("\r\n", "\n");
        assert!(o.status.success(), "kanidm {args:?} as {who} failed:\n{out}\n{}", String::from_utf8_lossy(&o.stderr));
        out
    }
}

/// The token the upstream CLI cached (its token store: `instances."".tokens`).
fn cached_token(up: &Upstream<'_>) -> String {
    let text = std::fs::read_to_string(up.home.path().join(".cache/kanidm_tokens")).unwrap();
    let store: serde_json::Value = serde_json::from_str(&text).unwrap();
    store["instances"][""]["tokens"]["idm_admin@localhost"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_published_kanidm_cli_works_against_our_server() {
    let s = TestServer::start(Path::new(env!("CARGO_BIN_EXE_kanidmd")));
    let up = Upstream { bin: upstream_cli(), s: &s, home: tempfile::tempdir().unwrap() };
    let api = Api::new(&s);
    let idm = api.login("idm_admin", &s.passwords["idm_admin"]).await.unwrap();
    let entry = |path: String| {
        let (api, idm) = (api.clone(), idm.clone());
        async move { api.get(&path, &idm).await.1 }
    };

    // Login verifies our ES256 token with the key it fetches from /v1/jwk; whoami uses it.
    let o = up.run("idm_admin", &["login"], Some(&s.passwords["idm_admin"]));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("Login Success for idm_admin@localhost"));
    assert!(up.ok("idm_admin", &["self", "whoami"]).contains("spn: idm_admin@localhost"));
    let sessions = up.ok("idm_admin", &["session", "list"]);
    assert!(sessions.contains("idm_admin@localhost") && sessions.contains("read write"), "{sessions}");
    // Re-authenticating gets a new token for the same session, which the CLI verifies again.
    let before = idm_client::read_token(&cached_token(&up)).unwrap();
    let o = up.run("idm_admin", &["reauth"], Some(&s.passwords["idm_admin"]));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let after = idm_client::read_token(&cached_token(&up)).unwrap();
    assert_eq!(after.session_id, before.session_id, "the same session");
    assert!(after.privileged_at(time::OffsetDateTime::now_utc().unix_timestamp() + 60), "{after:?}");

    // People.
    up.ok("idm_admin", &["person", "create", "alice", "Alice Liddell"]);
    assert_eq!(entry("/v1/person/alice".into()).await["attrs"]["displayname"], json!(["Alice Liddell"]));
    assert!(up.ok("idm_admin", &["person", "get", "alice"]).contains("spn: alice@localhost"));
    assert!(up.ok("idm_admin", &["person", "list"]).contains("name: alice"));
    assert!(up.ok("idm_admin", &["person", "search", "lidd"]).contains("name: alice"));
    up.ok("idm_admin", &["person", "update", "alice", "--displayname", "Alice L", "--mail", "alice@example.com"]);
    let alice = entry("/v1/person/alice".into()).await;
    assert_eq!(alice["attrs"]["displayname"], json!(["Alice L"]), "{alice}");
    assert_eq!(alice["attrs"]["mail"], json!(["alice@example.com"]), "{alice}");

    // Groups.
    up.ok("idm_admin", &["group", "create", "staff"]);
    up.ok("idm_admin", &["group", "add-members", "staff", "alice"]);
    assert_eq!(entry("/v1/group/staff/_attr/member".into()).await, json!(["alice@localhost"]));
    assert!(up.ok("idm_admin", &["group", "list-members", "staff"]).contains("alice@localhost"));
    up.ok("idm_admin", &["group", "remove-members", "staff", "alice"]);
    assert_eq!(entry("/v1/group/staff/_attr/member".into()).await, json!(null));
    up.ok("idm_admin", &["group", "delete", "staff"]);
    assert_eq!(entry("/v1/group/staff".into()).await, json!(null));

    // A service account managed by a group, an API token for it, and a command run with that
    // token (put into the CLI's token store, where a login would put a session's).
    up.ok("idm_admin", &["service-account", "create", "robot", "Robot", "idm_admins"]);
    let robot = entry("/v1/service_account/robot".into()).await;
    assert_eq!(robot["attrs"]["entry_managed_by"], json!(["idm_admins@localhost"]), "{robot}");
    let out = up.ok("idm_admin", &["service-account", "api-token", "generate", "robot", "ci token", "--readwrite"]);
    let api_token = out.split_whitespace().find(|w| w.matches('.').count() == 2 && w.len() > 100).unwrap();
    assert!(up.ok("idm_admin", &["service-account", "api-token", "status", "robot"]).contains("ci token"));
    let store_path = up.home.path().join(".cache/kanidm_tokens");
    let mut store: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&store_path).unwrap()).unwrap();
    store["instances"][""]["tokens"]["robot@localhost"] = json!(api_token);
    std::fs::write(&store_path, store.to_string()).unwrap();
    assert!(up.ok("robot@localhost", &["self", "whoami"]).contains("spn: robot@localhost"));
    let listed = entry("/v1/service_account/robot/_api_token".into()).await;
    let token_id = listed[0]["token_id"].as_str().unwrap().to_string();
    assert!(up.ok("idm_admin", &["service-account", "api-token", "destroy", "robot", &token_id]).contains("Success"));
    let o = up.run("robot@localhost", &["self", "whoami"], None);
    let refused = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(!refused.contains("spn: robot@localhost"), "a destroyed API token works no more: {refused}");

    // Server settings (`/v1/system`): the password badlist, as a system administrator.
    let o = up.run("admin", &["login"], Some(&s.passwords["admin"]));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let words = up.home.path().join("badlist.txt");
    std::fs::write(&words, "Zq8#vLp2!mW9xR4t\n").unwrap();
    up.ok("admin", &["system", "pw-badlist", "upload", words.to_str().unwrap()]);
    assert!(up.ok("admin", &["system", "pw-badlist", "show"]).contains("zq8#vlp2!mw9xr4t"));
    let admin = api.login("admin", &s.passwords["admin"]).await.unwrap();
    let (_, listed) = api.get("/v1/system/_attr/badlist_password", &admin).await;
    assert!(listed.to_string().contains("zq8#vlp2!mw9xr4t"), "{listed}");

    // The domain, and a reset token.
    assert!(up.ok("idm_admin", &["system", "domain", "show"]).contains("domain_name: localhost"));
    let out = up.ok("idm_admin", &["person", "credential", "create-reset-token", "alice"]);
    assert!(out.contains("kanidm person credential use-reset-token"), "{out}");
    // The link it prints opens this server's reset page, holding the token.
    let link =
        out.split_whitespace().find(|w| w.contains("/ui/reset?token=")).unwrap_or_else(|| panic!("no link: {out}"));
    let token = link.rsplit("token=").next().unwrap_or_default();
    let page = idm_testkit::web::Web::new(&s).get(&format!("/ui/reset?token={token}")).await;
    assert!(page.status == 200 && page.body.contains(&format!("value=\"{token}\"")), "{}", page.body);
    let status = entry("/v1/person/alice/_credential/_status".into()).await;
    assert!(status["reset_token"].is_object(), "{status}");

    // OAuth2 clients, as the published CLI manages them.
    let oauth2 = |args: &[&str]| {
        let mut all = vec!["system", "oauth2"];
        all.extend_from_slice(args);
        up.ok("idm_admin", &all)
    };
    oauth2(&["create", "forge", "The Forge", "https://forge.example.com/"]);
    oauth2(&["add-redirect-url", "forge", "https://forge.example.com/oauth2/callback"]);
    up.ok("idm_admin", &["group", "create", "forge_users"]);
    oauth2(&["update-scope-map", "forge", "forge_users", "openid", "profile"]);
    oauth2(&["update-claim-map", "forge", "forge_role", "forge_users", "developer"]);
    oauth2(&["update-claim-map-join", "forge", "forge_role", "ssv"]);
    let got = oauth2(&["get", "forge"]);
    for shown in [
        "The Forge",
        "https://forge.example.com/",
        "https://forge.example.com/oauth2/callback",
        "forge_users@localhost",
        "forge_role",
    ] {
        assert!(got.contains(shown), "{shown}: {got}");
    }
    let secret = oauth2(&["show-basic-secret", "forge"]);
    let (_, ours) = api.get("/v1/oauth2/forge/_basic_secret", &idm).await;
    assert!(ours.as_str().is_some_and(|s| s.len() == 48 && secret.contains(s)), "{secret} / {ours}");
    assert!(oauth2(&["list"]).contains("forge"));
    oauth2(&["delete", "forge"]);
    assert!(!oauth2(&["list"]).contains("forge"));

    // A password set through a credential update session, in the CLI's interactive menu:
    // begin, status (the menu's first screen), set the password, commit.
    let alice_pw = "Vq4#tunnel-orchid-ledger";
    let typed = format!("{alice_pw}\r");
    let menu = "cred update (? for help) # ";
    let out = up.dialog(
        "idm_admin",
        &["person", "credential", "update", "alice"],
        &[
            (menu, "pw\r"),
            ("New password", &typed),
            ("Confirm password", &typed),
            ("Successfully reset password.", ""),
            (menu, "status\r"),
            ("Can Commit: true", ""),
            (menu, "commit\r"),
            ("Do you want to commit your changes?", "y"),
            ("Success - Changes have been saved.", ""),
        ],
    );
    assert!(out.contains("Primary Credential:\n  not set") && out.contains("password: set"), "{out}");
    assert!(api.login("alice", alice_pw).await.is_ok(), "the committed password signs alice in");

    // SCIM through `kanidm raw`: the CLI parses the filter, prints it back fully parenthesised
    // in the query, and reads our list response.
    let found: serde_json::Value =
        serde_json::from_str(&up.ok("idm_admin", &["raw", "search", r#"name eq "alice" or name eq "idm_admins""#]))
            .unwrap();
    assert_eq!(found["totalResults"], json!(2), "{found}");
    let names: Vec<_> = found["resources"].as_array().unwrap().iter().map(|e| e["name"].clone()).collect();
    assert!(names.contains(&json!("alice")) && names.contains(&json!("idm_admins")), "{found}");
    let files = tempfile::tempdir().unwrap();
    let file = |name: &str, body: serde_json::Value| {
        let p = files.path().join(name);
        std::fs::write(&p, body.to_string()).unwrap();
        p.to_str().unwrap().to_string()
    };
    let create = file("create.json", json!({"class": ["object", "group"], "name": "rawgroup", "description": "raw"}));
    up.ok("idm_admin", &["raw", "create", &create]);
    let group = entry("/v1/group/rawgroup".into()).await;
    assert_eq!(group["attrs"]["description"], json!(["raw"]), "{group}");
    let uuid = group["attrs"]["uuid"][0].as_str().unwrap().to_string();
    let update = file("update.json", json!({"id": uuid, "description": null, "member": ["alice"]}));
    up.ok("idm_admin", &["raw", "update", &update]);
    let group = entry("/v1/group/rawgroup".into()).await;
    assert_eq!(group["attrs"]["member"], json!(["alice@localhost"]), "{group}");
    assert!(group["attrs"].get("description").is_none(), "null removed it: {group}");
    let found: serde_json::Value =
        serde_json::from_str(&up.ok("idm_admin", &["raw", "search", r#"member eq "alice" and class eq "group""#]))
            .unwrap();
    assert_eq!(found["resources"][0]["id"], json!(uuid), "{found}");
    assert_eq!(found["resources"][0]["member"][0]["value"], json!("alice@localhost"), "{found}");
    up.ok("idm_admin", &["raw", "delete", "rawgroup"]);
    assert_eq!(entry("/v1/group/rawgroup".into()).await, json!(null));

    // Deleting, then logging out (the session is revoked on the server).
    up.ok("idm_admin", &["person", "delete", "alice"]);
    assert_eq!(entry("/v1/person/alice".into()).await, json!(null));
    let token_sessions = entry("/v1/account/idm_admin/_user_auth_token".into()).await;
    let before = token_sessions.as_array().unwrap().len();
    up.ok("idm_admin", &["logout"]);
    let after = entry("/v1/account/idm_admin/_user_auth_token".into()).await.as_array().unwrap().len();
    assert_eq!(after + 1, before, "logout revoked the CLI's session");
    s.stop();
}

/// Enrols a passkey labelled "laptop" for `name` with a software authenticator; its uuid.
async fn enrol_soft_passkey(api: &Api, idm: &str, name: &str) -> String {
    let (_, open) = api.get(&format!("/v1/person/{name}/_credential/_update"), idm).await;
    let cu = open[0].clone();
    let (_, st) = api.post("/v1/credential/_update", "", json!(["passkeyinit", cu])).await;
    let mut key = webauthn_authenticator_rs::softpasskey::SoftPasskey::new(true);
    let answer = idm_testkit::soft_register(&mut key, "https://localhost:8443", &st["mfaregstate"]["Passkey"]);
    let (_, st) = api.post("/v1/credential/_update", "", json!([{ "passkeyfinish": ["laptop", answer] }, cu])).await;
    assert_eq!(api.post("/v1/credential/_commit", "", cu).await.0, 200);
    st["passkeys"][0]["uuid"].as_str().unwrap().to_string()
}

/// The words of `out` shaped like the server's backup codes (`xxxx-xxxx-xxxx`).
fn backup_codes_in(out: &str) -> Vec<String> {
    out.split_whitespace()
        .filter(|w| {
            let parts: Vec<&str> = w.split('-').collect();
            parts.len() == 3 && parts.iter().all(|p| p.len() == 4 && p.chars().all(|c| c.is_ascii_alphanumeric()))
        })
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_published_cli_enrols_a_totp_and_backup_codes_and_logs_in_with_them() {
    let s = TestServer::start(Path::new(env!("CARGO_BIN_EXE_kanidmd")));
    let up = Upstream { bin: upstream_cli(), s: &s, home: tempfile::tempdir().unwrap() };
    let api = Api::new(&s);
    let idm = api.login("idm_admin", &s.passwords["idm_admin"]).await.unwrap();
    let carol_pw = "Hx3$quarry-velvet-ember";
    api.post("/v1/person", &idm, json!({"attrs": {"name": ["carol"], "displayname": ["Carol"]}})).await;
    assert_eq!(api.set_password(&idm, "carol", carol_pw).await.0, 200);
    let o = up.run("idm_admin", &["login"], Some(&s.passwords["idm_admin"]));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // A passkey (enrolled with a software authenticator) for the menu to remove.
    let passkey = enrol_soft_passkey(&api, &idm, "carol").await;

    // The menu's TOTP enrolment: the CLI shows the secret (and its QR code); the code typed is
    // pyotp's for that secret. Then backup codes, and commit.
    let menu = "cred update (? for help) # ";
    let passkey_typed = format!("{passkey}\r");
    let out = up.dialog(
        "idm_admin",
        &["person", "credential", "update", "carol"],
        &[
            (menu, "totp\r"),
            ("TOTP Label", "phone\r"),
            ("Enter a TOTP from your authenticator", ""),
            ("TOTP: ", "@totp"),
            ("success", ""),
            (menu, "bcg\r"),
            ("They will only be displayed ONCE", ""),
            (menu, "pkrm\r"),
            ("Enter the UUID of the Passkey to remove", &passkey_typed),
            ("success", ""),
            (menu, "commit\r"),
            ("Do you want to commit your changes?", "y"),
            ("Success - Changes have been saved.", ""),
        ],
    );
    let secret = out.split("Secret: ").nth(1).and_then(|r| r.split_whitespace().next()).unwrap().to_string();
    assert!(out.contains("otpauth://totp/localhost:carol?secret="), "{out}");
    let codes = backup_codes_in(&out);
    assert_eq!(codes.len(), 8, "{out}");
    let (_, status) = api.get("/v1/person/carol/_credential/_status", &idm).await;
    assert_eq!(status["creds"][0]["type_"]["PasswordMfa"], json!([["phone"], [], 8]), "{status}");
    assert!(out.contains(&format!("laptop ({passkey})")), "the menu listed the passkey: {out}");
    let (_, open) = api.get("/v1/person/carol/_credential/_update", &idm).await;
    assert_eq!(open[1]["passkeys"], json!([]), "the passkey was removed: {open}");
    assert_eq!(api.post("/v1/credential/_cancel", "", open[0].clone()).await.0, 200);

    // `kanidm login` with TOTP then password (offered first), and with a backup code.
    let login = |steps: &[(&str, &str)]| up.dialog("carol", &["login"], steps);
    let next_code = format!("@totp-next:{secret}");
    let typed_pw = format!("{carol_pw}\r");
    let out = login(&[
        ("Please choose how you want to authenticate", "\r"),
        ("Enter TOTP: ", &next_code),
        ("Enter password", &typed_pw),
        ("Login Success for carol@localhost", ""),
    ]);
    assert!(up.ok("carol", &["self", "whoami"]).contains("spn: carol@localhost"), "{out}");
    let typed_code = format!("{}\r", codes[0]);
    login(&[
        ("Please choose how you want to authenticate", "\x1b[B\r"),
        ("Enter Backup Code: ", &typed_code),
        ("Enter password", &typed_pw),
        ("Login Success for carol@localhost", ""),
    ]);
    let (_, status) = api.get("/v1/person/carol/_credential/_status", &idm).await;
    assert_eq!(status["creds"][0]["type_"]["PasswordMfa"][2], json!(7), "the code was used: {status}");
    s.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_published_python_client_works_against_our_server() {
    let s = TestServer::start(Path::new(env!("CARGO_BIN_EXE_kanidmd")));
    let python = installed("KANIDM_UPSTREAM_PYTHON", "pykanidm-1.3.0/bin/python");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/pykanidm_basic.py");
    let o = Command::new(python)
        .arg(script)
        .args([s.url.as_str(), s.ca.to_str().unwrap(), s.passwords["idm_admin"].as_str()])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{out}\n{}", String::from_utf8_lossy(&o.stderr));
    for step in ["login ok", "person ok", "group ok", "service account ok", "oauth2 ok", "deletes ok"] {
        assert!(out.contains(step), "{step} missing:\n{out}");
    }
    // What it created it also deleted: on the server, nothing is left of it.
    let api = Api::new(&s);
    let idm = api.login("idm_admin", &s.passwords["idm_admin"]).await.unwrap();
    for path in ["/v1/person/pyperson", "/v1/group/pygroup", "/v1/service_account/pyrobot", "/v1/oauth2/pyapp"] {
        assert_eq!(api.get(path, &idm).await, (200, json!(null)), "{path}");
    }
    let (_, bin) = api.get("/v1/recycle_bin", &idm).await;
    assert!(bin.to_string().contains("pyperson"), "the deletes went to the recycle bin: {bin}");
    s.stop();
}

/// The 2022 CLI (kanidm_tools 1.1.0-alpha.8), run in a pseudo-terminal: it reads passwords
/// from the terminal only.
struct Cli2022<'a> {
    bin: PathBuf,
    s: &'a TestServer,
    home: tempfile::TempDir,
}

impl Cli2022<'_> {
    fn run(&self, args: &[&str], password: &str) -> (bool, String) {
        let pty = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/pty_run.py");
        let o = Command::new("python3")
            .arg(pty)
            .arg(&self.bin)
            .args(args)
            .env("HOME", self.home.path())
            .env("PTY_PASSWORD", password)
            .env("RUST_LOG", "error")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        (o.status.success(), String::from_utf8_lossy(&o.stdout).into_owned())
    }

    /// A document command line: its `-H`/`-C` pointed at the test server.
    fn doc(&self, line: &str) -> (bool, String) {
        let line = line
            .replace("https://localhost:8443", &self.s.url)
            .replace("../insecure/ca.pem", self.s.ca.to_str().unwrap());
        let words = shell_words(&line);
        let args: Vec<&str> = words.iter().skip(1).map(String::as_str).collect();
        self.run(&args, "")
    }
}

/// Splits a command line as a shell would for the document's lines: words, and single-quoted
/// strings kept whole.
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut rest = line.trim();
    while !rest.is_empty() {
        if let Some(quoted) = rest.strip_prefix('\'') {
            let end = quoted.find('\'').unwrap();
            words.push(quoted[..end].to_string());
            rest = quoted[end + 1..].trim_start();
        } else {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            words.push(rest[..end].to_string());
            rest = rest[end..].trim_start();
        }
    }
    words
}

#[tokio::test(flavor = "multi_thread")]
async fn the_2022_cli_runs_the_documents_raw_commands() {
    let s = TestServer::start(Path::new(env!("CARGO_BIN_EXE_kanidmd")));
    let cli = Cli2022 {
        bin: installed("KANIDM_2022_CLI", "kanidm-1.1.0-alpha.8/bin/kanidm"),
        s: &s,
        home: tempfile::tempdir().unwrap(),
    };
    let api = Api::new(&s);
    let idm = api.login("idm_admin", &s.passwords["idm_admin"]).await.unwrap();
    let ca = s.ca.to_str().unwrap();
    for who in ["admin", "idm_admin"] {
        let (ok, out) = cli.run(&["login", "-H", &s.url, "-C", ca, "-D", who], &s.passwords[who]);
        assert!(ok && out.contains(&format!("Login Success for {who}")), "{out}");
    }
    // whoami prints the `uat` of /v1/self, decoded in the 2022 form.
    let (ok, out) = cli.run(&["self", "whoami", "-H", &s.url, "-C", ca, "-D", "idm_admin"], "");
    assert!(ok && out.contains("spn: idm_admin@localhost"), "{out}");

    // The document's raw commands, run from the examples folder as the document does.
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let ex = |f: &str| examples.join(f).to_str().unwrap().to_string();
    let doc = |line: &str| cli.doc(&line.replace("example.", &ex("example.")));
    let (ok, out) =
        doc("kanidm raw create -H https://localhost:8443 -C ../insecure/ca.pem -D admin example.create.account.json");
    assert!(ok && !out.contains("Error"), "{out}");
    // The document's second line names no file, which no kanidm CLI accepts; with the group's:
    let (ok, out) = doc(
        "kanidm raw create  -H https://localhost:8443 -C ../insecure/ca.pem -D idm_admin example.create.group.json",
    );
    assert!(ok && !out.contains("Error"), "{out}");
    let (ok, out) = doc(
        r#"kanidm raw modify -H https://localhost:8443 -C ../insecure/ca.pem -D admin '{"or": [ {"eq": ["name", "idm_person_account_create_priv"]}, {"eq": ["name", "idm_service_account_create_priv"]}, {"eq": ["name", "idm_account_write_priv"]}, {"eq": ["name", "idm_group_write_priv"]}, {"eq": ["name", "idm_people_write_priv"]}, {"eq": ["name", "idm_group_create_priv"]} ]}' example.modify.idm_admin.json"#,
    );
    assert!(ok && !out.contains("Error"), "{out}");
    let (_, out) = doc(
        r#"kanidm raw modify -H https://localhost:8443 -C ../insecure/ca.pem -D idm_admin '{"eq": ["name", "idm_admins"]}' example.modify.idm_admin.json"#,
    );
    assert!(out.contains("Error") && out.contains("403"), "idm_admins is high privilege: {out}");
    let (ok, out) = doc(
        r#"kanidm raw search -H https://localhost:8443 -C ../insecure/ca.pem -D admin '{"eq": ["name", "idm_admin"]}'"#,
    );
    assert!(ok && out.contains("idm_admin@localhost"), "{out}");
    let (_, person) = api.get("/v1/person/test_account_delete_me", &idm).await;
    assert_eq!(person["attrs"]["mail"], json!(["test_account_delete_me@example.com"]), "{person}");
    let (_, priv_group) = api.get("/v1/group/idm_group_create_priv/_attr/member", &idm).await;
    assert!(priv_group.to_string().contains("idm_admin@localhost"), "{priv_group}");
    let (ok, out) = doc(
        r#"kanidm raw delete -H https://localhost:8443 -C ../insecure/ca.pem -D idm_admin '{"eq": ["name", "test_account_delete_me"]}'"#,
    );
    assert!(ok && !out.contains("Error"), "{out}");
    assert_eq!(api.get("/v1/person/test_account_delete_me", &idm).await.1, json!(null));

    // Its account commands (the 2022 /v1/account routes). (Its logout only edits its own
    // token file.)
    let (ok, out) = cli.run(&["account", "list", "-H", &s.url, "-C", ca, "-D", "idm_admin"], "");
    assert!(ok && out.contains("idm_admin@localhost"), "{out}");
    let (ok, out) =
        cli.run(&["account", "create", "-H", &s.url, "-C", ca, "-D", "idm_admin", "svc2022", "Svc 2022"], "");
    assert!(ok && !out.contains("Error"), "{out}");
    let (_, svc) = api.get("/v1/service_account/svc2022", &idm).await;
    assert_eq!(svc["attrs"]["displayname"], json!(["Svc 2022"]), "{svc}");
    s.stop();
}
