//! TLS for outbound calls: the one rustls client config of vigild's probes
//! and alert delivery (checks-and-alerts.md §4.1, §13) and of the CLI's
//! `--url https://…` (cli.md §2.1), the ureq agent that uses it, the PEM
//! files it reads, and rustls' errors in words. All on the workspace's one
//! rustls and ring provider (DESIGN.md §4).
//!
//! Behind the crate's `tls` feature: unlike the rest of the crate, an agent
//! does network I/O, and **blocks**.
//!
//! # Certificates of a CA bundle
//!
//! A bundle (`ca`, `tls-ca`, `proxy-ca`) adds its certificates to the public
//! web roots as trust anchors, and webpki verifies the server's chain against
//! them as rustls always does. webpki refuses a CA certificate as the
//! server's own (`CaUsedAsEndEntity`), and `openssl req -x509` marks the
//! self-signed certificate it makes as a CA; curl (`--cacert`) and Go's
//! crypto/x509 accept a server certificate that is itself in the trusted
//! set. So does [`PinningVerifier`]: when the server presents, as its own
//! certificate, one that is byte for byte in the bundle, and webpki refused
//! it only because it is a CA or because it found no issuer for it, the
//! certificate is trusted for itself. It must still be within its validity
//! dates, name the server, and allow server authentication when it lists
//! extended key usages. The handshake signature is checked as always, which
//! proves that the server holds the certificate's key.
//!
//! A [`ClientCert`] adds a client certificate for servers that ask for one
//! (mutual TLS, the CLI's `--cert` and `--key`).
//!
//! ureq 3 has no setting for a custom verifier, so [`agent`] builds ureq's
//! connector chain itself (CONNECT proxy, then TCP) and ends it with
//! [`TlsConnector`], which does what ureq's own `RustlsConnector` does with
//! our config: for the target, and for an `https://` proxy too.
//!
//! # Messages
//!
//! [`tls_reason`] words rustls' errors without Debug dumps ([`ureq_tls_reason`]
//! finds them in a failed ureq call):
//!
//! | Case | Reason |
//! |---|---|
//! | untrusted | `invalid peer certificate: unknown issuer` |
//! | expired | `invalid peer certificate: certificate expired: valid until 2025-06-01T12:00:00Z` |
//! | not yet valid | `invalid peer certificate: certificate not yet valid: valid from 2027-01-01T00:00:00Z` |
//! | wrong name | `invalid peer certificate: certificate not valid for name "127.0.0.1" (it names "localhost")` |
//! | a CA as the server's own | `invalid peer certificate: CA certificate used as end-entity` |
//! | wrong purpose | `invalid peer certificate: certificate not valid for server authentication` |
//! | an alert from the server | `received fatal alert: handshake failure` |
//!
//! A self-signed certificate that nothing trusts reads `unknown issuer`, CA
//! or not: webpki stops at the CA mark before it looks for an issuer, but
//! naming the CA mark would send the reader after the wrong fix.

use std::fmt;
use std::io::{Read as _, Write as _};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::api::time::epoch_seconds;
use crate::api::{Precision, Timestamp, quote};
use crate::reason::lower_first;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{WebPkiServerVerifier, verify_server_name};
use rustls::crypto::CryptoProvider;
use rustls::crypto::{WebPkiSupportedAlgorithms, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::PrivateKeyDer;
use rustls::pki_types::pem::{self, PemObject as _};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use rustls::{
    CertificateError, ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore,
    SignatureScheme, StreamOwned,
};
use ureq::tls::PemItem;
use ureq::unversioned::resolver::DefaultResolver;
use ureq::unversioned::transport::time::{Duration as UreqDuration, Instant as UreqInstant};
use ureq::unversioned::transport::{
    Buffers, ConnectProxyConnector, ConnectionDetails, Connector, Either, LazyBuffers, NextTimeout,
    TcpConnector, Transport, TransportAdapter,
};

/// The one crypto provider of the tree (DESIGN.md §4).
#[must_use]
pub fn crypto_provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The public web roots, as whole certificates (so that a CA bundle can be
/// added to them).
pub fn web_roots() -> impl Iterator<Item = CertificateDer<'static>> {
    webpki_root_certs::TLS_SERVER_ROOT_CERTS.iter().cloned()
}

/// The rustls settings of outbound calls: the public web roots plus
/// `bundle`, verified by [`PinningVerifier`]; or, with `insecure`, no
/// verification of the certificate or the name (the handshake signature is
/// still checked against the certificate's key, as Go does). No client
/// certificate.
pub fn tls_config(
    bundle: Vec<CertificateDer<'static>>,
    insecure: bool,
) -> Result<Arc<ClientConfig>, String> {
    tls_config_with_client_cert(bundle, insecure, None)
}

/// [`tls_config`], presenting `client_cert` to a server that asks for a
/// client certificate.
pub fn tls_config_with_client_cert(
    bundle: Vec<CertificateDer<'static>>,
    insecure: bool,
    client_cert: Option<ClientCert>,
) -> Result<Arc<ClientConfig>, String> {
    let builder = ClientConfig::builder_with_provider(crypto_provider())
        .with_safe_default_protocol_versions()
        .map_err(|error| format!("tls: {}", lower_first(&error.to_string())))?
        .dangerous()
        .with_custom_certificate_verifier(verifier(bundle, insecure)?);
    let config = match client_cert {
        Some(ClientCert(key)) => {
            builder.with_client_cert_resolver(Arc::new(SingleCertAndKey::from(key)))
        }
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

/// A client certificate for mutual TLS: a certificate chain, leaf first,
/// and the leaf's private key, known to go together.
#[derive(Clone, Debug)]
pub struct ClientCert(Arc<CertifiedKey>);

impl ClientCert {
    /// `chain` (leaf first, not empty) with `key`; or why they cannot be
    /// used: `the private key does not match the certificate`, or a key of
    /// a kind the provider cannot sign with.
    pub fn new(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Result<Self, String> {
        if chain.is_empty() {
            return Err("no certificate".to_owned());
        }
        match CertifiedKey::from_der(chain, key, &crypto_provider()) {
            Ok(key) => Ok(Self(Arc::new(key))),
            Err(rustls::Error::InconsistentKeys(_)) => {
                Err("the private key does not match the certificate".to_owned())
            }
            Err(rustls::Error::General(reason)) => Err(lower_first(&reason)),
            Err(error) => Err(tls_reason(&error)),
        }
    }
}

/// The certificates of the PEM bundle `pem`, checked as trust anchors, or
/// why it cannot be used (`no PEM certificate in the file`, `invalid
/// certificate: …`, `invalid PEM: …`). Keys and other items in the bundle
/// are skipped.
pub fn ca_bundle(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    read_certificates(pem, |der| {
        // rustls silently drops a root it cannot parse; say so here.
        webpki::anchor_from_trusted_cert(der)
            .map(|_| ())
            .map_err(|error| format!("invalid certificate: {}", webpki_reason(&error)))
    })
}

/// The certificates of the PEM file `pem` (a certificate chain), or why it
/// cannot be used (`no PEM certificate in the file`, `invalid PEM: …`).
/// Keys and other items in the file are skipped.
pub fn certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    read_certificates(pem, |_| Ok(()))
}

/// The first private key (PKCS#8, PKCS#1 or SEC1) of the PEM file `pem`,
/// or why there is none (`no PEM private key in the file`, `invalid PEM:
/// …`).
pub fn private_key(pem: &[u8]) -> Result<PrivateKeyDer<'static>, String> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|error| match error {
        pem::Error::NoItemsFound => "no PEM private key in the file".to_owned(),
        error => format!("invalid PEM: {error}"),
    })
}

