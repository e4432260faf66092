//! A client for the server's HTTPS API: login, whoami and the raw operations.
//!
//! It owns the wire protocol as a client sees it (TLS trust, the login steps, bearer tokens,
//! error bodies) and must never depend on the engine: it speaks only [`idm_proto`] types.

use base64::Engine;
use idm_proto::credupdate::{CURequest, CUSessionToken, CUStatus};
use idm_proto::{Filter, ModifyList, OperationError, ProtoEntry, UserAuthToken};
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
    #[error("refusing {0}: passwords and tokens would cross the network unencrypted; use an https:// URL")]
    Insecure(String),
}

impl ClientError {
    /// The server refused a change because the session may only read: re-authenticating
    /// (then retrying) can fix it.
    pub fn needs_reauth(&self) -> bool {
        matches!(self, ClientError::Api { status: 403, error } if error.is_read_only_session())
    }
}

pub type Result<T> = std::result::Result<T, ClientError>;
pub use reqwest::Method;

/// What a session token says about itself, read without verifying it: enough for a client to
/// know whom it holds, when to log in again and whether it may make changes now. The server
/// checks the signature; a client that cannot read the token just treats it as opaque.
pub fn read_token(token: &str) -> Option<UserAuthToken> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// A second factor typed at sign-in.
#[derive(Clone, PartialEq, Eq)]
pub enum SecondFactor {
    /// The code a TOTP authenticator shows.
    Totp(u32),
    /// One of the account's single-use backup codes.
    BackupCode(String),
}

impl SecondFactor {
    /// What a person typed: six digits are a TOTP code, anything else a backup code.
    pub fn parse(typed: &str) -> SecondFactor {
        let t = typed.trim();
        match t.parse::<u32>() {
            Ok(code) if t.len() == 6 => SecondFactor::Totp(code),
            _ => SecondFactor::BackupCode(t.to_string()),
        }
    }
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
    /// The server's address, as given.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A client for `url` that trusts the system roots, or only `ca` when given.
    /// Only `https://` URLs are accepted. Every certificate in the `ca` file (a PEM bundle)
    /// is trusted.
    pub fn new(url: &str, ca: Option<&Path>) -> Result<KanidmClient> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        if !url.trim().to_ascii_lowercase().starts_with("https://") {
            return Err(ClientError::Insecure(url.to_string()));
        }
        let mut b = reqwest::Client::builder().timeout(std::time::Duration::from_secs(300));
        if let Some(ca) = ca {
            let bad = |reason: String| ClientError::Ca { path: ca.display().to_string(), reason };
            let pem = std::fs::read(ca).map_err(|e| bad(e.to_string()))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| bad(e.to_string()))?;
            if certs.is_empty() {
                return Err(bad("it holds no PEM certificate".into()));
            }
            b = b.tls_certs_only(certs);
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

    /// One `POST /v1/auth`-style step: the answer's state and the session id to send next.
    async fn auth_post(
        &self,
        path: &str,
        bearer: Option<&str>,
        session: Option<&str>,
        body: Value,
    ) -> Result<(Value, Option<String>)> {
        let mut req = self.http.post(format!("{}{path}", self.url)).json(&body);
        if let Some(s) = session {
            req = req.header(SESSION_HEADER, s);
        }
        if let Some(t) = bearer {
            req = req.bearer_auth(t);
        }
        let r = req.send().await.map_err(|e| self.transport(e))?;
        let next = r.headers().get(SESSION_HEADER).and_then(|v| v.to_str().ok()).map(str::to_string);
        let v = self.answer(r).await?;
        if let Some(why) = v["state"]["denied"].as_str() {
            return Err(ClientError::Denied(why.to_string()));
        }
        Ok((v["state"].clone(), next))
    }

    /// Sends the password as the credential step of a login that offers it.
    async fn password_step(
        &self,
        bearer: Option<&str>,
        session: Option<String>,
        password: Option<&str>,
    ) -> Result<String> {
        let session = session.ok_or_else(|| ClientError::Protocol("no auth session header".into()))?;
        let pw = password.ok_or_else(|| ClientError::Denied("a password is required".into()))?;
        let (state, _) =
            self.auth_post("/v1/auth", bearer, Some(&session), json!({"step": {"cred": {"password": pw}}})).await?;
        state["success"].as_str().map(str::to_string).ok_or_else(|| ClientError::Protocol(state.to_string()))
    }

