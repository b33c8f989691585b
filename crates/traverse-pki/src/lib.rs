//! Every run makes its own certificates, so nothing secret is ever committed
//! and every test starts from the same trust story as a customer network: a
//! public CA that clients and hops trust (the web PKI), the origin's
//! certificate, and the certificate a TLS-terminating middlebox presents for
//! the origin's name (a load balancer holds a real certificate for the
//! customer's domain), and an enterprise inspection CA whose certificates a
//! TLS-inspecting gateway forges: managed client devices trust it, hops and
//! the public web do not. The runner builds one [`Pki`] per run and hands it to
//! middleboxes and tunnels, which take their rustls configs from here.

use std::path::Path;
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};
use traverse_scenario::OriginCertificate;
use traverse_scenario::address::ORIGIN_HOST;

#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("cannot generate the {what} certificate: {source}")]
    Generate {
        what: &'static str,
        #[source]
        source: rcgen::Error,
    },
    #[error("cannot build a TLS config from the {what} certificate: {source}")]
    Config {
        what: &'static str,
        #[source]
        source: rustls::Error,
    },
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// A certificate with its private key.
#[derive(Debug)]
pub struct Leaf {
    pub cert: CertificateDer<'static>,
    key: PrivatePkcs8KeyDer<'static>,
    cert_pem: String,
    key_pem: String,
}

impl Leaf {
    fn new(cert: &rcgen::Certificate, key: &KeyPair) -> Leaf {
        Leaf {
            cert: cert.der().clone(),
            key: PrivatePkcs8KeyDer::from(key.serialize_der()),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }

    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }

    /// A TLS server config presenting this certificate, HTTP/1.1 only (what
    /// WebSocket upgrades and our tunnels speak).
    pub fn server_config(&self, what: &'static str) -> Result<Arc<ServerConfig>, PkiError> {
        let mut config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|source| PkiError::Config { what, source })?
            .with_no_client_auth()
            .with_single_cert(
                vec![self.cert.clone()],
                PrivateKeyDer::Pkcs8(self.key.clone_key()),
            )
            .map_err(|source| PkiError::Config { what, source })?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

/// The certificates of one run.
#[derive(Debug)]
pub struct Pki {
    public_ca: Leaf,
    /// The origin's certificate, issued by the public CA.
    pub origin_public: Leaf,
    /// A self-signed origin certificate, for scenarios whose origin has no
    /// publicly trusted certificate (Cloudflare "Full" works, "Full strict" not).
    pub origin_self_signed: Leaf,
    /// What TLS-terminating middleboxes present for the origin's name.
    pub middlebox: Leaf,
    inspection_ca: Leaf,
    /// What a TLS-inspecting gateway presents for the origin's name,
    /// issued by the enterprise inspection CA.
    pub inspection: Leaf,
}

impl Pki {
    /// Makes fresh keys and certificates: ECDSA P-256, milliseconds.
    pub fn generate() -> Result<Pki, PkiError> {
        let ca = certificate_authority("public CA", "traverse public CA")?;
        let origin_public = issue("origin", "traverse origin", |params, key| {
            params.signed_by(key, &ca)
        })?;
        let origin_self_signed = issue("self-signed origin", "traverse origin (self-signed)", {
            |params, key| params.self_signed(key)
        })?;
        let middlebox = issue("middlebox", "traverse middlebox", |params, key| {
            params.signed_by(key, &ca)
        })?;
        let enterprise =
            certificate_authority("inspection CA", "traverse enterprise inspection CA")?;
        let inspection = issue("inspection", "traverse inspected origin", |params, key| {
            params.signed_by(key, &enterprise)
        })?;
        Ok(Pki {
            public_ca: authority_leaf(&ca),
            origin_public,
            origin_self_signed,
            middlebox,
            inspection_ca: authority_leaf(&enterprise),
            inspection,
        })
    }

    pub fn public_ca(&self) -> &Leaf {
        &self.public_ca
    }