/// The certificates of `pem`, each passed to `check`; at least one.
fn read_certificates(
    pem: &[u8],
    check: impl Fn(&CertificateDer<'static>) -> Result<(), String>,
) -> Result<Vec<CertificateDer<'static>>, String> {
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(pem) {
        if let PemItem::Certificate(cert) = item.map_err(pem_reason)? {
            let der = CertificateDer::from(cert.der().to_vec());
            check(&der)?;
            certs.push(der);
        }
    }
    if certs.is_empty() {
        return Err("no PEM certificate in the file".to_owned());
    }
    Ok(certs)
}

/// A PEM file that ureq cannot read, in words.
fn pem_reason(error: ureq::Error) -> String {
    match error {
        // ureq's own wording of this one is a Debug dump.
        ureq::Error::Pem(error) => format!("invalid PEM: {error}"),
        error => lower_first(&error.to_string()),
    }
}

/// A ureq agent with `config` whose TLS, to the target and to an `https://`
/// proxy, runs on `tls` ([`tls_config`]). ureq's own TLS settings in
/// `config` are not used. Only HTTP and HTTPS proxies are supported (the
/// callers accept no other kind).
pub fn agent(config: ureq::config::Config, tls: Arc<ClientConfig>) -> ureq::Agent {
    let connector =
        ().chain(ConnectProxyConnector::default())
            .chain(TcpConnector::default())
            .chain(TlsConnector { config: tls });
    ureq::Agent::with_parts(config, connector, DefaultResolver::default())
}

/// The TLS failure of a failed ureq call in words ([`tls_reason`]); `None`
/// when the call failed otherwise.
#[must_use]
pub fn ureq_tls_reason(error: &ureq::Error) -> Option<String> {
    match error {
        ureq::Error::Io(error) => error
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
            .map(tls_reason),
        ureq::Error::Rustls(error) => Some(tls_reason(error)),
        ureq::Error::Tls(reason) => Some(lower_first(reason)),
        _ => None,
    }
}

/// rustls' `error` in words (see the module's table).
#[must_use]
pub fn tls_reason(error: &rustls::Error) -> String {
    match error {
        rustls::Error::InvalidCertificate(error) => {
            format!("invalid peer certificate: {}", certificate_reason(error))
        }
        rustls::Error::AlertReceived(alert) => format!("received fatal alert: {}", words(alert)),
        rustls::Error::PeerIncompatible(why) => format!("peer is incompatible: {}", words(why)),
        rustls::Error::PeerMisbehaved(why) => format!("peer misbehaved: {}", words(why)),
        rustls::Error::InvalidMessage(why) => format!("received corrupt message: {}", words(why)),
        error => lower_first(&error.to_string()),
    }
}

