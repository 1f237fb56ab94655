//! TLS for probes: the trust anchors, a client configuration that completes the handshake
//! whatever the certificate, and the real chain verification done afterwards so that an
//! expired or unknown-CA certificate is *reported* (`cert_valid: false` and why) while the
//! probe still reaches the greeting.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore,
    SignatureScheme,
};

use crate::observe::record::TlsVersion;
use crate::time::Timestamp;

/// Why the TLS trust could not be set up.
#[derive(Debug)]
pub enum TrustError {
    /// The `ca_file` could not be read.
    CaFileUnreadable {
        /// The file.
        path: PathBuf,
        /// Why it could not be read.
        reason: String,
    },
    /// The `ca_file` holds no usable PEM certificate.
    CaFileEmpty {
        /// The file.
        path: PathBuf,
    },
    /// rustls refused the configuration (should not happen with the ring provider).
    Config(String),
}

impl fmt::Display for TrustError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrustError::CaFileUnreadable { path, reason } => {
                write!(f, "{}: cannot read CA file: {reason}", path.display())
            }
            TrustError::CaFileEmpty { path } => write!(
                f,
                "{}: no PEM certificate (-----BEGIN CERTIFICATE-----) in the CA file",
                path.display()
            ),
            TrustError::Config(why) => write!(f, "TLS configuration: {why}"),
        }
    }
}

impl std::error::Error for TrustError {}

/// What the probe's TLS needs, built once and shared by every probe until a config reload.
#[derive(Clone, Debug)]
pub struct TlsSetup {
    /// Handshakes with [`RecordOnlyVerifier`]: completes whatever the certificate.
    pub client_config: Arc<ClientConfig>,
    /// The real verifier (system roots plus `ca_file`); `None` when there is no trust anchor
    /// at all, so every certificate is reported invalid.
    verifier: Option<Arc<WebPkiServerVerifier>>,
    /// How many trust anchors were loaded.
    pub anchors: usize,
}

impl TlsSetup {
    /// System roots (rustls-native-certs) plus the PEM certificates in `ca_file`.
    pub fn new(ca_file: Option<&Path>) -> Result<TlsSetup, TrustError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = RootCertStore::empty();
        // A system store that cannot be read is not fatal: the probe still runs and reports
        // every certificate as unverified.
        let native = rustls_native_certs::load_native_certs();
        roots.add_parsable_certificates(native.certs);
        if let Some(path) = ca_file {
            let extra = load_pem_certs(path)?;
            let (added, _ignored) = roots.add_parsable_certificates(extra);
            if added == 0 {
                return Err(TrustError::CaFileEmpty {
                    path: path.to_path_buf(),
                });
            }
        }
        let anchors = roots.len();
        let verifier = if anchors == 0 {
            None
        } else {
            Some(
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                    .build()
                    .map_err(|e| TrustError::Config(e.to_string()))?,
            )
        };
        let config = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| TrustError::Config(e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(RecordOnlyVerifier { provider }))
            .with_no_client_auth();
        Ok(TlsSetup {
            client_config: Arc::new(config),
            verifier,
            anchors,
        })
    }

    /// Verifies the chain the server presented, for `host`, now. `Err` carries plain words.
    pub fn verify_chain(&self, certs: &[CertificateDer<'_>], host: &str) -> Result<(), String> {
        let Some(verifier) = &self.verifier else {
            return Err("no trust anchors (no system roots and no ca_file)".into());
        };
        let Some((leaf, intermediates)) = certs.split_first() else {
            return Err("the server sent no certificate".into());
        };
        let name = ServerName::try_from(host.to_string())
            .map_err(|_| format!("{host:?} is not a name a certificate can be checked for"))?;
        verifier
            .verify_server_cert(leaf, intermediates, &name, &[], UnixTime::now())
            .map(|_| ())
            .map_err(|e| {
                let self_signed = intermediates.is_empty() && super::cert::is_self_issued(leaf);
                // The words may quote names from the certificate: shown escaped.
                crate::text::clean_str(&certificate_problem(&e, self_signed))
            })
    }
}

fn load_pem_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TrustError> {
    let unreadable = |reason: String| TrustError::CaFileUnreadable {
        path: path.to_path_buf(),
        reason,
    };
    let bytes = std::fs::read(path).map_err(|e| unreadable(super::plain_io_error(&e)))?;
    CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| unreadable(format!("bad PEM: {e}")))
}

