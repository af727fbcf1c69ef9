//! HTTPS on the loop (api.md §2.3): the server's TLS configuration, built
//! once at boot, and [`TlsStream`], which drives rustls' sans-I/O
//! `ServerConnection` over a non-blocking `TcpStream` so that the HTTP
//! layer reads and writes plaintext through it as through any socket.
//!
//! The order is rustls' own (STYLE.md §4, §7 item 7): `read_tls`, then
//! `process_new_packets`, then plaintext from `reader()`, repeated until
//! the socket would block; output goes through `writer()`, then
//! `write_tls` while `wants_write()`. An error from `process_new_packets`
//! is final: its alert is flushed, then the read fails and the HTTP layer
//! closes the connection. rustls' own buffers are bounded (its default
//! 64 KiB limit): a full one is back-pressure, never growth (invariant 4).

use std::fs;
use std::io::{self, Read, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ServerConnection, WebPkiClientVerifier};
use rustls::{
    DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig, SignatureScheme,
};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, UnixTime};

/// A client that has not finished its handshake this long after connecting
/// is dropped (api.md §3): a half-open handshake holds a connection slot.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the self-signed certificate is valid from (it tolerates clocks
/// a little behind ours) and until.
const SELF_SIGNED_BACKDATE: Duration = Duration::from_secs(60 * 60);
const SELF_SIGNED_LIFETIME: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// Where the server's certificate comes from.
#[derive(Debug)]
pub enum CertificateSource<'a> {
    /// `--cert` (a PEM chain) and `--key` (a PEM key: PKCS#8, PKCS#1 or
    /// SEC1).
    Files { cert: &'a Path, key: &'a Path },
    /// A self-signed ECDSA P-256 certificate for these extra names (the
    /// listen host, or the machine's hostname for a wildcard host), made at
    /// each start.
    SelfSigned { host: &'a str },
}

/// The HTTPS listener's configuration, and the SHA-256 fingerprint of its
/// certificate for the startup log (`AB:CD:…`).
#[derive(Debug)]
pub struct Server {
    /// For every connection.
    pub config: Arc<ServerConfig>,
    /// Of the leaf certificate, upper-case hex pairs joined by `:`.
    pub fingerprint: String,
}

/// Builds the HTTPS configuration. The error is the message for exit code
/// 71 (an unreadable or mismatched certificate, key or client CA bundle).
pub fn server(source: CertificateSource<'_>, client_ca: Option<&Path>) -> Result<Server, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let (chain, key) = match source {
        CertificateSource::Files { cert, key } => (read_chain(cert)?, read_key(key)?),
        CertificateSource::SelfSigned { host } => self_signed(host)?,
    };
    let fingerprint = fingerprint(chain[0].as_ref());
    let verifier: Arc<dyn ClientCertVerifier> = match client_ca {
        Some(path) => {
            let mut roots = RootCertStore::empty();
            for cert in read_chain(path)? {
                roots.add(cert).map_err(|e| {
                    format!(
                        "cannot use {}: {}",
                        path.display(),
                        lower_first(&e.to_string())
                    )
                })?;
            }
            // Client certificates are requested, never required (§2.3);
            // one that is presented must chain to the bundle.
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider))
                .allow_unauthenticated()
                .build()
                .map_err(|e| format!("cannot use {}: {e}", path.display()))?
        }
        None => Arc::new(AnyClientCertificate {
            algorithms: provider.signature_verification_algorithms,
        }),
    };
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("cannot set up TLS: {e}"))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| {
            format!(
                "cannot use the certificate and key: {}",
                lower_first(&e.to_string())
            )
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Server {
        config: Arc::new(config),
        fingerprint,
    })
}

fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let fail = |why: String| format!("cannot read certificates from {}: {why}", path.display());
    let pem = fs::read(path).map_err(|e| fail(super::children::reason(&e)))?;
    let chain = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| fail(e.to_string()))?;
    if chain.is_empty() {
        return Err(fail("no PEM certificate in the file".into()));
    }
    Ok(chain)
}

/// Reads the first private key of a PEM file, in any of the forms rustls
/// knows: `PRIVATE KEY` (PKCS#8), `RSA PRIVATE KEY` (PKCS#1) and
/// `EC PRIVATE KEY` (SEC1).
fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    let fail = |why: String| format!("cannot read a private key from {}: {why}", path.display());
    let pem = fs::read(path).map_err(|e| fail(super::children::reason(&e)))?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| match e {
        rustls_pki_types::pem::Error::NoItemsFound => {
            fail("no PKCS#8, PKCS#1 or SEC1 PEM key in the file".into())
        }
        other => fail(other.to_string()),
    })
}