    pub fn origin(&self, certificate: OriginCertificate) -> &Leaf {
        match certificate {
            OriginCertificate::Public => &self.origin_public,
            OriginCertificate::SelfSigned => &self.origin_self_signed,
        }
    }

    pub fn inspection_ca(&self) -> &Leaf {
        &self.inspection_ca
    }

    /// What the public web trusts: the public CA.
    pub fn public_roots(&self) -> RootCertStore {
        roots(&[&self.public_ca])
    }

    /// A hop checking its upstream (Cloudflare Full strict, an inspecting
    /// gateway re-encrypting): the public CA only.
    pub fn public_client(&self) -> Arc<ClientConfig> {
        verifying(self.public_roots())
    }

    /// A tunnel client on a managed device: the public CA and the
    /// enterprise inspection CA that device management installs.
    pub fn verifying_client(&self) -> Arc<ClientConfig> {
        verifying(roots(&[&self.public_ca, &self.inspection_ca]))
    }

    /// A client that accepts exactly one certificate, whoever issued it: how an
    /// end-to-end "privacy protocol" detects any TLS termination on the path.
    pub fn pinning_client(&self, pinned: &CertificateDer<'static>) -> Arc<ClientConfig> {
        pinning_config(pinned)
    }

    /// A client that accepts any certificate (Cloudflare "Full" to the origin).
    pub fn unverified_client() -> Arc<ClientConfig> {
        dangerous_client(Verifier::Anything)
    }

    /// Writes the run's certificates and keys as PEM files, for using the
    /// mocks by hand (`traverse certs`).
    pub fn write_pem(&self, folder: &Path) -> Result<Vec<String>, PkiError> {
        let files = [
            ("public-ca.pem", self.public_ca.cert_pem()),
            ("public-ca.key", self.public_ca.key_pem()),
            ("origin.pem", self.origin_public.cert_pem()),
            ("origin.key", self.origin_public.key_pem()),
            ("origin-self-signed.pem", self.origin_self_signed.cert_pem()),
            ("origin-self-signed.key", self.origin_self_signed.key_pem()),
            ("middlebox.pem", self.middlebox.cert_pem()),
            ("middlebox.key", self.middlebox.key_pem()),
            ("inspection-ca.pem", self.inspection_ca.cert_pem()),
            ("inspection-ca.key", self.inspection_ca.key_pem()),
            ("inspection.pem", self.inspection.cert_pem()),
            ("inspection.key", self.inspection.key_pem()),
        ];
        let write_error = |path: &Path, source| PkiError::Write {
            path: path.display().to_string(),
            source,
        };
        std::fs::create_dir_all(folder).map_err(|source| write_error(folder, source))?;
        let mut written = Vec::new();
        for (file, contents) in files {
            let path = folder.join(file);
            write_private(&path, contents).map_err(|source| write_error(&path, source))?;
            written.push(path.display().to_string());
        }
        Ok(written)
    }
}

/// Writes `contents` to a new or replaced file that only this user can
/// read: keys, and the configs that name them.
pub fn write_private(path: &Path, contents: impl AsRef<[u8]>) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    // A file that was there keeps its mode through open: set it.
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    file.write_all(contents.as_ref())
}

/// The one crypto provider of the project: ring, which builds without cmake.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn key(what: &'static str) -> Result<KeyPair, PkiError> {
    KeyPair::generate().map_err(|source| PkiError::Generate { what, source })
}

fn name(common_name: &str) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, common_name);
    name.push(DnType::OrganizationName, "traverse test PKI");
    name
}

fn certificate_authority(
    what: &'static str,
    common_name: &str,
) -> Result<CertifiedIssuer<'static, KeyPair>, PkiError> {
    let mut params = CertificateParams::default();
    params.distinguished_name = name(common_name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    CertifiedIssuer::self_signed(params, key(what)?)
        .map_err(|source| PkiError::Generate { what, source })
}

fn authority_leaf(authority: &CertifiedIssuer<'static, KeyPair>) -> Leaf {
    Leaf {
        cert: authority.der().clone(),
        key: PrivatePkcs8KeyDer::from(authority.key().serialize_der()),
        cert_pem: authority.pem(),
        key_pem: authority.key().serialize_pem(),
    }
}

