//! Hostile clients: slow and garbage connections, many connections, wrong content types,
//! clients that never finish their headers, deep and wide filters. Each gets a clear answer
//! (or is cut off) and the server keeps serving.

use idm_testkit::server::TestServer;
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_kanidmd"))
}

fn client(s: &TestServer) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(&std::fs::read(&s.ca).unwrap()).unwrap();
    reqwest::Client::builder().tls_certs_only([ca]).timeout(Duration::from_secs(20)).build().unwrap()
}

async fn alive(s: &TestServer) {
    let v: Value = client(s).get(format!("{}/status", s.url)).send().await.unwrap().json().await.unwrap();
    assert_eq!(v, json!(true));
}

fn addr(s: &TestServer) -> String {
    s.url.trim_start_matches("https://").to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn garbage_slow_and_many_connections() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let s = TestServer::start(bin());
    // Not TLS at all: the connection is closed, the server carries on.
    let mut raw = TcpStream::connect(addr(&s)).unwrap();
    raw.write_all(b"GET /status HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let mut buf = [0u8; 64];
    let n = raw.read(&mut buf).unwrap_or(0);
    assert!(n == 0 || !buf[..n].starts_with(b"HTTP/1.1 200"), "plain HTTP must not be served");
    alive(&s).await;
    // A malformed TLS record.
    let mut bad = TcpStream::connect(addr(&s)).unwrap();
    bad.write_all(&[0x16, 0x03, 0x01, 0xff, 0xff, 0, 1, 2, 3]).unwrap();
    alive(&s).await;
    // Many idle connections do not stop others being served.
    let idle: Vec<TcpStream> = (0..300).filter_map(|_| TcpStream::connect(addr(&s)).ok()).collect();
    assert!(idle.len() > 250);
    alive(&s).await;
    drop(idle);
    // A client that never finishes its handshake is cut off within the handshake timeout.
    let mut slow = TcpStream::connect(addr(&s)).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let start = Instant::now();
    let n = slow.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "the server closes a silent connection");
    assert!(start.elapsed() < Duration::from_secs(15), "closed after {:?}", start.elapsed());
    alive(&s).await;
    s.stop();
}

