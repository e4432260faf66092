//! The `kanidm` client against a real `kanidmd server`: every raw command line of the document,
//! with the example files, plus login, whoami, sessions and failures.

use idm_testkit::server::TestServer;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn kanidmd_bin() -> PathBuf {
    let p = Path::new(env!("CARGO_BIN_EXE_kanidm")).with_file_name("kanidmd");
    assert!(p.exists(), "{} is missing: build the workspace (cargo test --workspace)", p.display());
    p
}

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

struct Cli<'a> {
    s: &'a TestServer,
    home: tempfile::TempDir,
}

impl Cli<'_> {
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_kanidm"));
        c.args(args)
            .env("HOME", self.home.path())
            .env_remove("KANIDM_URL")
            .env_remove("KANIDM_CA_PATH")
            .env_remove("KANIDM_NAME");
        c
    }

    /// `kanidm ARGS -H URL -C CA`, as the document writes it.
    fn run(&self, args: &[&str]) -> Output {
        let ca = self.s.ca.to_str().unwrap().to_string();
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["-H", &self.s.url, "-C", &ca]);
        self.cmd(&all).output().unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(o.status.success(), "kanidm {args:?} failed: {}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    fn fails(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(!o.status.success(), "kanidm {args:?} should fail: {}", String::from_utf8_lossy(&o.stdout));
        String::from_utf8_lossy(&o.stderr).into_owned()
    }

    fn login(&self, name: &str) {
        let ca = self.s.ca.to_str().unwrap();
        let o = self
            .cmd(&["login", "-H", &self.s.url, "-C", ca, "-D", name])
            .env("KANIDM_PASSWORD", &self.s.passwords[name])
            .output()
            .unwrap();
        assert!(o.status.success(), "login {name}: {}", String::from_utf8_lossy(&o.stderr));
        assert!(String::from_utf8_lossy(&o.stdout).contains("Login Success"));
    }
}