/// A self-signed certificate, subject CN `vigild`, for `localhost`,
/// `127.0.0.1`, `::1` and the listen host, or the machine's hostname when
/// the host is a wildcard (§2.3).
fn self_signed(
    host: &str,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), String> {
    let fail = |e: rcgen::Error| format!("cannot make a self-signed certificate: {e}");
    let mut names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    let extra = match host {
        "" | "0.0.0.0" | "::" => hostname(),
        specific => Some(specific.to_owned()),
    };
    if let Some(extra) = extra
        && !names.contains(&extra)
    {
        names.push(extra);
    }
    let mut params = rcgen::CertificateParams::new(names).map_err(fail)?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "vigild");
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - SELF_SIGNED_BACKDATE;
    params.not_after = now + SELF_SIGNED_LIFETIME;
    // ECDSA P-256 is rcgen's default key.
    let key = rcgen::KeyPair::generate().map_err(fail)?;
    let cert = params.self_signed(&key).map_err(fail)?;
    let key = PrivateKeyDer::Pkcs8(key.serialize_der().into());
    Ok((vec![cert.der().clone()], key))
}

/// The machine's hostname, if it is a usable DNS name.
fn hostname() -> Option<String> {
    let name = fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    let name = name.trim();
    (!name.is_empty() && name.parse::<std::net::IpAddr>().is_err()).then(|| name.to_owned())
}

/// SHA-256 of `der`, as `AB:CD:…`.
fn fingerprint(der: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, der);
    let hex: Vec<String> = digest.as_ref().iter().map(|b| format!("{b:02X}")).collect();
    hex.join(":")
}

