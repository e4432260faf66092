//! A client for the server's HTTPS API: login, whoami and the raw operations.
//!
//! It owns the wire protocol as a client sees it (TLS trust, the login steps, bearer tokens,
//! error bodies) and must never depend on the engine: it speaks only [`idm_proto`] types.

use base64::Engine;
use idm_proto::{Filter, ModifyList, OperationError, ProtoEntry};
use serde::Deserialize;
use serde_json::{Value, json};
use std::path::Path;
use thiserror::Error;

const SESSION_HEADER: &str = "x-kanidm-auth-session-id";

#[derive(Debug, Error)]
pub enum ClientError {
    #[error("cannot read the CA certificate {path}: {reason}")]
    Ca { path: String, reason: String },
    #[error("cannot reach {url}: {reason}")]
    Transport { url: String, reason: String },
    #[error("{status}: {error}")]
    Api { status: u16, error: OperationError },
    #[error("{status}: {body}")]
    Http { status: u16, body: String },
    #[error("authentication denied: {0}")]
    Denied(String),
    #[error("unexpected answer from the server: {0}")]
    Protocol(String),
}

pub type Result<T> = std::result::Result<T, ClientError>;
pub use reqwest::Method;

/// The expiry (unix seconds) and account of a token, read without verifying it: enough for a
/// client to know when to ask for a new one.
pub fn token_expiry(token: &str) -> Option<(i64, String)> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).ok()?;
    let v: Value = serde_json::from_slice(&bytes).ok()?;
    Some((v["exp"].as_i64()?, v["uuid"].as_str()?.to_string()))
}

pub struct KanidmClient {
    url: String,
    http: reqwest::Client,
}

#[derive(Deserialize)]
struct SearchResponse {
    entries: Vec<ProtoEntry>,
}

