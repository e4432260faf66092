//! A minimal browser for tests of the web UI over real HTTPS: it keeps cookies as a browser
//! would (set, replaced, removed by `Max-Age=0`), posts forms, does not follow redirects (tests
//! look at them), and reads the CSRF token the way a page's forms carry it.

use crate::server::TestServer;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

pub struct Web {
    pub url: String,
    http: reqwest::Client,
    jar: Mutex<BTreeMap<String, String>>,
}

/// One answer.
pub struct Page {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Page {
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default()
    }

    pub fn location(&self) -> &str {
        self.header("location")
    }

    /// Every `Set-Cookie` of the answer.
    pub fn set_cookies(&self) -> Vec<String> {
        self.headers.get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()).map(str::to_string).collect()
    }

    /// The `Set-Cookie` that sets `name`, if any.
    pub fn set_cookie(&self, name: &str) -> Option<String> {
        self.set_cookies().into_iter().find(|c| c.starts_with(&format!("{name}=")))
    }

    /// The text between `start` and the next `end` after it.
    pub fn between(&self, start: &str, end: &str) -> Option<String> {
        let from = self.body.find(start)? + start.len();
        let len = self.body[from..].find(end)?;
        Some(self.body[from..from + len].to_string())
    }
}

/// `application/x-www-form-urlencoded`.
fn encode(fields: &[(&str, &str)]) -> String {
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
                b' ' => "+".to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    fields.iter().map(|(k, v)| format!("{}={}", enc(k), enc(v))).collect::<Vec<_>>().join("&")
}

impl Web {
    pub fn new(s: &TestServer) -> Web {
        Web::connect(&s.url, &s.ca)
    }

    pub fn connect(url: &str, ca: &std::path::Path) -> Web {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let pem = std::fs::read(ca).unwrap_or_else(|e| panic!("{e}"));
        let ca = reqwest::Certificate::from_pem(&pem).unwrap_or_else(|e| panic!("{e}"));
        let http = reqwest::Client::builder()
            .tls_certs_only([ca])
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        Web { url: url.to_string(), http, jar: Mutex::new(BTreeMap::new()) }
    }

    pub fn cookie(&self, name: &str) -> Option<String> {
        self.jar.lock().unwrap_or_else(|p| p.into_inner()).get(name).cloned()
    }

    pub fn set(&self, name: &str, value: &str) {
        self.jar.lock().unwrap_or_else(|p| p.into_inner()).insert(name.into(), value.into());
    }

    pub fn forget(&self, name: &str) {
        self.jar.lock().unwrap_or_else(|p| p.into_inner()).remove(name);
    }

    /// The CSRF token this browser's forms carry.
    pub fn csrf(&self) -> String {
        self.cookie("__Host-idm-csrf").unwrap_or_default()
    }

    fn cookie_header(&self) -> String {
        let jar = self.jar.lock().unwrap_or_else(|p| p.into_inner());
        jar.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Page {
        let cookies = self.cookie_header();
        let req = if cookies.is_empty() { req } else { req.header("cookie", cookies) };
        let r = req.send().await.unwrap_or_else(|e| panic!("request failed: {e}"));
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let body = r.text().await.unwrap_or_default();
        let page = Page { status, headers, body };
        let mut jar = self.jar.lock().unwrap_or_else(|p| p.into_inner());
        for c in page.set_cookies() {
            let first = c.split(';').next().unwrap_or_default();
            if let Some((k, v)) = first.split_once('=') {
                if c.contains("Max-Age=0") {
                    jar.remove(k);
                } else {
                    jar.insert(k.to_string(), v.to_string());
                }
            }
        }
        page
    }

    pub async fn get(&self, path: &str) -> Page {
        self.send(self.http.get(format!("{}{path}", self.url))).await
    }

    /// Posts `fields` as a form, exactly as given (add the CSRF token with [`Web::form`]).
    pub async fn post_raw(&self, path: &str, fields: &[(&str, &str)], extra: &[(&str, &str)]) -> Page {
        let mut req = self
            .http
            .post(format!("{}{path}", self.url))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(encode(fields));
        for (k, v) in extra {
            req = req.header(*k, *v);
        }
        self.send(req).await
    }

    /// Posts a form of a page, with this browser's CSRF token.
    pub async fn form(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        let csrf = self.csrf();
        let mut all = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(fields);
        self.post_raw(path, &all, &[]).await
    }

    /// Signs in with a password (and a TOTP code when the account asks for one), choosing
    /// `mech` if the account is offered several; the last answer (a redirect on success).
    pub async fn sign_in(&self, name: &str, mech: Option<&str>, password: &str, totp: Option<String>) -> Page {
        self.get("/ui/login").await;
        let mut p = self.form("/ui/login", &[("username", name), ("next", "")]).await;
        if let Some(m) = mech {
            assert!(p.body.contains(&format!("value=\"{m}\"")), "{m} is not offered: {}", p.body);
            p = self.form("/ui/login/choose", &[("mech", m), ("username", name)]).await;
        }
        if p.body.contains("name=\"totp\"") {
            let code = totp.unwrap_or_default();
            p = self.form("/ui/login/step", &[("totp", &code), ("username", name)]).await;
        }
        if p.body.contains("name=\"password\"") {
            p = self.form("/ui/login/step", &[("password", password), ("username", name)]).await;
        }
        p
    }
}
