//! Raw HTTPS calls to a [`TestServer`](crate::server::TestServer): login steps one by one,
//! re-authentication, and any endpoint with its status, for tests that look at the protocol
//! rather than through the client.

use crate::server::TestServer;
use serde_json::{Value, json};
use std::time::Duration;

pub const SESSION_HEADER: &str = "x-kanidm-auth-session-id";

#[derive(Clone)]
pub struct Api {
    pub url: String,
    http: reqwest::Client,
}

impl Api {
    pub fn new(s: &TestServer) -> Api {
        Api::connect(&s.url, &s.ca)
    }

    /// A client of the server at `url` whose certificate `ca` (a PEM file) signed.
    pub fn connect(url: &str, ca: &std::path::Path) -> Api {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let pem = std::fs::read(ca).unwrap_or_else(|e| panic!("{e}"));
        let ca = reqwest::Certificate::from_pem(&pem).unwrap_or_else(|e| panic!("{e}"));
        let http = reqwest::Client::builder()
            .tls_certs_only([ca])
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        Api { url: url.to_string(), http }
    }

    /// One `POST /v1/auth` step: status, body and the session header of the answer.
    pub async fn step(&self, session: Option<&str>, step: Value) -> (u16, Value, Option<String>) {
        self.auth_post("/v1/auth", None, session, json!({ "step": step })).await
    }

    async fn auth_post(
        &self,
        path: &str,
        bearer: Option<&str>,
        session: Option<&str>,
        body: Value,
    ) -> (u16, Value, Option<String>) {
        let mut req = self.http.post(format!("{}{path}", self.url)).json(&body);
        if let Some(s) = session {
            req = req.header(SESSION_HEADER, s);
        }
        if let Some(t) = bearer {
            req = req.bearer_auth(t);
        }
        let r = req.send().await.unwrap_or_else(|e| panic!("{path}: {e}"));
        let status = r.status().as_u16();
        let next = r.headers().get(SESSION_HEADER).and_then(|v| v.to_str().ok()).map(str::to_string);
        (status, r.json().await.unwrap_or(Value::Null), next)
    }

    /// A whole password (or anonymous) login: the token, or what the server answered instead.
    pub async fn login(&self, name: &str, password: &str) -> Result<String, String> {
        let init = json!({ "init2": { "username": name, "issue": "token", "privileged": false } });
        let (code, body, session) = self.step(None, init).await;
        let Some(session) = session.filter(|_| code == 200 && body["state"]["choose"].is_array()) else {
            return Err(format!("{code} {body}"));
        };
        let mech = if name == "anonymous" { "anonymous" } else { "password" };
        let (_, b, session) = self.step(Some(&session), json!({ "begin": mech })).await;
        let Some(session) = session.filter(|_| b["state"]["continue"].is_array()) else { return Err(b.to_string()) };
        let cred = if mech == "anonymous" { json!("anonymous") } else { json!({ "password": password }) };
        self.cred(&session, cred).await
    }

    /// The credential step of a login: the token, or the answer.
    pub async fn cred(&self, session: &str, cred: Value) -> Result<String, String> {
        let (_, b, _) = self.step(Some(session), json!({ "cred": cred })).await;
        b["state"]["success"].as_str().map(str::to_string).ok_or_else(|| b.to_string())
    }

    /// Re-authenticates `token`'s session: the new token, or the answer.
    pub async fn reauth(&self, token: &str, password: &str) -> Result<String, String> {
        let (code, b, session) = self.auth_post("/v1/reauth", Some(token), None, json!("token")).await;
        let Some(session) = session.filter(|_| code == 200) else { return Err(format!("{code} {b}")) };
        self.cred(&session, json!({ "password": password })).await
    }

    /// Any endpoint: status and JSON body.
    pub async fn call(&self, method: reqwest::Method, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.url));
        if !token.is_empty() {
            req = req.bearer_auth(token);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap_or_else(|e| panic!("{path}: {e}"));
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// A request whose body the server may refuse to read (too large, or not authenticated):
    /// the server then answers and closes, and the client can lose the answer while still
    /// sending. Tries up to five times; the answer, or the last transport error.
    pub async fn oversized(&self, path: &str, token: &str, body: Value) -> Result<(u16, Value), String> {
        let mut last = String::new();
        for _ in 0..5 {
            // Not kept for reuse: the server closes it after refusing the body.
            let mut req = self.http.post(format!("{}{path}", self.url)).header("connection", "close").json(&body);
            if !token.is_empty() {
                req = req.bearer_auth(token);
            }
            match req.send().await {
                Ok(r) => {
                    let status = r.status().as_u16();
                    return Ok((status, r.json().await.unwrap_or(Value::Null)));
                }
                Err(e) => last = format!("{e:?}"),
            }
        }
        Err(last)
    }

    pub async fn get(&self, path: &str, token: &str) -> (u16, Value) {
        self.call(reqwest::Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, token, Some(body)).await
    }

    /// Stages `password` in an opened credential update session and commits it.
    async fn password_in_session(&self, open: (u16, Value), password: &str) -> (u16, Value) {
        if open.0 != 200 {
            return open;
        }
        let cu = open.1[0].clone();
        let staged = self.post("/v1/credential/_update", "", json!([{ "password": password }, cu])).await;
        if staged.0 != 200 {
            return staged;
        }
        self.post("/v1/credential/_commit", "", cu).await
    }

    /// Sets the password of person `id` as the holder of `token`, through a credential
    /// update session: the first answer that is not a 200, or the commit's.
    pub async fn set_password(&self, token: &str, id: &str, password: &str) -> (u16, Value) {
        let open = self.get(&format!("/v1/person/{id}/_credential/_update"), token).await;
        self.password_in_session(open, password).await
    }

    /// A reset token for person `id`, valid for `ttl` seconds: `{"token","expiry_time"}`.
    pub async fn reset_token(&self, token: &str, id: &str, ttl: u64) -> (u16, Value) {
        self.get(&format!("/v1/person/{id}/_credential/_update_intent/{ttl}"), token).await
    }

    /// Sets a password with a reset token (exchange, update, commit), without logging in.
    pub async fn redeem(&self, reset: &str, password: &str) -> (u16, Value) {
        let open = self.post("/v1/credential/_exchange_intent", "", json!(reset)).await;
        self.password_in_session(open, password).await
    }

    /// `POST /v1/raw/search`: status and entries' attributes.
    pub async fn search(&self, token: &str, filter: Value) -> (u16, Value) {
        self.post("/v1/raw/search", token, json!({ "filter": filter })).await
    }
}