impl KanidmClient {
    /// A client for `url` that trusts the system roots, or only `ca` when given.
    pub fn new(url: &str, ca: Option<&Path>) -> Result<KanidmClient> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut b = reqwest::Client::builder().timeout(std::time::Duration::from_secs(300));
        if let Some(ca) = ca {
            let pem = std::fs::read(ca)
                .map_err(|e| ClientError::Ca { path: ca.display().to_string(), reason: e.to_string() })?;
            let cert = reqwest::Certificate::from_pem(&pem)
                .map_err(|e| ClientError::Ca { path: ca.display().to_string(), reason: e.to_string() })?;
            b = b.tls_certs_only([cert]);
        }
        let http = b.build().map_err(|e| ClientError::Transport { url: url.into(), reason: e.to_string() })?;
        Ok(KanidmClient { url: url.trim_end_matches('/').to_string(), http })
    }

    fn transport(&self, e: reqwest::Error) -> ClientError {
        let mut reason = e.to_string();
        let mut src = std::error::Error::source(&e);
        while let Some(s) = src {
            reason = format!("{reason}: {s}");
            src = s.source();
        }
        ClientError::Transport { url: self.url.clone(), reason }
    }

    async fn answer(&self, r: reqwest::Response) -> Result<Value> {
        let status = r.status().as_u16();
        let text = r.text().await.map_err(|e| self.transport(e))?;
        if (200..300).contains(&status) {
            return serde_json::from_str(&text).map_err(|e| ClientError::Protocol(e.to_string()));
        }
        match serde_json::from_str::<OperationError>(&text) {
            Ok(error) => Err(ClientError::Api { status, error }),
            Err(_) => Err(ClientError::Http { status, body: text }),
        }
    }

    async fn post(&self, token: &str, path: &str, body: Value) -> Result<Value> {
        let r = self
            .http
            .post(format!("{}{path}", self.url))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .map_err(|e| self.transport(e))?;
        self.answer(r).await
    }

    /// Logs in with a password (or as anonymous when `name` is "anonymous") and returns the
    /// bearer token.
    pub async fn login(&self, name: &str, password: Option<&str>) -> Result<String> {
        let url = format!("{}/v1/auth", self.url);
        let step = |session: Option<&str>, step: Value| {
            let mut req = self.http.post(&url).json(&json!({ "step": step }));
            if let Some(s) = session {
                req = req.header(SESSION_HEADER, s);
            }
            req.send()
        };
        let r = step(None, json!({ "init": name })).await.map_err(|e| self.transport(e))?;
        let session = r.headers().get(SESSION_HEADER).and_then(|v| v.to_str().ok()).map(str::to_string);
        let v = self.answer(r).await?;
        if let Some(why) = v["state"]["denied"].as_str() {
            return Err(ClientError::Denied(why.to_string()));
        }
        let offered: Vec<String> = serde_json::from_value(v["state"]["choose"].clone()).unwrap_or_default();
        let session = session.ok_or_else(|| ClientError::Protocol("no auth session header".into()))?;
        let (mech, cred) = if offered.iter().any(|m| m == "anonymous") {
            ("anonymous", json!("anonymous"))
        } else if offered.iter().any(|m| m == "password") {
            let pw = password.ok_or_else(|| ClientError::Denied("a password is required".into()))?;
            ("password", json!({ "password": pw }))
        } else {
            return Err(ClientError::Denied(format!("no supported authentication mechanism offered: {offered:?}")));
        };
        let r = step(Some(&session), json!({ "begin": mech })).await.map_err(|e| self.transport(e))?;
        let v = self.answer(r).await?;
        if let Some(why) = v["state"]["denied"].as_str() {
            return Err(ClientError::Denied(why.to_string()));
        }
        let r = step(Some(&session), json!({ "cred": cred })).await.map_err(|e| self.transport(e))?;
        let v = self.answer(r).await?;
        match (v["state"]["success"].as_str(), v["state"]["denied"].as_str()) {
            (Some(token), _) => Ok(token.to_string()),
            (_, Some(why)) => Err(ClientError::Denied(why.to_string())),
            _ => Err(ClientError::Protocol(v.to_string())),
        }
    }

    /// A request to any endpoint, with a JSON body when given.
    pub async fn call(&self, token: &str, method: reqwest::Method, path: &str, body: Option<Value>) -> Result<Value> {
        let mut req = self.http.request(method, format!("{}{path}", self.url)).bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.map_err(|e| self.transport(e))?;
        self.answer(r).await
    }

    /// Revokes the session of `token` on the server.
    pub async fn logout(&self, token: &str) -> Result<()> {
        self.post(token, "/v1/logout", json!(null)).await.map(drop)
    }

    /// The online backup schedule, last result and next run.
    pub async fn backup_status(&self, token: &str) -> Result<Value> {
        let r = self
            .http
            .get(format!("{}/v1/system/backup", self.url))
            .bearer_auth(token)
            .send()
            .await
            .map_err(|e| self.transport(e))?;
        self.answer(r).await
    }

    /// Runs an online backup now and returns the file and entry count.
    pub async fn backup_now(&self, token: &str) -> Result<Value> {
        self.post(token, "/v1/system/backup", json!(null)).await
    }

    pub async fn whoami(&self, token: &str) -> Result<ProtoEntry> {
        let r = self
            .http
            .get(format!("{}/v1/self", self.url))
            .bearer_auth(token)
            .send()
            .await
            .map_err(|e| self.transport(e))?;
        let v = self.answer(r).await?;
        serde_json::from_value(v["youare"].clone()).map_err(|e| ClientError::Protocol(e.to_string()))
    }

    pub async fn search(&self, token: &str, filter: &Filter) -> Result<Vec<ProtoEntry>> {
        let v = self.post(token, "/v1/raw/search", json!({ "filter": filter })).await?;
        let r: SearchResponse = serde_json::from_value(v).map_err(|e| ClientError::Protocol(e.to_string()))?;
        Ok(r.entries)
    }

    pub async fn create(&self, token: &str, entries: &[ProtoEntry]) -> Result<()> {
        self.post(token, "/v1/raw/create", json!({ "entries": entries })).await.map(drop)
    }

    pub async fn modify(&self, token: &str, filter: &Filter, ml: &ModifyList) -> Result<()> {
        self.post(token, "/v1/raw/modify", json!({ "filter": filter, "modlist": ml })).await.map(drop)
    }

    pub async fn delete(&self, token: &str, filter: &Filter) -> Result<()> {
        self.post(token, "/v1/raw/delete", json!({ "filter": filter })).await.map(drop)
    }
}