/// The verifier of [`tls_config`].
fn verifier(
    bundle: Vec<CertificateDer<'static>>,
    insecure: bool,
) -> Result<Arc<dyn ServerCertVerifier>, String> {
    let provider = crypto_provider();
    if insecure {
        return Ok(Arc::new(InsecureVerifier {
            algorithms: provider.signature_verification_algorithms,
        }));
    }
    let mut roots = RootCertStore::empty();
    // The web roots all parse, and load_ca checked the bundle.
    roots.add_parsable_certificates(web_roots().chain(bundle.iter().cloned()));
    let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .map_err(|error| format!("tls: {}", lower_first(&error.to_string())))?;
    Ok(Arc::new(PinningVerifier {
        webpki,
        pinned: bundle,
    }))
}

/// webpki's verification, plus the certificates of a CA bundle trusted for
/// themselves when the server presents one as its own (see the module's
/// doc).
#[derive(Debug)]
pub struct PinningVerifier {
    /// The verifier of the web roots plus the bundle.
    webpki: Arc<WebPkiServerVerifier>,
    /// The certificates of the bundle.
    pinned: Vec<CertificateDer<'static>>,
}

impl ServerCertVerifier for PinningVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let error = match self.webpki.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Ok(verified) => return Ok(verified),
            Err(error) => error,
        };
        let rustls::Error::InvalidCertificate(reason) = &error else {
            return Err(error);
        };
        let ca_as_end_entity = is_ca_used_as_end_entity(reason);
        if !ca_as_end_entity && *reason != CertificateError::UnknownIssuer {
            return Err(error);
        }
        if self.pinned.iter().any(|pinned| pinned == end_entity) {
            verify_pinned(end_entity, server_name, now)?;
            return Ok(ServerCertVerified::assertion());
        }
        if ca_as_end_entity && is_self_signed(end_entity) && !is_web_root(end_entity) {
            return Err(CertificateError::UnknownIssuer.into());
        }
        Err(error)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

/// Checks `end_entity`, a certificate of the bundle, for itself, in the
/// order webpki checks a leaf: its validity dates at `now`, its extended key
/// usage, then its names against `server_name`.
fn verify_pinned(
    end_entity: &CertificateDer<'_>,
    server_name: &ServerName<'_>,
    now: UnixTime,
) -> Result<(), rustls::Error> {
    let limits = Limits::read(end_entity).ok_or(CertificateError::BadEncoding)?;
    if now.as_secs() < limits.not_before {
        return Err(CertificateError::NotValidYetContext {
            time: now,
            not_before: unix_time(limits.not_before),
        }
        .into());
    }
    if now.as_secs() > limits.not_after {
        return Err(CertificateError::ExpiredContext {
            time: now,
            not_after: unix_time(limits.not_after),
        }
        .into());
    }
    if !limits.server_auth {
        return Err(CertificateError::InvalidPurpose.into());
    }
    let parsed = ParsedCertificate::try_from(end_entity)?;
    verify_server_name(&parsed, server_name)
}

/// Whether webpki refused a CA certificate as the server's own.
fn is_ca_used_as_end_entity(reason: &CertificateError) -> bool {
    matches!(
        reason,
        CertificateError::Other(other)
            if matches!(
                other.0.downcast_ref::<webpki::Error>(),
                Some(webpki::Error::CaUsedAsEndEntity)
            )
    )
}

/// Whether `cert` names itself as its issuer.
fn is_self_signed(cert: &CertificateDer<'_>) -> bool {
    webpki::EndEntityCert::try_from(cert).is_ok_and(|cert| cert.issuer() == cert.subject())
}

/// Whether `cert` is one of the public web roots.
fn is_web_root(cert: &CertificateDer<'_>) -> bool {
    webpki_root_certs::TLS_SERVER_ROOT_CERTS
        .iter()
        .any(|root| root == cert)
}

/// No verification of the certificate or the name, for `insecure` and
/// `tls-insecure`; the handshake signature is still checked against the
/// certificate's key.
#[derive(Debug)]
struct InsecureVerifier {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for InsecureVerifier {
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
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

// ---- The ureq connector.

/// The last link of [`agent`]'s chain: wraps the connection in TLS with
/// `config` when the URL is `https` and the connection has no TLS yet (the
/// target, or an `https://` proxy; a `CONNECT` tunnel through such a proxy
/// gets its own TLS with the target inside it).
struct TlsConnector {
    config: Arc<ClientConfig>,
}

impl<In: Transport> Connector<In> for TlsConnector {
    type Out = Either<In, TlsTransport>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        let Some(transport) = chained else {
            return Ok(None);
        };
        if !details.needs_tls() || transport.is_tls() {
            return Ok(Some(Either::A(transport)));
        }
        let host = details.uri.host().unwrap_or_default();
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let name = ServerName::try_from(host)
            .map_err(|_| ureq::Error::Tls("invalid server name"))?
            .to_owned();
        let mut connection = ClientConnection::new(Arc::clone(&self.config), name)?;
        let boxed: Box<dyn Transport> = Box::new(transport);
        let mut socket = TransportAdapter::new(boxed, Arc::clone(&details.current_time));
        socket.set_timeout(remaining(details));
        connection.complete_io(&mut socket)?;
        Ok(Some(Either::B(TlsTransport {
            buffers: LazyBuffers::new(
                details.config.input_buffer_size(),
                details.config.output_buffer_size(),
            ),
            stream: StreamOwned::new(connection, socket),
        })))
    }
}

impl fmt::Debug for TlsConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConnector").finish_non_exhaustive()
    }
}