/// Completes every handshake: checks the handshake signatures (so the peer holds the key of
/// the certificate it sent) but not the chain, which [`TlsSetup::verify_chain`] judges
/// afterwards. Used only by probes, which never send credentials or data that matter.
#[derive(Debug)]
struct RecordOnlyVerifier {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for RecordOnlyVerifier {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// What a finished handshake tells.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HandshakeFacts {
    /// The negotiated protocol version.
    pub version: Option<TlsVersion>,
    /// The negotiated cipher suite, by its IANA name.
    pub cipher: Option<String>,
    /// The leaf certificate's notAfter.
    pub cert_not_after: Option<Timestamp>,
    /// Whether the chain validated for the host against the trust anchors.
    pub cert_valid: Option<bool>,
    /// Why it did not.
    pub cert_error: Option<String>,
}

/// Reads the negotiated version, suite and certificate facts off a client connection.
pub fn handshake_facts(setup: &TlsSetup, conn: &ClientConnection, host: &str) -> HandshakeFacts {
    let version = conn.protocol_version().map(|v| TlsVersion(u16::from(v)));
    let cipher = conn.negotiated_cipher_suite().map(|s| {
        let suite = s.suite();
        suite
            .as_str()
            .map_or_else(|| format!("{suite:?}"), str::to_string)
    });
    let certs = conn.peer_certificates().unwrap_or(&[]);
    let cert_not_after = certs.first().and_then(|leaf| super::cert::not_after(leaf));
    let verdict = setup.verify_chain(certs, host);
    HandshakeFacts {
        version,
        cipher,
        cert_not_after,
        cert_valid: Some(verdict.is_ok()),
        cert_error: verdict.err(),
    }
}

/// Why a certificate is not valid, starting with the plain reason a person looks for:
/// `self-signed`, `expired`, `not yet valid`, `wrong name`, `unknown issuer`, `revoked`.
pub fn certificate_problem(err: &rustls::Error, self_signed: bool) -> String {
    use CertificateError as C;
    let rustls::Error::InvalidCertificate(cert) = err else {
        return describe_tls_error(err);
    };
    let about_the_chain = !matches!(
        cert,
        C::Expired
            | C::ExpiredContext { .. }
            | C::NotValidYet
            | C::NotValidYetContext { .. }
            | C::NotValidForName
            | C::NotValidForNameContext { .. }
            | C::Revoked
    );
    match cert {
        // Whatever webpki objects to first (unknown issuer, or a CA certificate used as the
        // server's, as `openssl req -x509` makes by default), the cause is the same.
        _ if self_signed && about_the_chain => {
            "self-signed: the certificate is signed by its own key, not by a trusted CA".into()
        }
        C::UnknownIssuer => "unknown issuer: the certificate is not signed by a trusted CA".into(),
        C::Expired => "expired".into(),
        C::ExpiredContext { .. } => format!("expired ({cert})"),
        C::NotValidYet => "not yet valid".into(),
        C::NotValidYetContext { .. } => format!("not yet valid ({cert})"),
        C::NotValidForName => "wrong name: the certificate is not for this host name".into(),
        C::NotValidForNameContext { .. } => format!("wrong name ({cert})"),
        C::Revoked => "revoked".into(),
        _ => describe_tls_error(err),
    }
}

/// Plain words for a rustls error: "alert protocol_version", "unknown issuer …".
pub fn describe_tls_error(err: &rustls::Error) -> String {
    match err {
        rustls::Error::AlertReceived(alert) => format!("alert {}", alert_name(*alert)),
        rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer) => {
            "unknown issuer: the certificate is not signed by a trusted CA".into()
        }
        rustls::Error::InvalidCertificate(CertificateError::Expired) => {
            "certificate expired".into()
        }
        rustls::Error::InvalidCertificate(CertificateError::NotValidYet) => {
            "certificate not valid yet".into()
        }
        rustls::Error::InvalidCertificate(CertificateError::NotValidForName) => {
            "certificate not valid for this host name".into()
        }
        rustls::Error::InvalidCertificate(CertificateError::Revoked) => {
            "certificate revoked".into()
        }
        rustls::Error::InvalidCertificate(CertificateError::BadSignature) => {
            "bad certificate signature".into()
        }
        rustls::Error::PeerIncompatible(
            rustls::PeerIncompatible::ServerDoesNotSupportTls12Or13,
        ) => "the server chose TLS 1.1 or older; the probe speaks TLS 1.2 and 1.3".into(),
        // The *Context variants already read plainly ("certificate expired: verification
        // time …").
        rustls::Error::InvalidCertificate(cert) => cert.to_string(),
        other => other.to_string(),
    }
}

/// The RFC 8446 §6 name of an alert, e.g. `protocol_version`; unknown codes kept as numbers.
fn alert_name(alert: rustls::AlertDescription) -> String {
    let Some(camel) = alert.as_str() else {
        return u8::from(alert).to_string();
    };
    let mut out = String::with_capacity(camel.len() + 4);
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::AlertDescription;

    #[test]
    fn alert_names_follow_rfc_8446() {
        // RFC 8446 §6: enum { close_notify(0), ..., protocol_version(70), ... }.
        let e = rustls::Error::AlertReceived(AlertDescription::ProtocolVersion);
        assert_eq!(describe_tls_error(&e), "alert protocol_version");
        let e = rustls::Error::AlertReceived(AlertDescription::HandshakeFailure);
        assert_eq!(describe_tls_error(&e), "alert handshake_failure");
        let e = rustls::Error::AlertReceived(AlertDescription::from(200));
        assert_eq!(describe_tls_error(&e), "alert 200");
    }

    #[test]
    fn a_missing_ca_file_names_its_path() {
        let err = TlsSetup::new(Some(Path::new("/nonexistent/ca.pem"))).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("/nonexistent/ca.pem: cannot read CA file"),
            "{text}"
        );
    }

    #[test]
    fn a_ca_file_without_certificates_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty.pem");
        std::fs::write(&path, "not a certificate\n").unwrap();
        let err = TlsSetup::new(Some(&path)).unwrap_err();
        assert!(matches!(err, TrustError::CaFileEmpty { .. }), "{err}");
    }
}