fn roots(authorities: &[&Leaf]) -> RootCertStore {
    let mut roots = RootCertStore::empty();
    for authority in authorities {
        // A freshly generated CA always parses; an error here is a bug in rcgen.
        let _ = roots.add(authority.cert.clone());
    }
    roots
}

/// A client pinned to `pinned`, as [`Pki::pinning_client`] makes it.
pub fn pinning_config(pinned: &CertificateDer<'static>) -> Arc<ClientConfig> {
    dangerous_client(Verifier::Pinned(pinned.clone()))
}

/// A client trusting the CA certificates of a PEM file.
pub fn verifying_config_from_pem(path: &Path) -> Result<Arc<ClientConfig>, PkiError> {
    let mut roots = RootCertStore::empty();
    for cert in certificates_from_pem(path)? {
        roots.add(cert).map_err(|source| PkiError::Config {
            what: "trusted CA",
            source,
        })?;
    }
    Ok(verifying(roots))
}

/// The certificates in a PEM file.
pub fn certificates_from_pem(path: &Path) -> Result<Vec<CertificateDer<'static>>, PkiError> {
    use rustls::pki_types::pem::PemObject;
    let read = |source| PkiError::Read {
        path: path.display().to_string(),
        source,
    };
    let text = std::fs::read(path).map_err(read)?;
    let certs: Vec<_> = CertificateDer::pem_slice_iter(&text)
        .collect::<Result<_, _>>()
        .map_err(|error| {
            read(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                error.to_string(),
            ))
        })?;
    if certs.is_empty() {
        return Err(read(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "no certificate in it",
        )));
    }
    Ok(certs)
}

impl Leaf {
    /// A certificate and key from PEM files, for serving TLS by hand.
    pub fn from_pem_files(cert: &Path, key: &Path) -> Result<Leaf, PkiError> {
        use rustls::pki_types::pem::PemObject;
        let read = |path: &Path, source| PkiError::Read {
            path: path.display().to_string(),
            source,
        };
        let invalid = |path: &Path, what: String| {
            read(
                path,
                std::io::Error::new(std::io::ErrorKind::InvalidData, what),
            )
        };
        let chain = certificates_from_pem(cert)?;
        let key_pem = std::fs::read_to_string(key).map_err(|source| read(key, source))?;
        let key_der = PrivatePkcs8KeyDer::from_pem_slice(key_pem.as_bytes())
            .map_err(|error| invalid(key, format!("not a PKCS#8 private key: {error}")))?;
        let cert_pem = std::fs::read_to_string(cert).map_err(|source| read(cert, source))?;
        Ok(Leaf {
            cert: chain[0].clone(),
            key: key_der,
            cert_pem,
            key_pem,
        })
    }
}

fn verifying(roots: RootCertStore) -> Arc<ClientConfig> {
    client_config(
        ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map(|builder| builder.with_root_certificates(roots)),
    )
}

fn issue(
    what: &'static str,
    common_name: &str,
    sign: impl FnOnce(&CertificateParams, &KeyPair) -> Result<rcgen::Certificate, rcgen::Error>,
) -> Result<Leaf, PkiError> {
    let key = key(what)?;
    let mut params = CertificateParams::new(vec![ORIGIN_HOST.to_string()])
        .map_err(|source| PkiError::Generate { what, source })?;
    params.distinguished_name = name(common_name);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let cert = sign(&params, &key).map_err(|source| PkiError::Generate { what, source })?;
    Ok(Leaf::new(&cert, &key))
}

fn client_config(
    builder: Result<
        rustls::ConfigBuilder<ClientConfig, rustls::client::WantsClientCert>,
        rustls::Error,
    >,
) -> Arc<ClientConfig> {
    // The safe defaults of the ring provider are always consistent.
    let builder =
        builder.unwrap_or_else(|error| panic!("ring provider rejected its own defaults: {error}"));
    let mut config = builder.with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

fn dangerous_client(verifier: Verifier) -> Arc<ClientConfig> {
    let algorithms = provider().signature_verification_algorithms;
    client_config(
        ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map(|builder| {
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(CustomVerifier {
                        verifier,
                        algorithms,
                    }))
            }),
    )
}