/// The connect timeout of `details`, less the time since the connect began
/// (as ureq's own TLS connector counts it), so that the handshake cannot
/// outlast the caller's deadline.
fn remaining(details: &ConnectionDetails) -> NextTimeout {
    let mut timeout = details.timeout;
    if let (UreqDuration::Exact(after), UreqInstant::Exact(now), UreqInstant::Exact(start)) =
        (timeout.after, (details.current_time)(), details.now)
    {
        timeout.after =
            UreqDuration::Exact(after.saturating_sub(now.saturating_duration_since(start)));
    }
    timeout
}

/// A connection with TLS, as ureq's own rustls transport.
struct TlsTransport {
    buffers: LazyBuffers,
    stream: StreamOwned<ClientConnection, TransportAdapter>,
}

impl Transport for TlsTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        // Unchanged: a TLS write may read too (ureq's rule for wrappers).
        self.stream.get_mut().set_timeout(timeout);
        let output = &self.buffers.output()[..amount];
        self.stream.write_all(output)?;
        Ok(())
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let input = self.buffers.input_append_buf();
        let amount = self.stream.read(input)?;
        self.buffers.input_appended(amount);
        Ok(amount > 0)
    }

    fn is_open(&mut self) -> bool {
        self.stream.get_mut().get_mut().is_open()
    }

    fn is_tls(&self) -> bool {
        true
    }
}

impl fmt::Debug for TlsTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsTransport")
            .field("chained", &self.stream.sock.inner())
            .finish_non_exhaustive()
    }
}

// ---- Words.

/// A certificate error in words.
fn certificate_reason(error: &CertificateError) -> String {
    match error {
        CertificateError::BadEncoding => "malformed certificate".to_owned(),
        CertificateError::Expired => "certificate expired".to_owned(),
        CertificateError::ExpiredContext { not_after, .. } => {
            format!("certificate expired: valid until {}", rfc3339(*not_after))
        }
        CertificateError::NotValidYet => "certificate not yet valid".to_owned(),
        CertificateError::NotValidYetContext { not_before, .. } => {
            format!(
                "certificate not yet valid: valid from {}",
                rfc3339(*not_before)
            )
        }
        CertificateError::Revoked => "certificate revoked".to_owned(),
        CertificateError::UnhandledCriticalExtension => "unhandled critical extension".to_owned(),
        CertificateError::UnknownIssuer => "unknown issuer".to_owned(),
        CertificateError::UnknownRevocationStatus => "unknown revocation status".to_owned(),
        CertificateError::ExpiredRevocationList
        | CertificateError::ExpiredRevocationListContext { .. } => {
            "certificate revocation list expired".to_owned()
        }
        CertificateError::BadSignature => "bad signature".to_owned(),
        #[allow(deprecated)]
        CertificateError::UnsupportedSignatureAlgorithm
        | CertificateError::UnsupportedSignatureAlgorithmContext { .. }
        | CertificateError::UnsupportedSignatureAlgorithmForPublicKeyContext { .. } => {
            "unsupported signature algorithm".to_owned()
        }
        CertificateError::NotValidForName => "certificate not valid for the server name".to_owned(),
        CertificateError::NotValidForNameContext {
            expected,
            presented,
        } => name_reason(expected, presented),
        CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
            "certificate not valid for server authentication".to_owned()
        }
        CertificateError::InvalidOcspResponse => "invalid OCSP response".to_owned(),
        CertificateError::ApplicationVerificationFailure => {
            "application verification failure".to_owned()
        }
        CertificateError::Other(other) => match other.0.downcast_ref::<webpki::Error>() {
            Some(error) => webpki_reason(error),
            None => lower_first(&other.0.to_string()),
        },
        // A kind newer than this list.
        error => words(error),
    }
}

/// webpki's `error` in words (its own Display is a Debug dump), for what
/// rustls passes on as it is and for a CA bundle that cannot be used.
#[must_use]
pub fn webpki_reason(error: &webpki::Error) -> String {
    match error {
        webpki::Error::BadDer | webpki::Error::BadDerTime | webpki::Error::TrailingData(_) => {
            "malformed certificate".to_owned()
        }
        webpki::Error::CaUsedAsEndEntity => "CA certificate used as end-entity".to_owned(),
        webpki::Error::EndEntityUsedAsCa => "end-entity certificate used as CA".to_owned(),
        webpki::Error::UnsupportedCertVersion => "unsupported certificate version".to_owned(),
        webpki::Error::PathLenConstraintViolated => "path length constraint violated".to_owned(),
        webpki::Error::NameConstraintViolation => "name constraint violated".to_owned(),
        error => words(error),
    }
}

/// `certificate not valid for name "x" (it names "y", "z")`, from webpki's
/// names, which come as `DnsName("y")` and `IpAddress(z)`; other kinds of
/// name are left out.
fn name_reason(expected: &ServerName<'_>, presented: &[String]) -> String {
    let expected = quote(&expected.to_str());
    let names: Vec<String> = presented
        .iter()
        .filter_map(|name| {
            let name = name
                .strip_prefix("DnsName(\"")
                .and_then(|name| name.strip_suffix("\")"))
                .or_else(|| {
                    name.strip_prefix("IpAddress(")
                        .and_then(|name| name.strip_suffix(')'))
                })?;
            Some(quote(name))
        })
        .collect();
    if !names.is_empty() {
        format!(
            "certificate not valid for name {expected} (it names {})",
            names.join(", ")
        )
    } else if presented.is_empty() {
        format!("certificate not valid for name {expected} (it names no host)")
    } else {
        format!("certificate not valid for name {expected}")
    }
}