    /// Logs in with a password (or as anonymous when `name` is "anonymous") and returns the
    /// bearer token. An account with a TOTP is refused: see [`Self::login_with`].
    pub async fn login(&self, name: &str, password: Option<&str>) -> Result<String> {
        self.login_with(name, password, || {
            Err(ClientError::Denied("this account signs in with a TOTP code (or a backup code) as well".into()))
        })
        .await
    }

    /// Logs in, asking `second` for a TOTP code or a backup code only when the account has
    /// them (the server offers `passwordmfa` instead of `password`).
    pub async fn login_with(
        &self,
        name: &str,
        password: Option<&str>,
        second: impl FnOnce() -> Result<SecondFactor>,
    ) -> Result<String> {
        let init = json!({"step": {"init2": {"username": name, "issue": "token", "privileged": false}}});
        let (state, session) = self.auth_post("/v1/auth", None, None, init).await?;
        let offered: Vec<String> = serde_json::from_value(state["choose"].clone()).unwrap_or_default();
        let has = |m: &str| offered.iter().any(|o| o == m);
        let (mech, factor) = if has("anonymous") {
            ("anonymous", None)
        } else if has("password") {
            ("password", None)
        } else if has("passwordmfa") {
            match second()? {
                f @ SecondFactor::Totp(_) => ("passwordmfa", Some(f)),
                f @ SecondFactor::BackupCode(_) if has("passwordbackupcode") => ("passwordbackupcode", Some(f)),
                SecondFactor::BackupCode(_) => {
                    return Err(ClientError::Denied("the account has no backup codes left; use a TOTP code".into()));
                }
            }
        } else {
            return Err(ClientError::Denied(format!("no supported authentication mechanism offered: {offered:?}")));
        };
        let session = session.ok_or_else(|| ClientError::Protocol("no auth session header".into()))?;
        let (_, session) = self.auth_post("/v1/auth", None, Some(&session), json!({"step": {"begin": mech}})).await?;
        if mech == "anonymous" {
            let session = session.ok_or_else(|| ClientError::Protocol("no auth session header".into()))?;
            let (state, _) =
                self.auth_post("/v1/auth", None, Some(&session), json!({"step": {"cred": "anonymous"}})).await?;
            return state["success"]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| ClientError::Protocol(state.to_string()));
        }
        let session = match factor {
            Some(f) => self.factor_step(None, session, &f).await?,
            None => session,
        };
        self.password_step(None, session, password).await
    }

    /// Sends a second factor; the session id for the password step that follows.
    async fn factor_step(
        &self,
        bearer: Option<&str>,
        session: Option<String>,
        factor: &SecondFactor,
    ) -> Result<Option<String>> {
        let session = session.ok_or_else(|| ClientError::Protocol("no auth session header".into()))?;
        let cred = match factor {
            SecondFactor::Totp(code) => json!({ "totp": code }),
            SecondFactor::BackupCode(code) => json!({ "backupcode": code }),
        };
        let (state, next) = self.auth_post("/v1/auth", bearer, Some(&session), json!({"step": {"cred": cred}})).await?;
        if state["continue"] != json!(["password"]) {
            return Err(ClientError::Protocol(state.to_string()));
        }
        Ok(next)
    }

    /// Re-authenticates the session of `token` with its password (after a TOTP code from
    /// `second` when the account has one) and returns the new token, which may make changes
    /// for the account's privilege window.
    pub async fn reauth(
        &self,
        token: &str,
        password: &str,
        second: impl FnOnce() -> Result<SecondFactor>,
    ) -> Result<String> {
        let (state, session) = self.auth_post("/v1/reauth", Some(token), None, json!("token")).await?;
        let next: Vec<String> = serde_json::from_value(state["continue"].clone()).unwrap_or_default();
        let session = if next.iter().any(|m| m == "totp") {
            match second()? {
                f @ SecondFactor::Totp(_) => self.factor_step(Some(token), session, &f).await?,
                SecondFactor::BackupCode(_) => {
                    return Err(ClientError::Denied("re-authentication takes a TOTP code, not a backup code".into()));
                }
            }
        } else if next.iter().any(|m| m == "password") {
            session
        } else {
            return Err(ClientError::Denied(format!("re-authentication needs a step this client cannot do: {next:?}")));
        };
        self.password_step(Some(token), session, Some(password)).await
    }

    /// A request to any endpoint, with a JSON body when given.
    pub async fn call(&self, token: &str, method: reqwest::Method, path: &str, body: Option<Value>) -> Result<Value> {
        let mut req = self.http.request(method, format!("{}{path}", self.url));
        if !token.is_empty() {
            req = req.bearer_auth(token);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.map_err(|e| self.transport(e))?;
        self.answer(r).await
    }

    /// Opens a credential update session for `account` (under `base`, e.g. `/v1/person`) as
    /// the holder of `token`: the session token and its first status.
    pub async fn cu_begin(&self, token: &str, base: &str, account: &str) -> Result<(CUSessionToken, CUStatus)> {
        let open =
            self.call(token, reqwest::Method::GET, &format!("{base}/{account}/_credential/_update"), None).await?;
        serde_json::from_value(open).map_err(|e| ClientError::Protocol(format!("credential update session: {e}")))
    }

    /// One change in a credential update session; its new status.
    pub async fn cu_update(&self, cu: &CUSessionToken, req: &CURequest) -> Result<CUStatus> {
        let body = json!([req, cu]);
        let st = self.call("", reqwest::Method::POST, "/v1/credential/_update", Some(body)).await?;
        serde_json::from_value(st).map_err(|e| ClientError::Protocol(format!("credential update status: {e}")))
    }

    /// A credential update session's status.
    pub async fn cu_status(&self, cu: &CUSessionToken) -> Result<CUStatus> {
        let st = self.call("", reqwest::Method::POST, "/v1/credential/_status", Some(json!(cu))).await?;
        serde_json::from_value(st).map_err(|e| ClientError::Protocol(format!("credential update status: {e}")))
    }

    /// Saves a credential update session's changes, all at once (`commit`) or drops them.
    pub async fn cu_end(&self, cu: &CUSessionToken, commit: bool) -> Result<()> {
        let path = if commit { "/v1/credential/_commit" } else { "/v1/credential/_cancel" };
        self.call("", reqwest::Method::POST, path, Some(json!(cu))).await.map(drop)
    }

    /// Sets a password through a credential update session: opened with `open` (the
    /// session token and status), then the password staged and committed.
    async fn password_by_session(&self, open: Value, password: &str) -> Result<()> {
        let cu = open.get(0).cloned().ok_or_else(|| ClientError::Protocol(format!("no session token in {open}")))?;
        self.call("", reqwest::Method::POST, "/v1/credential/_update", Some(json!([{ "password": password }, cu])))
            .await?;
        self.call("", reqwest::Method::POST, "/v1/credential/_commit", Some(cu)).await.map(drop)
    }

    /// Sets the password of `account` (under `base`, e.g. `/v1/person`) as the holder of
    /// `token`, through a credential update session.
    pub async fn set_password(&self, token: &str, base: &str, account: &str, password: &str) -> Result<()> {
        let open =
            self.call(token, reqwest::Method::GET, &format!("{base}/{account}/_credential/_update"), None).await?;
        self.password_by_session(open, password).await
    }

    /// Sets a password with a reset token (no login: the token is the proof). Returns the
    /// account's spn.
    pub async fn use_reset_token(&self, reset: &str, password: &str) -> Result<String> {
        let open = self.call("", reqwest::Method::POST, "/v1/credential/_exchange_intent", Some(json!(reset))).await?;
        let spn = open[1]["spn"].as_str().unwrap_or_default().to_string();
        self.password_by_session(open, password).await?;
        Ok(spn)
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