/// A TLS connection to the server, trusting the test CA.
fn tls_connect(s: &TestServer) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    use rustls::pki_types::{CertificateDer, ServerName, pem::PemObject};
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(&s.ca).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth();
    let name = ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(std::sync::Arc::new(config), name).unwrap();
    rustls::StreamOwned::new(conn, TcpStream::connect(addr(s)).unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_never_finishes_its_headers_is_cut_off() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let s = TestServer::start(bin());
    let mut tls = tls_connect(&s);
    // The handshake completes; the request headers never end.
    tls.write_all(b"GET /status HTTP/1.1\r\nHost: localhost\r\nX-Slow: ").unwrap();
    tls.flush().unwrap();
    tls.sock.set_read_timeout(Some(Duration::from_secs(25))).unwrap();
    let start = Instant::now();
    let mut got = Vec::new();
    let _ = tls.read_to_end(&mut got);
    let took = start.elapsed();
    assert!(took < Duration::from_secs(20), "still open after {took:?}");
    assert!(took >= Duration::from_secs(5), "closed before the header timeout: {took:?}");
    assert!(!got.starts_with(b"HTTP/1.1 200"), "an unfinished request must not be served");
    alive(&s).await;
    s.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_requests_get_clear_errors() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let s = TestServer::start(bin());
    let c = idm_client::KanidmClient::new(&s.url, Some(&s.ca)).unwrap();
    let token = c.login("idm_admin", Some(&s.passwords["idm_admin"])).await.unwrap();
    let http = client(&s);
    let post = |body: String, ctype: &'static str| {
        http.post(format!("{}/v1/raw/search", s.url))
            .bearer_auth(&token)
            .header("content-type", ctype)
            .body(body)
            .send()
    };
    // Wrong content type.
    let r = post(r#"{"filter":"self"}"#.into(), "text/plain").await.unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert!(r.text().await.unwrap().to_lowercase().contains("content-type"));
    // Nesting deeper than the JSON parser allows, and than the filter limit allows.
    let deep = format!("{{\"filter\":{}{}}}", "{\"and\":[".repeat(300), "]}".repeat(300));
    let r = post(deep, "application/json").await.unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let limited = json!({"filter": (0..40).fold(json!({"pres":"name"}), |f, _| json!({"and": [f]}))});
    let (code, body) = {
        let r = post(limited.to_string(), "application/json").await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    };
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("depth") && body.contains("limit"), "{body}");
    // Very wide filters are refused with the limit named.
    let wide =
        json!({"filter": {"or": (0..5000).map(|i| json!({"eq": ["name", format!("n{i}")]})).collect::<Vec<_>>()}});
    let r = post(wide.to_string(), "application/json").await.unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert!(r.text().await.unwrap().contains("elements"));
    // Unknown routes and methods.
    let r = http.get(format!("{}/v1/raw/search", s.url)).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 405);
    // Without a token, an authenticated route answers 401 before anything else.
    let r = http.get(format!("{}/v1/raw/search", s.url)).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let r = http.get(format!("{}/v1/nothing/here", s.url)).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 404);
    alive(&s).await;
    s.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_to_the_kanidm_api_gets_its_status_and_changes_nothing() {
    use base64::Engine;
    use reqwest::Method;
    let s = TestServer::start(bin());
    let c = idm_client::KanidmClient::new(&s.url, Some(&s.ca)).unwrap();
    let token = c.login("idm_admin", Some(&s.passwords["idm_admin"])).await.unwrap();
    let http = client(&s);
    let send = |m: Method, path: &str, bearer: Option<&str>, body: Option<&str>| {
        let mut r = http.request(m, format!("{}{path}", s.url));
        if let Some(t) = bearer {
            r = r.bearer_auth(t);
        }
        if let Some(b) = body {
            r = r.header("content-type", "application/json").body(b.to_string());
        }
        async move {
            let r = r.send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let t = Some(token.as_str());
    /// Method, path, bearer, body; the status and what the answer must say.
    type Case<'a> = (Method, &'a str, Option<&'a str>, Option<&'a str>, u16, &'a str);
    let cases: Vec<Case> = vec![
        (Method::GET, "/v1/nothing/here", t, None, 404, "Route not found"),
        (Method::GET, "/scim/v2/Users", None, None, 404, "Route not found"),
        (Method::DELETE, "/v1/auth", None, None, 405, ""),
        (Method::PATCH, "/scim/v1/Entry", t, Some("{}"), 405, ""),
        (Method::POST, "/v1/person", t, Some(r#"{"attrs": {"name": ["x"]"#), 400, "line 1 column"),
        (Method::POST, "/v1/group", t, Some(r#"{"attrs": 5}"#), 400, "invalid type"),
        (Method::PUT, "/scim/v1/Entry", t, Some("[1]"), 400, "invalid type"),
        (Method::POST, "/v1/service_account/idm_admin/_api_token", t, Some(r#"{"label": 5}"#), 400, "column"),
        (Method::POST, "/v1/auth", None, Some(r#"{"step": {"init": 5}}"#), 400, "column"),
        (Method::GET, "/scim/v1/Entry?count=many", t, None, 400, "count"),
        (Method::GET, "/scim/v1/Entry?filter=name%20eq%20%22x", t, None, 400, "character"),
        (Method::GET, "/v1/self", Some("abc"), None, 401, ""),
        (Method::GET, "/v1/self", Some("a.b.c"), None, 401, ""),
        (Method::POST, "/v1/auth", None, Some(r#"{"step": {"cred": {"passkey": 5}}}"#), 400, "auth session id"),
        (Method::POST, "/v1/auth", None, Some(r#"{"step": {"cred": {"totp": "123456"}}}"#), 400, "column"),
        (
            Method::POST,
            "/v1/credential/_update",
            None,
            Some(r#"[{"totpverify": ["x", "l"]}, {"token": "t"}]"#),
            400,
            "malformed",
        ),
        (
            Method::POST,
            "/v1/credential/_update",
            None,
            Some(r#"["totpgenerate", {"token": "nope"}]"#),
            400,
            "has ended",
        ),
    ];
    for (m, path, bearer, body, status, says) in cases {
        let (code, text) = send(m.clone(), path, bearer, body).await;
        assert_eq!(code, status, "{m} {path} {body:?}: {text}");
        assert!(text.contains(says), "{m} {path}: {text} should say {says}");
    }
    // Tokens of the wrong form: unsigned, another algorithm, our kid with no valid signature.
    let b64 = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let kid = token.split('.').next().map(|h| {
        let h = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(h).unwrap();
        serde_json::from_slice::<Value>(&h).unwrap()["kid"].clone()
    });
    let payload = token.split('.').nth(1).unwrap();
    for header in [json!({"alg": "none"}), json!({"alg": "HS256", "kid": kid}), json!({"alg": "ES256", "kid": kid})] {
        let forged = format!("{}.{payload}.{}", b64(header.clone()), b64(json!("sig")));
        assert_eq!(send(Method::GET, "/v1/self", Some(&forged), None).await.0, 401, "{header}");
    }
    // A passkey answer that is not one, in a real session.
    let (cu, _) = c.cu_begin(&token, "/v1/person", "idm_admin").await.unwrap();
    let cu = serde_json::to_string(&cu).unwrap();
    let finish = format!(r#"[{{"passkeyfinish": ["key", {{"id": 1}}]}}, {cu}]"#);
    let (code, text) = send(Method::POST, "/v1/credential/_update", None, Some(&finish)).await;
    assert!(code == 400 && text.contains("passkeyinit"), "finish before init: {code} {text}");
    let init = format!(r#"["passkeyinit", {cu}]"#);
    assert_eq!(send(Method::POST, "/v1/credential/_update", None, Some(&init)).await.0, 200);
    let (code, text) = send(Method::POST, "/v1/credential/_update", None, Some(&finish)).await;
    assert!(code == 400 && text.contains("not a WebAuthn registration"), "{code} {text}");
    // None of it wrote anything.
    assert_eq!(send(Method::GET, "/v1/person/x", t, None).await, (200, "null".to_string()));
    alive(&s).await;
    s.stop();
}