/// The name of an enum variant in lower-case words (`HandshakeFailure` is
/// `handshake failure`, `UnknownCA` is `unknown CA`), without its fields:
/// for the kinds that rustls only words with Debug.
fn words(value: &impl fmt::Debug) -> String {
    let debug = format!("{value:?}");
    let name: Vec<char> = debug
        .chars()
        .take_while(char::is_ascii_alphanumeric)
        .collect();
    if name.is_empty() {
        return "unexpected error".to_owned();
    }
    let mut words: Vec<String> = vec![String::new()];
    for (index, &c) in name.iter().enumerate() {
        let previous = index.checked_sub(1).map(|before| name[before]);
        let next_is_lower = name.get(index + 1).is_some_and(char::is_ascii_lowercase);
        let starts_word = c.is_ascii_uppercase()
            && previous.is_some_and(|previous| {
                previous.is_ascii_lowercase()
                    || previous.is_ascii_digit()
                    || (previous.is_ascii_uppercase() && next_is_lower)
            });
        if starts_word {
            words.push(String::new());
        }
        if let Some(word) = words.last_mut() {
            word.push(c);
        }
    }
    words
        .iter()
        .map(|word| {
            let acronym = word.len() > 1 && !word.chars().any(|c| c.is_ascii_lowercase());
            if acronym {
                word.clone()
            } else {
                word.to_ascii_lowercase()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `at` as RFC 3339 text in UTC, to the second.
fn rfc3339(at: UnixTime) -> String {
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(at.as_secs());
    Timestamp::utc(at).format(Precision::Seconds)
}

fn unix_time(seconds: u64) -> UnixTime {
    UnixTime::since_unix_epoch(Duration::from_secs(seconds))
}

// ---- What the pinned check reads of a certificate.

/// DER tags (X.690) in a certificate (RFC 5280 §4.1).
const BOOLEAN: u8 = 0x01;
const INTEGER: u8 = 0x02;
const OCTET_STRING: u8 = 0x04;
const OID: u8 = 0x06;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;
const SEQUENCE: u8 = 0x30;
/// `[0]`: the version of a TBSCertificate.
const VERSION: u8 = 0xa0;
/// `[3]`: the extensions of a TBSCertificate.
const EXTENSIONS: u8 = 0xa3;

/// The contents of the OID `id-ce-extKeyUsage`, 2.5.29.37.
const EXTENDED_KEY_USAGE: &[u8] = &[0x55, 0x1d, 0x25];
/// The contents of the OID `id-kp-serverAuth`, 1.3.6.1.5.5.7.3.1.
const SERVER_AUTH: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x01];

/// What webpki checks of a leaf that [`verify_pinned`] must check itself,
/// webpki having stopped at the CA mark before it.
#[derive(Debug, PartialEq, Eq)]
struct Limits {
    /// `notBefore`, in seconds since the Unix epoch (0 for earlier times).
    not_before: u64,
    /// `notAfter`, likewise.
    not_after: u64,
    /// Whether the certificate may serve TLS: it has no extended key usage,
    /// or one that lists `serverAuth` (webpki's rule).
    server_auth: bool,
}

impl Limits {
    /// Reads a DER certificate (RFC 5280 §4.1); `None` when it is
    /// malformed.
    fn read(der: &[u8]) -> Option<Limits> {
        let (certificate, _) = expect(der, SEQUENCE)?;
        let (mut tbs, _) = expect(certificate, SEQUENCE)?;
        if tbs.first() == Some(&VERSION) {
            (_, tbs) = expect(tbs, VERSION)?;
        }
        // serialNumber, signature, issuer.
        for tag in [INTEGER, SEQUENCE, SEQUENCE] {
            (_, tbs) = expect(tbs, tag)?;
        }
        let (validity, mut tbs) = expect(tbs, SEQUENCE)?;
        let (not_before, validity) = time(validity)?;
        let (not_after, _) = time(validity)?;
        // subject, subjectPublicKeyInfo.
        for tag in [SEQUENCE, SEQUENCE] {
            (_, tbs) = expect(tbs, tag)?;
        }
        // Then the optional unique ids and the extensions.
        let mut server_auth = true;
        while !tbs.is_empty() {
            let (tag, contents, rest) = element(tbs)?;
            if tag == EXTENSIONS {
                server_auth = allows_server_auth(contents)?;
            }
            tbs = rest;
        }
        Some(Limits {
            not_before,
            not_after,
            server_auth,
        })
    }
}

/// Whether the `extensions` of a certificate let it serve TLS: no extended
/// key usage, or one that lists `serverAuth`.
fn allows_server_auth(extensions: &[u8]) -> Option<bool> {
    let (mut list, _) = expect(extensions, SEQUENCE)?;
    while !list.is_empty() {
        let (extension, rest) = expect(list, SEQUENCE)?;
        list = rest;
        let (id, mut extension) = expect(extension, OID)?;
        if extension.first() == Some(&BOOLEAN) {
            (_, extension) = expect(extension, BOOLEAN)?;
        }
        let (value, _) = expect(extension, OCTET_STRING)?;
        if id != EXTENDED_KEY_USAGE {
            continue;
        }
        let (mut purposes, _) = expect(value, SEQUENCE)?;
        let mut found = false;
        while !purposes.is_empty() {
            let (purpose, rest) = expect(purposes, OID)?;
            found |= purpose == SERVER_AUTH;
            purposes = rest;
        }
        return Some(found);
    }
    Some(true)
}

/// A `Time` (UTCTime or GeneralizedTime, in the forms RFC 5280 §4.1.2.5
/// allows) as seconds since the Unix epoch, 0 for an earlier time; and what
/// follows it.
fn time(input: &[u8]) -> Option<(u64, &[u8])> {
    let (tag, text, rest) = element(input)?;
    let (year, text) = match tag {
        UTC_TIME => {
            let year = number(text.get(..2)?)?;
            // RFC 5280: YY of 50 and above is 19YY.
            (
                if year >= 50 { 1900 + year } else { 2000 + year },
                &text[2..],
            )
        }
        GENERALIZED_TIME => (number(text.get(..4)?)?, &text[4..]),
        _ => return None,
    };
    // MMDDHHMMSSZ
    if text.len() != 11 || text[10] != b'Z' {
        return None;
    }
    let field = |at: usize| number(&text[at..at + 2]);
    let at = epoch_seconds(
        i64::from(year),
        field(0)?,
        field(2)?,
        (field(4)?, field(6)?, field(8)?),
    )?;
    Some((u64::try_from(at).unwrap_or(0), rest))
}

/// ASCII digits as a number.
fn number(digits: &[u8]) -> Option<u32> {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(
        digits
            .iter()
            .fold(0, |number, digit| number * 10 + u32::from(digit - b'0')),
    )
}

/// The contents of the DER element at the start of `input`, which must
/// have tag `tag`, and what follows it.
fn expect(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    match element(input)? {
        (found, contents, rest) if found == tag => Some((contents, rest)),
        _ => None,
    }
}

/// The DER element at the start of `input`: its tag, its contents and what
/// follows it. Only single-byte tags, as in a certificate.
fn element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, input) = input.split_first()?;
    let (&first, input) = input.split_first()?;
    let (length, input) = if first < 0x80 {
        (usize::from(first), input)
    } else {
        // The long form: the low bits count the length's bytes.
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || input.len() < count {
            return None;
        }
        let (bytes, input) = input.split_at(count);
        let length = bytes
            .iter()
            .fold(0_usize, |length, byte| length << 8 | usize::from(*byte));
        (length, input)
    };
    if input.len() < length {
        return None;
    }
    let (contents, rest) = input.split_at(length);
    Some((tag, contents, rest))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose,
        IsCa, KeyPair,
    };
    use rustls::AlertDescription;

    use super::*;

    /// Certificate parameters for `names`, with a subject of their own: a
    /// certificate whose issuer has the same subject as another one of the
    /// bundle would be checked against that one's key.
    fn params(names: &[&str]) -> CertificateParams {
        static SUBJECTS: AtomicUsize = AtomicUsize::new(0);
        let names: Vec<String> = names.iter().map(|name| (*name).to_owned()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        let subject = SUBJECTS.fetch_add(1, Ordering::Relaxed);
        params
            .distinguished_name
            .push(DnType::CommonName, format!("test {subject}"));
        params
    }

    /// A self-signed certificate from `params`, marked as a CA as `openssl
    /// req -x509` marks its own.
    fn self_signed_ca(mut params: CertificateParams) -> CertificateDer<'static> {
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let key = KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().der().clone()
    }

    /// What a verifier trusting the web roots plus `bundle` (or nothing,
    /// with `insecure`) says of a server presenting `chain` (its own
    /// certificate first) for `name`, now.
    fn verify(
        bundle: &[&CertificateDer<'static>],
        insecure: bool,
        chain: &[&CertificateDer<'static>],
        name: &str,
    ) -> Result<(), String> {
        let bundle = bundle.iter().map(|cert| (*cert).clone()).collect();
        let verifier = verifier(bundle, insecure).unwrap();
        let intermediates: Vec<CertificateDer<'static>> =
            chain[1..].iter().map(|cert| (*cert).clone()).collect();
        let name = ServerName::try_from(name.to_owned()).unwrap();
        verifier
            .verify_server_cert(chain[0], &intermediates, &name, &[], UnixTime::now())
            .map(|_| ())
            .map_err(|error| tls_reason(&error))
    }

    #[test]
    fn a_pinned_ca_certificate_is_trusted_for_itself() {
        let cert = self_signed_ca(params(&["localhost", "127.0.0.1"]));
        assert_eq!(verify(&[&cert], false, &[&cert], "localhost"), Ok(()));
        assert_eq!(verify(&[&cert], false, &[&cert], "127.0.0.1"), Ok(()));
        // Among other certificates of the bundle too.
        let other = self_signed_ca(params(&["other.example"]));
        assert_eq!(
            verify(&[&other, &cert], false, &[&cert], "localhost"),
            Ok(())
        );
    }

    #[test]
    fn a_pinned_certificate_must_name_the_server() {
        let cert = self_signed_ca(params(&["localhost", "127.0.0.1"]));
        assert_eq!(
            verify(&[&cert], false, &[&cert], "other.example"),
            Err(
                "invalid peer certificate: certificate not valid for name \"other.example\" \
                 (it names \"localhost\", \"127.0.0.1\")"
                    .to_owned()
            )
        );
        let nameless = self_signed_ca(params(&[]));
        assert_eq!(
            verify(&[&nameless], false, &[&nameless], "localhost"),
            Err(
                "invalid peer certificate: certificate not valid for name \"localhost\" \
                 (it names no host)"
                    .to_owned()
            )
        );
    }

    #[test]
    fn a_certificate_outside_the_bundle_has_an_unknown_issuer() {
        let pinned = self_signed_ca(params(&["localhost"]));
        let presented = self_signed_ca(params(&["localhost"]));
        let unknown = Err("invalid peer certificate: unknown issuer".to_owned());
        assert_eq!(
            verify(&[&pinned], false, &[&presented], "localhost"),
            unknown
        );
        assert_eq!(verify(&[], false, &[&presented], "localhost"), unknown);
        // Not a CA: webpki's own verdict.
        let key = KeyPair::generate().unwrap();
        let leaf = params(&["localhost"]).self_signed(&key).unwrap();
        assert_eq!(
            verify(&[&pinned], false, &[leaf.der()], "localhost"),
            unknown
        );
    }

    #[test]
    fn a_leaf_signed_by_a_bundle_ca_is_still_verified_by_webpki() {
        let mut ca_params = params(&[]);
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
        let key = KeyPair::generate().unwrap();
        let leaf = params(&["localhost"]).signed_by(&key, &ca).unwrap();
        assert_eq!(
            verify(&[ca.der()], false, &[leaf.der()], "localhost"),
            Ok(())
        );
        assert_eq!(
            verify(&[ca.der()], false, &[leaf.der()], "127.0.0.1"),
            Err(
                "invalid peer certificate: certificate not valid for name \"127.0.0.1\" \
                 (it names \"localhost\")"
                    .to_owned()
            )
        );
        assert_eq!(
            verify(&[], false, &[leaf.der()], "localhost"),
            Err("invalid peer certificate: unknown issuer".to_owned())
        );
        // A CA that the bundle's CA signed is not a server's certificate.
        let mut sub_params = params(&["localhost"]);
        sub_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let sub_ca = sub_params.signed_by(&key, &ca).unwrap();
        assert_eq!(
            verify(&[ca.der()], false, &[sub_ca.der()], "localhost"),
            Err("invalid peer certificate: CA certificate used as end-entity".to_owned())
        );
    }

    #[test]
    fn a_pinned_certificate_must_be_within_its_dates() {
        let mut expired = params(&["localhost"]);
        expired.not_before = rcgen::date_time_ymd(2020, 1, 1);
        expired.not_after = rcgen::date_time_ymd(2021, 6, 1);
        let expired = self_signed_ca(expired);
        assert_eq!(
            verify(&[&expired], false, &[&expired], "localhost"),
            Err(
                "invalid peer certificate: certificate expired: valid until 2021-06-01T00:00:00Z"
                    .to_owned()
            )
        );
        let mut early = params(&["localhost"]);
        early.not_before = rcgen::date_time_ymd(4000, 1, 1);
        let early = self_signed_ca(early);
        assert_eq!(
            verify(&[&early], false, &[&early], "localhost"),
            Err(
                "invalid peer certificate: certificate not yet valid: valid from 4000-01-01T00:00:00Z"
                    .to_owned()
            )
        );
        // The pinned check's own reading of the dates, at other times.
        let cert = self_signed_ca(params(&["localhost"]));
        let name = ServerName::try_from("localhost").unwrap();
        let limits = Limits::read(&cert).unwrap();
        let after = unix_time(limits.not_after + 1);
        assert_eq!(
            verify_pinned(&cert, &name, after).map_err(|error| tls_reason(&error)),
            Err(
                "invalid peer certificate: certificate expired: valid until 4096-01-01T00:00:00Z"
                    .to_owned()
            )
        );
        assert_eq!(
            verify_pinned(&cert, &name, unix_time(limits.not_after)),
            Ok(())
        );
        assert_eq!(
            verify_pinned(&cert, &name, unix_time(limits.not_before)),
            Ok(())
        );
        assert!(verify_pinned(&cert, &name, unix_time(limits.not_before - 1)).is_err());
    }

    #[test]
    fn a_pinned_certificate_must_allow_server_authentication() {
        let mut client_only = params(&["localhost"]);
        client_only.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let client_only = self_signed_ca(client_only);
        assert_eq!(
            verify(&[&client_only], false, &[&client_only], "localhost"),
            Err(
                "invalid peer certificate: certificate not valid for server authentication"
                    .to_owned()
            )
        );
        let mut server = params(&["localhost"]);
        server.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ClientAuth,
            ExtendedKeyUsagePurpose::ServerAuth,
        ];
        let server = self_signed_ca(server);
        assert_eq!(verify(&[&server], false, &[&server], "localhost"), Ok(()));
    }

    #[test]
    fn limits_are_read_from_both_kinds_of_time() {
        // rcgen's default dates: 1975 is a UTCTime, 4096 a GeneralizedTime.
        let cert = self_signed_ca(params(&["localhost"]));
        assert_eq!(
            Limits::read(&cert),
            Some(Limits {
                not_before: 157_766_400,
                not_after: 67_090_118_400,
                server_auth: true,
            })
        );
        assert_eq!(Limits::read(&cert[..cert.len() - 1]), None);
        assert_eq!(Limits::read(b"\x30\x00"), None);
        assert_eq!(
            time(b"\x17\x0d491231235959Z"),
            Some((2_524_607_999, &b""[..]))
        );
        assert_eq!(time(b"\x17\x0d500101000000Z"), Some((0, &b""[..])));
        assert_eq!(time(b"\x17\x0d701301000000Z"), None);
        assert_eq!(time(b"\x17\x0d230229000000Z"), None);
        assert_eq!(
            time(b"\x17\x0d240229000000Z"),
            Some((1_709_164_800, &b""[..]))
        );
        assert_eq!(time(b"\x17\x0d240101240000Z"), None);
        assert_eq!(time(b"\x17\x0d240101000060Z"), None);
        assert_eq!(
            time(b"\x18\x0f19700101000001Z\x05\x00"),
            Some((1, &b"\x05\x00"[..]))
        );
        assert_eq!(time(b"\x18\x0f19600101000000Z"), Some((0, &b""[..])));
        assert_eq!(time(b"\x18\x0d700101000000Z"), None);
        assert_eq!(time(b"\x17\x0d7001010000+0"), None);
    }

    #[test]
    fn pem_files_are_read_with_reasons() {
        let key = KeyPair::generate().unwrap();
        let cert = params(&["localhost"]).self_signed(&key).unwrap();
        let both = format!("{}{}", key.serialize_pem(), cert.pem());
        let der = cert.der().clone();
        assert_eq!(ca_bundle(both.as_bytes()), Ok(vec![der.clone()]));
        assert_eq!(certificates(both.as_bytes()), Ok(vec![der]));
        assert_eq!(
            private_key(both.as_bytes()).unwrap().secret_der(),
            key.serialize_der()
        );
        let none = Err("no PEM certificate in the file".to_owned());
        assert_eq!(ca_bundle(key.serialize_pem().as_bytes()), none);
        assert_eq!(certificates(b"text"), none);
        assert_eq!(
            private_key(cert.pem().as_bytes()),
            Err("no PEM private key in the file".to_owned())
        );
        let cut = &both.as_bytes()[..both.len() - 10];
        assert!(certificates(cut).unwrap_err().starts_with("invalid PEM: "));
        // A chain may hold what is no trust anchor; a bundle may not.
        let broken = "-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n";
        assert_eq!(
            ca_bundle(broken.as_bytes()),
            Err("invalid certificate: malformed certificate".to_owned())
        );
        assert_eq!(certificates(broken.as_bytes()).unwrap().len(), 1);
    }

    #[test]
    fn a_client_cert_needs_its_own_key() {
        let key = KeyPair::generate().unwrap();
        let cert = params(&["client"]).self_signed(&key).unwrap();
        let own = private_key(key.serialize_pem().as_bytes()).unwrap();
        let client = ClientCert::new(vec![cert.der().clone()], own).unwrap();
        assert!(tls_config_with_client_cert(Vec::new(), false, Some(client)).is_ok());
        let other = KeyPair::generate().unwrap();
        let other = private_key(other.serialize_pem().as_bytes()).unwrap();
        assert_eq!(
            ClientCert::new(vec![cert.der().clone()], other.clone_key()).unwrap_err(),
            "the private key does not match the certificate"
        );
        assert_eq!(
            ClientCert::new(Vec::new(), other).unwrap_err(),
            "no certificate"
        );
    }

    #[test]
    fn tls_failures_are_found_in_ureq_errors() {
        let unknown = rustls::Error::from(CertificateError::UnknownIssuer);
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, unknown.clone());
        let expected = Some("invalid peer certificate: unknown issuer".to_owned());
        assert_eq!(ureq_tls_reason(&ureq::Error::Io(io)), expected);
        assert_eq!(ureq_tls_reason(&ureq::Error::Rustls(unknown)), expected);
        assert_eq!(
            ureq_tls_reason(&ureq::Error::Tls("Invalid server name")),
            Some("invalid server name".to_owned())
        );
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert_eq!(ureq_tls_reason(&ureq::Error::Io(refused)), None);
        assert_eq!(ureq_tls_reason(&ureq::Error::HostNotFound), None);
    }

    #[test]
    fn insecure_trusts_any_certificate_for_any_name() {
        let cert = self_signed_ca(params(&["localhost"]));
        assert_eq!(verify(&[], true, &[&cert], "other.example"), Ok(()));
    }

    #[test]
    fn errors_read_as_words() {
        let ca_as_leaf = rustls::Error::InvalidCertificate(CertificateError::Other(
            rustls::OtherError(Arc::new(webpki::Error::CaUsedAsEndEntity)),
        ));
        assert_eq!(
            tls_reason(&ca_as_leaf),
            "invalid peer certificate: CA certificate used as end-entity"
        );
        let other = rustls::Error::InvalidCertificate(CertificateError::Other(rustls::OtherError(
            Arc::new(webpki::Error::MaximumPathDepthExceeded),
        )));
        assert_eq!(
            tls_reason(&other),
            "invalid peer certificate: maximum path depth exceeded"
        );
        assert_eq!(
            tls_reason(&rustls::Error::AlertReceived(
                AlertDescription::HandshakeFailure
            )),
            "received fatal alert: handshake failure"
        );
        assert_eq!(
            tls_reason(&rustls::Error::AlertReceived(AlertDescription::UnknownCA)),
            "received fatal alert: unknown CA"
        );
        assert_eq!(
            tls_reason(&rustls::Error::NoCertificatesPresented),
            "peer sent no certificates"
        );
        assert_eq!(
            tls_reason(&CertificateError::NotValidForName.into()),
            "invalid peer certificate: certificate not valid for the server name"
        );
    }
}