#[derive(Debug)]
enum Verifier {
    Pinned(CertificateDer<'static>),
    Anything,
}

#[derive(Debug)]
struct CustomVerifier {
    verifier: Verifier,
    algorithms: WebPkiSupportedAlgorithms,
}

/// Why a pinned client refused a certificate, as the TLS error will say.
#[derive(Debug, thiserror::Error)]
#[error(
    "the server's certificate is not the pinned origin certificate (something on the path terminates TLS)"
)]
pub struct NotPinned;

impl ServerCertVerifier for CustomVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match &self.verifier {
            Verifier::Pinned(pinned) if pinned.as_ref() != end_entity.as_ref() => {
                Err(rustls::Error::InvalidCertificate(
                    rustls::CertificateError::Other(rustls::OtherError(Arc::new(NotPinned))),
                ))
            }
            _ => Ok(ServerCertVerified::assertion()),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// The rustls error inside an I/O error from a TLS handshake, if any.
pub fn tls_error(error: &std::io::Error) -> Option<&rustls::Error> {
    error.get_ref()?.downcast_ref::<rustls::Error>()
}

/// A TLS failure in words a person can act on.
pub fn describe_tls(error: &rustls::Error) -> String {
    use rustls::CertificateError;
    match error {
        rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer) => {
            "the certificate is not issued by a trusted CA (unknown issuer)".to_string()
        }
        rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        ) => format!("the certificate is not valid for {ORIGIN_HOST}"),
        rustls::Error::InvalidCertificate(CertificateError::Other(other)) => other.to_string(),
        rustls::Error::AlertReceived(alert) => format!("the peer sent TLS alert {alert:?}"),
        // This side's own refusal, as a server: the client insisted on a
        // protocol (an HTTP/2-only client's `h2`) that this node does not speak.
        rustls::Error::NoApplicationProtocol => {
            "this server speaks none of the protocols the client offered in ALPN \
             (no_application_protocol)"
                .to_string()
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn middlebox_and_origin_certificates_differ_but_share_the_public_issuer() {
        let pki = Pki::generate().expect("pki");
        assert_ne!(pki.middlebox.cert, pki.origin_public.cert);
        assert_ne!(pki.origin_public.cert, pki.origin_self_signed.cert);
        assert_eq!(pki.public_roots().len(), 1);
    }

    #[test]
    fn writes_every_certificate_and_key_as_pem() {
        let pki = Pki::generate().expect("pki");
        let folder = tempfile::tempdir().expect("tempdir");
        let written = pki.write_pem(folder.path()).expect("write");
        assert_eq!(written.len(), 12);
        let ca = std::fs::read_to_string(folder.path().join("public-ca.pem")).expect("read");
        assert!(ca.starts_with("-----BEGIN CERTIFICATE-----"));
        let key = std::fs::read_to_string(folder.path().join("origin.key")).expect("read");
        assert!(key.starts_with("-----BEGIN PRIVATE KEY-----"));
    }

    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::metadata(path)
            .expect("metadata")
            .permissions()
            .mode()
            & 0o777
    }

    /// Keys are this user's alone, even over a file that another run left
    /// readable.
    #[test]
    fn keys_are_readable_by_their_owner_only() {
        let folder = tempfile::tempdir().expect("tempdir");
        let key = folder.path().join("key.pem");
        std::fs::write(&key, "old").expect("write");
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        write_private(&key, "new").expect("write");
        assert_eq!(mode(&key), 0o600);
        assert_eq!(std::fs::read_to_string(&key).expect("read"), "new");
        let pki = Pki::generate().expect("pki");
        pki.write_pem(folder.path()).expect("write");
        assert_eq!(mode(&folder.path().join("public-ca.key")), 0o600);
    }
}
