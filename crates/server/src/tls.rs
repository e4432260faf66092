//! TLS: loading the configured certificate chain and key, and generating a development CA and
//! server certificate for first runs and tests.

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum TlsError {
    #[error(
        "TLS is not configured: set tls_chain and tls_key in server.toml (`kanidmd cert_generate` creates development ones)"
    )]
    NotConfigured,
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path} holds no PEM certificate")]
    NoCertificate { path: PathBuf },
    #[error("{path} is not a PEM private key: {reason}")]
    BadKey { path: PathBuf, reason: String },
    #[error("the certificate in {chain} and the key in {key} do not belong together: {reason}")]
    Mismatch { chain: PathBuf, key: PathBuf, reason: String },
    #[error("{0} already exists; remove it first or point tls_chain/tls_key elsewhere")]
    Exists(PathBuf),
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("certificate generation failed: {0}")]
    Generate(String),
}

/// The rustls provider every TLS endpoint uses (ring: one provider, quick to build).
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Loads the chain and key and checks that they match.
pub fn server_config(chain: &Path, key: &Path) -> Result<rustls::ServerConfig, TlsError> {
    let read = |p: &Path| std::fs::read(p).map_err(|source| TlsError::Read { path: p.to_path_buf(), source });
    let chain_pem = read(chain)?;
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(&chain_pem).filter_map(|c| c.ok()).collect();
    if certs.is_empty() {
        return Err(TlsError::NoCertificate { path: chain.to_path_buf() });
    }
    let key_pem = read(key)?;
    let private = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| TlsError::BadKey { path: key.to_path_buf(), reason: e.to_string() })?;
    let mismatch = |reason: String| TlsError::Mismatch { chain: chain.to_path_buf(), key: key.to_path_buf(), reason };
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| mismatch(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, private)
        .map_err(|e| mismatch(e.to_string()))?;
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(cfg)
}

/// PEM texts of a development CA and a server certificate it signed.
pub struct DevCerts {
    pub ca: String,
    /// The server certificate followed by the CA.
    pub chain: String,
    pub key: String,
}

/// Generates a CA and a server certificate for `hosts` (DNS names or IP addresses).
pub fn generate_dev_certs(hosts: &[String]) -> Result<DevCerts, TlsError> {
    let gen_err = |e: rcgen::Error| TlsError::Generate(e.to_string());
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(gen_err)?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(DnType::CommonName, "kanidm-rs development CA (not for production)");
    ca_params.key_usages =
        vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().map_err(gen_err)?).map_err(gen_err)?;
    let mut params = CertificateParams::new(hosts.to_vec()).map_err(gen_err)?;
    params.distinguished_name.push(DnType::CommonName, hosts.first().cloned().unwrap_or_else(|| "localhost".into()));
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    let key = KeyPair::generate().map_err(gen_err)?;
    let cert = params.signed_by(&key, &ca).map_err(gen_err)?;
    Ok(DevCerts { ca: ca.pem(), chain: format!("{}{}", cert.pem(), ca.pem()), key: key.serialize_pem() })
}

/// Writes development certificates to `chain` and `key`, and the CA to `ca.pem` beside them.
/// Refuses to overwrite anything. Returns the CA's path.
pub fn write_dev_certs(chain: &Path, key: &Path, hosts: &[String]) -> Result<PathBuf, TlsError> {
    let ca_path = chain.parent().unwrap_or(Path::new(".")).join("ca.pem");
    for p in [chain, key, ca_path.as_path()] {
        if p.exists() {
            return Err(TlsError::Exists(p.to_path_buf()));
        }
    }
    let certs = generate_dev_certs(hosts)?;
    let write = |p: &Path, text: &str, private: bool| -> Result<(), TlsError> {
        if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| TlsError::Write { path: dir.to_path_buf(), source })?;
        }
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        if private {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(p).map_err(|source| TlsError::Write { path: p.to_path_buf(), source })?;
        std::io::Write::write_all(&mut f, text.as_bytes())
            .map_err(|source| TlsError::Write { path: p.to_path_buf(), source })
    };
    write(key, &certs.key, true)?;
    write(chain, &certs.chain, false)?;
    write(&ca_path, &certs.ca, false)?;
    Ok(ca_path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_certificates_load_and_mismatches_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let (chain, key) = (dir.path().join("tls/chain.pem"), dir.path().join("tls/key.pem"));
        let ca = write_dev_certs(&chain, &key, &["localhost".into(), "127.0.0.1".into()]).unwrap();
        assert!(ca.exists());
        server_config(&chain, &key).unwrap();
        assert!(matches!(write_dev_certs(&chain, &key, &[]), Err(TlsError::Exists(_))));
        // Another key does not match the certificate.
        let other = generate_dev_certs(&["localhost".into()]).unwrap();
        let wrong = dir.path().join("wrong.pem");
        std::fs::write(&wrong, other.key).unwrap();
        let e = server_config(&chain, &wrong).unwrap_err().to_string();
        assert!(e.contains("do not belong together"), "{e}");
        let e = server_config(&dir.path().join("missing.pem"), &key).unwrap_err().to_string();
        assert!(e.contains("missing.pem"), "{e}");
        std::fs::write(&wrong, "not a key").unwrap();
        assert!(server_config(&chain, &wrong).unwrap_err().to_string().contains("not a PEM private key"));
    }
}