#[test]
fn the_documents_raw_commands() {
    let s = TestServer::start(&kanidmd_bin());
    let cli = Cli { s: &s, home: tempfile::tempdir().unwrap() };
    cli.login("admin");
    cli.login("idm_admin");
    let ex = |f: &str| examples().join(f).to_str().unwrap().to_string();

    // kanidm raw create -H https://localhost:8443 -C ../insecure/ca.pem -D admin example.create.account.json
    cli.ok(&["raw", "create", "-D", "admin", &ex("example.create.account.json")]);
    // kanidm raw create -H ... -D idm_admin   (the entries on standard input)
    let ca = s.ca.to_str().unwrap();
    let mut child = cli
        .cmd(&["raw", "create", "-H", &s.url, "-C", ca, "-D", "idm_admin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), &std::fs::read(ex("example.create.group.json")).unwrap())
        .unwrap();
    drop(child.stdin.take());
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    // The two raw modifies of the document.
    let six = r#"{"or": [ {"eq": ["name", "idm_person_account_create_priv"]}, {"eq": ["name", "idm_service_account_create_priv"]}, {"eq": ["name", "idm_account_write_priv"]}, {"eq": ["name", "idm_group_write_priv"]}, {"eq": ["name", "idm_people_write_priv"]}, {"eq": ["name", "idm_group_create_priv"]} ]}"#;
    cli.ok(&["raw", "modify", "-D", "admin", six, &ex("example.modify.idm_admin.json")]);
    let err = cli.fails(&[
        "raw",
        "modify",
        "-D",
        "idm_admin",
        r#"{"eq": ["name", "idm_admins"]}"#,
        &ex("example.modify.idm_admin.json"),
    ]);
    assert!(err.contains("403") && err.contains("idm_admins"), "{err}");

    // kanidm raw search ... -D admin '{"eq": ["name", "idm_admin"]}'
    let out = cli.ok(&["raw", "search", "-D", "admin", r#"{"eq": ["name", "idm_admin"]}"#]);
    assert!(
        out.contains("---") && out.contains("name: idm_admin") && out.contains("spn: idm_admin@localhost"),
        "{out}"
    );
    let json = cli.ok(&["raw", "search", "-D", "admin", "-o", "json", r#"{"eq": ["name", "demo_group"]}"#]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v[0]["attrs"]["member"][0], "test_account_delete_me@localhost", "{json}");
    cli.ok(&["raw", "modify", "-D", "idm_admin", r#"{"eq": ["name", "demo_group"]}"#, &ex("example.modify.json")]);

    // kanidm raw delete ... -D idm_admin '{"eq": ["name", "test_account_delete_me"]}'
    cli.ok(&["raw", "delete", "-D", "idm_admin", r#"{"eq": ["name", "test_account_delete_me"]}"#]);
    let err = cli.fails(&["raw", "delete", "-D", "idm_admin", r#"{"eq": ["name", "test_account_delete_me"]}"#]);
    assert!(err.contains("404"), "{err}");
    s.stop();
}

#[test]
fn sessions_defaults_and_failures() {
    let s = TestServer::start(&kanidmd_bin());
    let cli = Cli { s: &s, home: tempfile::tempdir().unwrap() };
    let err = cli.fails(&["self", "whoami"]);
    assert!(err.contains("not logged in") && err.contains("kanidm login"), "{err}");
    cli.login("idm_admin");
    // One cached session: -D may be left out.
    let me = cli.ok(&["self", "whoami"]);
    assert!(me.contains("idm_admin@localhost"), "{me}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(cli.home.path().join(".cache/kanidm_tokens")).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "the token cache must be private");
    }
    cli.login("admin");
    let err = cli.fails(&["self", "whoami"]);
    assert!(err.contains("choose one with -D"), "{err}");
    // Environment and the config file supply the defaults.
    let o = cli
        .cmd(&["self", "whoami"])
        .env("KANIDM_URL", &s.url)
        .env("KANIDM_CA_PATH", &s.ca)
        .env("KANIDM_NAME", "admin")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&o.stdout).contains("admin@localhost"), "{}", String::from_utf8_lossy(&o.stderr));
    std::fs::create_dir_all(cli.home.path().join(".config")).unwrap();
    std::fs::write(
        cli.home.path().join(".config/kanidm"),
        format!("uri = \"{}\"\nca_path = \"{}\"\nname = \"idm_admin\"\n", s.url, s.ca.display()),
    )
    .unwrap();
    let o = cli.cmd(&["self", "whoami"]).output().unwrap();
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("idm_admin@localhost"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // Bad input never reaches the server and says what is wrong.
    let err = cli.fails(&["raw", "search", "-D", "admin", "{not json"]);
    assert!(err.contains("not valid JSON filter"), "{err}");
    let bad = cli.home.path().join("bad.json");
    std::fs::write(&bad, "[{\"name\": \"not-a-list\"}]").unwrap();
    let err = cli.fails(&["raw", "create", "-D", "admin", bad.to_str().unwrap()]);
    assert!(err.contains("entry 1"), "{err}");
    // Wrong passwords and untrusted servers are refused.
    let o = cli
        .cmd(&["login", "-H", &s.url, "-C", s.ca.to_str().unwrap(), "-D", "admin"])
        .env("KANIDM_PASSWORD", "wrong")
        .output()
        .unwrap();
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("incorrect password"));
    let other = idm_server_ca(&cli);
    let o = cli.cmd(&["self", "whoami", "-H", &s.url, "-C", other.to_str().unwrap(), "-D", "admin"]).output().unwrap();
    assert!(
        !o.status.success() && String::from_utf8_lossy(&o.stderr).contains("cannot reach"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // Logging out forgets the session.
    cli.ok(&["logout", "-D", "admin"]);
    let err = cli.fails(&["self", "whoami", "-D", "admin"]);
    assert!(err.contains("no session for admin"), "{err}");
    s.stop();
}

/// A CA certificate that did not sign the server's certificate.
fn idm_server_ca(cli: &Cli) -> PathBuf {
    let dir = cli.home.path().join("other");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("server.toml"), "db_path = \"k.db\"\ntls_chain = \"c.pem\"\ntls_key = \"k.pem\"\n")
        .unwrap();
    idm_testkit::server::kanidmd(&kanidmd_bin(), &dir, &["cert_generate"]);
    dir.join("ca.pem")
}

/// Each built-in account and an ordinary person, through the real client, against each kind
/// of operation on ordinary and high-privilege targets. `true` means allowed.
const MATRIX: &[(&str, &[(&str, bool)])] = &[
    (
        "admin",
        &[
            ("create person", true),
            ("create group", true),
            ("search people", true),
            ("modify person", false),
            ("modify group", true),
            ("modify high-privilege group", true),
            ("delete person", true),
            ("delete group", true),
        ],
    ),
    (
        "idm_admin",
        &[
            ("create person", true),
            ("create group", true),
            ("search people", true),
            ("modify person", true),
            ("modify group", true),
            ("modify high-privilege group", false),
            ("delete person", true),
            ("delete group", true),
        ],
    ),
    (
        "anonymous",
        &[
            ("create person", false),
            ("create group", false),
            ("search people", true),
            ("modify person", false),
            ("modify group", false),
            ("modify high-privilege group", false),
            ("delete person", false),
            ("delete group", false),
        ],
    ),
    (
        "matrix_person",
        &[
            ("create person", false),
            ("create group", false),
            ("search people", true),
            ("modify person", false),
            ("modify group", false),
            ("modify high-privilege group", false),
            ("delete person", false),
            ("delete group", false),
        ],
    ),
];

#[test]
fn access_matrix_through_the_client() {
    let s = TestServer::start_with(&kanidmd_bin(), &["matrix_person"]);
    let cli = Cli { s: &s, home: tempfile::tempdir().unwrap() };
    let dir = cli.home.path();
    let write = |name: &str, body: &str| {
        let p = dir.join(name);
        std::fs::write(&p, body).unwrap();
        p.to_str().unwrap().to_string()
    };
    for (caller, _) in MATRIX {
        if *caller == "anonymous" {
            let o =
                cli.cmd(&["login", "-H", &s.url, "-C", s.ca.to_str().unwrap(), "-D", "anonymous"]).output().unwrap();
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        } else {
            cli.login(caller);
        }
    }
    for (caller, ops) in MATRIX {
        for (i, (op, allowed)) in ops.iter().enumerate() {
            // Fresh targets per attempt so one caller's success does not change the next.
            let p = format!("target_p_{caller}_{i}");
            let g = format!("target_g_{caller}_{i}");
            cli.ok(&["raw", "create", "-D", "idm_admin", &write("t.json", &format!(
                r#"[{{"class":["person","account"],"name":["{p}"],"displayname":["T"],"mail":["{p}@example.com"]}},{{"class":["group"],"name":["{g}"]}}]"#
            ))]);
            let add_member = write("m.json", r#"[{"present":["member","matrix_person"]}]"#);
            let args: Vec<String> = match *op {
                "create person" => vec![
                    "raw".into(),
                    "create".into(),
                    write(
                        "c.json",
                        &format!(r#"[{{"class":["person","account"],"name":["new_{p}"],"displayname":["N"]}}]"#),
                    ),
                ],
                "create group" => vec![
                    "raw".into(),
                    "create".into(),
                    write("c.json", &format!(r#"[{{"class":["group"],"name":["new_{g}"]}}]"#)),
                ],
                "search people" => vec!["raw".into(), "search".into(), format!(r#"{{"eq":["name","{p}"]}}"#)],
                "modify person" => vec![
                    "raw".into(),
                    "modify".into(),
                    format!(r#"{{"eq":["name","{p}"]}}"#),
                    write("mp.json", r#"[{"purged":"displayname"},{"present":["displayname","Changed"]}]"#),
                ],
                "modify group" => {
                    vec!["raw".into(), "modify".into(), format!(r#"{{"eq":["name","{g}"]}}"#), add_member.clone()]
                }
                // idm_admin is already a member: the attempt is checked but grants nobody anything.
                "modify high-privilege group" => vec![
                    "raw".into(),
                    "modify".into(),
                    r#"{"eq":["name","idm_admins"]}"#.into(),
                    write("hp.json", r#"[{"present":["member","idm_admin"]}]"#),
                ],
                "delete person" => vec!["raw".into(), "delete".into(), format!(r#"{{"eq":["name","{p}"]}}"#)],
                "delete group" => vec!["raw".into(), "delete".into(), format!(r#"{{"eq":["name","{g}"]}}"#)],
                other => panic!("unknown op {other}"),
            };
            let mut all: Vec<&str> = args.iter().map(String::as_str).collect();
            all.extend(["-D", caller]);
            let o = cli.run(&all);
            let out = String::from_utf8_lossy(&o.stdout);
            let got = o.status.success() && (*op != "search people" || out.contains(&format!("name: {p}")));
            assert_eq!(got, *allowed, "{caller} {op}: stdout {out} stderr {}", String::from_utf8_lossy(&o.stderr));
        }
    }
    s.stop();
}

#[test]
fn an_expired_cached_session_is_reported_without_asking_the_server() {
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(home.path().join(".cache")).unwrap();
    // The client reads expiry from the token's payload; the signature is the server's business.
    let payload = base64_url(
        r#"{"session_id":"00000000-0000-0000-0000-000000000001","issued_at":1,"expiry":2,"purpose":"readonly","uuid":"00000000-0000-0000-0000-000000000018","displayname":"IDM Administrator","spn":"idm_admin@localhost","mail_primary":null,"ui_hints":[],"limit_search_max_results":null,"limit_search_max_filter_test":null}"#,
    );
    let header = base64_url(r#"{"alg":"ES256","kid":"000000000000"}"#);
    let tokens = format!(r#"{{"https://127.0.0.1:1": {{"idm_admin": "{header}.{payload}.sig"}}}}"#);
    std::fs::write(home.path().join(".cache/kanidm_tokens"), tokens).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_kanidm"))
        .args(["self", "whoami", "-H", "https://127.0.0.1:1", "-D", "idm_admin"])
        .env("HOME", home.path())
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("has expired") && err.contains("kanidm login"), "{err}");
}

fn base64_url(s: &str) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let b = s.as_bytes();
    let mut out = String::new();
    for chunk in b.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |acc, (i, &x)| acc | (x as u32) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}
