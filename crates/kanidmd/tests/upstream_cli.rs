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

    // The domain, and a reset token.
    assert!(up.ok("idm_admin", &["system", "domain", "show"]).contains("domain_name: localhost"));
    let out = up.ok("idm_admin", &["person", "credential", "create-reset-token", "alice"]);
    assert!(out.contains("kanidm person credential use-reset-token"), "{out}");
    let status = entry("/v1/person/alice/_credential/_status".into()).await;
    assert!(status["reset_token"].is_object(), "{status}");

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
    for step in ["login ok", "person ok", "group ok", "service account ok", "deletes ok"] {
        assert!(out.contains(step), "{step} missing:\n{out}");
    }
    // What it created it also deleted: on the server, nothing is left of it.
    let api = Api::new(&s);
    let idm = api.login("idm_admin", &s.passwords["idm_admin"]).await.unwrap();
    for path in ["/v1/person/pyperson", "/v1/group/pygroup", "/v1/service_account/pyrobot"] {
        assert_eq!(api.get(path, &idm).await, (200, json!(null)), "{path}");
    }
    let (_, bin) = api.get("/v1/recycle_bin", &idm).await;
    assert!(bin.to_string().contains("pyperson"), "the deletes went to the recycle bin: {bin}");
    s.stop();
}
