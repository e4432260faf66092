//! A real `kanidmd server` for end-to-end tests: its own folder, development certificates,
//! recovered admin passwords, a free port on 127.0.0.1.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

pub struct TestServer {
    pub dir: tempfile::TempDir,
    pub url: String,
    pub ca: PathBuf,
    pub passwords: HashMap<String, String>,
    child: Child,
    log: Arc<Mutex<String>>,
}

/// Runs `kanidmd ARGS -c server.toml` in `dir` and returns its standard output.
pub fn kanidmd(bin: &Path, dir: &Path, args: &[&str]) -> String {
    let o = Command::new(bin)
        .args(args)
        .args(["-c", "server.toml"])
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .env_remove("KANIDM_CONFIG")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()));
    assert!(o.status.success(), "kanidmd {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Runs `kanidmd ARGS -c server.toml` in `dir`, which must fail, and returns its standard error.
pub fn kanidmd_fails(bin: &Path, dir: &Path, args: &[&str]) -> String {
    let o = Command::new(bin)
        .args(args)
        .args(["-c", "server.toml"])
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .env_remove("KANIDM_CONFIG")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()));
    assert!(!o.status.success(), "kanidmd {args:?} should have failed");
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Starts `kanidmd server` in `dir` and waits for the address it listens on.
fn spawn_server(bin: &Path, dir: &Path, log: Arc<Mutex<String>>) -> (Child, String) {
    let mut child = Command::new(bin)
        .args(["server", "-c", "server.toml"])
        .current_dir(dir)
        .env("RUST_LOG", "debug")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start the server: {e}"));
    let stderr = child.stderr.take().unwrap_or_else(|| panic!("no stderr"));
    let mut lines = BufReader::new(stderr).lines();
    let append = |l: &str| {
        let mut g = log.lock().unwrap_or_else(|p| p.into_inner());
        g.push_str(l);
        g.push('\n');
    };
    let url = loop {
        let line = lines.next().unwrap_or_else(|| panic!("server exited before listening")).unwrap_or_default();
        append(&line);
        if let Some(addr) = line.split("listening on ").nth(1) {
            break addr.trim().to_string();
        }
    };
    // Keep draining the log (into memory, for tests that inspect it) so the server never
    // blocks on a full pipe.
    std::thread::spawn(move || {
        for line in lines.map_while(|l| l.ok()) {
            let mut g = log.lock().unwrap_or_else(|p| p.into_inner());
            g.push_str(&line);
            g.push('\n');
        }
    });
    (child, url)
}

impl TestServer {
    /// The session signing keys, read from the database as a second reader would.
    pub fn signing_keys(&self) -> Vec<idm_core::keys::KeyRecord> {
        use idm_core::server::QueryServerTransaction;
        let qs = idm_core::server::QueryServer::new(crate::open_backend(&self.dir.path().join("data/kanidm.db")))
            .unwrap_or_else(|e| panic!("{e}"));
        let mut r = qs.read().unwrap_or_else(|e| panic!("{e}"));
        let keys = r
            .entry_by_uuid(idm_core::builtins::UUID_KEY_SESSIONS)
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("no session key object"));
        idm_identity::keys::records(&keys)
    }

    /// `uat` signed with the server's own active key: a token the server issued, as far as
    /// its signature goes.
    pub fn sign(&self, uat: &idm_core::proto::UserAuthToken) -> String {
        let set = idm_identity::keys::KeySet::load(&self.signing_keys(), 0).unwrap_or_else(|e| panic!("{e}"));
        let payload = serde_json::to_vec(uat).unwrap_or_default();
        set.sign(&payload, idm_core::proto::TokenForm::Current).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Starts the `kanidmd` at `bin` and waits until it listens.
    pub fn start(bin: &Path) -> TestServer {
        Self::start_with(bin, &[])
    }

    /// As [`TestServer::start`], with ordinary people created beforehand and given passwords.
    pub fn start_with(bin: &Path, people: &[&str]) -> TestServer {
        Self::start_custom(bin, people, "")
    }

    /// As [`TestServer::start_with`], with `extra` appended to server.toml.
    pub fn start_custom(bin: &Path, people: &[&str], extra: &str) -> TestServer {
        Self::start_at(bin, people, extra, 0, "https://localhost:8443")
    }

    /// As [`TestServer::start_with`], on a port chosen now and with the origin a browser uses
    /// for it (`https://localhost:PORT`), so passkeys work from a real browser. The `url` is
    /// that origin too.
    pub fn start_for_browser(bin: &Path, people: &[&str]) -> TestServer {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or_else(|e| panic!("no free port: {e}"));
        let origin = format!("https://localhost:{port}");
        let mut s = Self::start_at(bin, people, "", port, &origin);
        s.url = origin;
        s
    }

    fn start_at(bin: &Path, people: &[&str], extra: &str, port: u16, origin: &str) -> TestServer {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
        let p = dir.path();
        std::fs::create_dir(p.join("data")).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(
            p.join("server.toml"),
            format!(
                "bindaddress = \"127.0.0.1:{port}\"\ndb_path = \"data/kanidm.db\"\ndomain = \"localhost\"\n\
             origin = \"{origin}\"\ntls_chain = \"insecure/chain.pem\"\ntls_key = \"insecure/key.pem\"\n{extra}"
            ),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        kanidmd(bin, p, &["cert_generate"]);
        let mut passwords = HashMap::new();
        if !people.is_empty() {
            let qs = crate::open_qs(&p.join("data/kanidm.db"), "localhost");
            let entries: Vec<_> = people.iter().map(|n| crate::person(n)).collect();
            crate::create(&qs, &entries).unwrap_or_else(|e| panic!("creating people: {e}"));
        }
        for account in ["admin", "idm_admin"].iter().chain(people) {
            let out = kanidmd(bin, p, &["recover_account", account]);
            passwords.insert(account.to_string(), out.trim().rsplit(' ').next().unwrap_or_default().to_string());
        }
        let log = Arc::new(Mutex::new(String::new()));
        let (child, url) = spawn_server(bin, p, log.clone());
        let ca = p.join("insecure/ca.pem");
        TestServer { dir, url, ca, passwords, child, log }
    }

    /// Everything the server has logged so far (at debug level).
    pub fn log(&self) -> String {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Kills the server with SIGKILL: no shutdown, no checkpoint.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the server again on the same folder (after [`TestServer::kill`]).
    pub fn restart(&mut self, bin: &Path) {
        let (child, url) = spawn_server(bin, self.dir.path(), self.log.clone());
        self.child = child;
        self.url = url;
    }

    /// Stops the server with SIGTERM; panics unless it exits cleanly with its log checkpointed.
    pub fn stop(mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let status = self.child.wait().unwrap_or_else(|e| panic!("{e}"));
        assert!(status.success(), "server exited with {status}");
        let wal = self.dir.path().join("data/kanidm.db-wal");
        assert_eq!(std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0), 0, "the log was not checkpointed at stop");
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