fn lower_first(message: &str) -> String {
    let mut chars = message.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Without `--tls-client-ca`: any client certificate is accepted at the TLS
/// layer (the handshake still proves the client holds its key), and none is
/// required. Certificate identities decide what it is worth (api.md §2.3).
#[derive(Debug)]
struct AnyClientCertificate {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for AnyClientCertificate {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
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

/// One HTTPS connection: the socket and rustls' state, read and written as
/// plaintext.
pub struct TlsStream {
    socket: TcpStream,
    tls: ServerConnection,
    /// The handshake must be done by then.
    handshake_deadline: Option<Instant>,
    /// The client's certificates were handed to the HTTP layer's peer.
    certificates_taken: bool,
}

impl std::fmt::Debug for TlsStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsStream")
            .field("handshaking", &self.tls.is_handshaking())
            .field("wants_write", &self.tls.wants_write())
            .finish_non_exhaustive()
    }
}

impl TlsStream {
    /// A connection just accepted; its handshake clock starts at the first
    /// [`start`](Self::start).
    pub fn new(socket: TcpStream, tls: ServerConnection) -> TlsStream {
        TlsStream {
            socket,
            tls,
            handshake_deadline: None,
            certificates_taken: false,
        }
    }

    /// Starts the handshake clock at `now`.
    pub fn start(&mut self, now: Instant) {
        self.handshake_deadline = Some(now + HANDSHAKE_TIMEOUT);
    }

    /// The socket, for registration.
    pub fn socket(&mut self) -> &mut TcpStream {
        &mut self.socket
    }

    /// When the handshake times out, while it is under way.
    pub fn deadline(&self) -> Option<Instant> {
        self.handshake_deadline
            .filter(|_| self.tls.is_handshaking())
    }

    /// Whether TLS records wait for the socket to take them.
    pub fn wants_write(&self) -> bool {
        self.tls.wants_write()
    }

    /// Once the handshake is done, the client's certificate chain (leaf
    /// first, DER), the first time only; `None` before and after.
    pub fn take_certificates(&mut self) -> Option<Vec<Vec<u8>>> {
        if self.certificates_taken || self.tls.is_handshaking() {
            return None;
        }
        self.certificates_taken = true;
        Some(
            self.tls
                .peer_certificates()
                .unwrap_or_default()
                .iter()
                .map(|cert| cert.as_ref().to_vec())
                .collect(),
        )
    }

    /// Queues a `close_notify` and writes what the socket takes now. Called
    /// when the HTTP layer is done; nobody waits for the rest.
    pub fn close(&mut self) {
        self.tls.send_close_notify();
        let _ = self.write_records();
    }

    /// Writes TLS records to the socket while rustls has some and the
    /// socket takes them.
    fn write_records(&mut self) -> io::Result<()> {
        while self.tls.wants_write() {
            match self.tls.write_tls(&mut self.socket) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Reads records from the socket and processes them. `Ok(true)` when
    /// something was read (plaintext may be ready, or the peer closed),
    /// `Ok(false)` when the socket would block.
    fn read_records(&mut self) -> io::Result<bool> {
        loop {
            match self.tls.read_tls(&mut self.socket) {
                Ok(_) => break,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if let Err(error) = self.tls.process_new_packets() {
            // Final: send the alert that says why, then give up.
            let _ = self.write_records();
            return Err(io::Error::new(io::ErrorKind::InvalidData, error));
        }
        // Handshake messages, or a reply to a key update.
        self.write_records()?;
        Ok(true)
    }
}

impl Read for TlsStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.tls.reader().read(buf) {
                Ok(count) => return Ok(count),
                // The peer closed without close_notify: for a server,
                // that only ends the input (no truncation attack applies to
                // a request we have not answered).
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            if !self.read_records()? {
                return Err(io::ErrorKind::WouldBlock.into());
            }
        }
    }
}

impl Write for TlsStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // Before the handshake ends, rustls keeps the plaintext until it
        // can encrypt it. `Ok(0)` means its buffer is full: the HTTP layer
        // takes that as "would block".
        let count = self.tls.writer().write(buf)?;
        self.write_records()?;
        Ok(count)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.write_records()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_self_signed_server_has_a_fingerprint() {
        let server = server(CertificateSource::SelfSigned { host: "::1" }, None).unwrap();
        assert_eq!(server.fingerprint.len(), 32 * 3 - 1);
        assert!(
            server
                .fingerprint
                .chars()
                .all(|c| c == ':' || c.is_ascii_hexdigit())
        );
        assert_eq!(server.config.alpn_protocols, vec![b"http/1.1".to_vec()]);
    }

    #[test]
    fn keys_in_every_pem_form_are_read() {
        let dir = std::env::temp_dir().join(format!("vigil-tls-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let pkcs8 = dir.join("pkcs8.pem");
        fs::write(&pkcs8, key.serialize_pem()).unwrap();
        assert!(matches!(read_key(&pkcs8), Ok(PrivateKeyDer::Pkcs8(_))));
        // Test-only keys made with `openssl ecparam -genkey -noout` (SEC1)
        // and `openssl genrsa -traditional 512` (PKCS#1).
        let sec1 = dir.join("sec1.pem");
        fs::write(
            &sec1,
            "-----BEGIN EC PRIVATE KEY-----\n\
             MHcCAQEEIA7x39Z10sWFFQ2/uyYRNKd6sgDmLki80hpQtxvlciH1oAoGCCqGSM49\n\
             AwEHoUQDQgAEbZKYT/7uDTMi4hobUwkGCoLpeVQgEZls5ghFPKwui1PFrpUOpN6D\n\
             Pd43et4GwbViJBYB06LYVT/hShGvdE592A==\n\
             -----END EC PRIVATE KEY-----\n",
        )
        .unwrap();
        assert!(matches!(read_key(&sec1), Ok(PrivateKeyDer::Sec1(_))));
        let pkcs1 = dir.join("pkcs1.pem");
        fs::write(
            &pkcs1,
            "-----BEGIN RSA PRIVATE KEY-----\n\
             MIIBPAIBAAJBANOZCRWEPXbJq4gzoo2ily43KCEa3Ew42CpcMHrubUTR3GjpCiNi\n\
             GHK3PHjHXp+61+K55dWX6+yUfXDp3OXusssCAwEAAQJBAIBzHjiZllZOBnsgHUWt\n\
             teiwQwQVsjXzLAZLAIMfyeVEBc8Q6vTAoXsGrslCFvvAyk6AzhYuHHGwJwWHAB6N\n\
             z0ECIQDtfCdMNrMvnjtrDhRZ25Em6U4uZvW1eYqwPWmJf2H7DQIhAOQYNmDDrwYY\n\
             8sWg85IJJRIeJ/ElQCFYPXsb1Yl33A83AiEArNw84n3CSbvcNh1mdM2cRv11GdN5\n\
             r+FLMONSqXGeCRUCIQDHjitdAzbIVeFoaAVRGbEWJc36GwX9Zk77uwFacMPVhwIg\n\
             Yf553vWSTFy7DMxiM8uocmdrX+UDEPklztiJ49eE5ec=\n\
             -----END RSA PRIVATE KEY-----\n",
        )
        .unwrap();
        assert!(matches!(read_key(&pkcs1), Ok(PrivateKeyDer::Pkcs1(_))));
        let none = dir.join("none.pem");
        fs::write(&none, "nothing here\n").unwrap();
        let error = read_key(&none).unwrap_err();
        assert!(
            error.contains("no PKCS#8, PKCS#1 or SEC1 PEM key"),
            "{error}"
        );
        let _ = fs::remove_dir_all(&dir);
    }
}
