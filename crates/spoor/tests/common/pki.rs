//! A test public-key infrastructure: a certificate authority made by the test
//! and the certificates it signs, written as PEM files into a temporary
//! directory, for Spoor's TLS and mTLS tests (`e2e_tls` and the security
//! tests).
//!
//! ```ignore
//! let pki = common::pki::Pki::new("127.0.0.91");
//! // Server side: --tls-cert-file pki.server.cert_file --tls-key-file pki.server.key_file
//! //              --tls-client-ca-file pki.ca_file
//! let alice = pki.client("alice");      // CN=alice, for mTLS
//! let other = common::pki::Pki::new("127.0.0.91"); // a CA the server does not trust
//! ```
//!
//! Every key is ECDSA P-256 (rcgen on ring). Certificates are valid from
//! yesterday for a year, so clock skew between steps of a test never matters.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};

/// A certificate and its private key, in memory and as files.
#[derive(Debug, Clone)]
pub struct CertFiles {
    /// The certificate (PEM), alone: no chain (the test CA signs directly).
    pub cert_pem: String,
    /// The private key (PKCS#8 PEM).
    pub key_pem: String,
    /// Where `cert_pem` is written.
    pub cert_file: PathBuf,
    /// Where `key_pem` is written.
    pub key_file: PathBuf,
    /// The certificate in DER, to compare with what a server presented.
    pub cert_der: Vec<u8>,
}

impl CertFiles {
    /// The certificate and key concatenated (PEM), as reqwest's
    /// `Identity::from_pem` takes a client identity.
    pub fn identity_pem(&self) -> Vec<u8> {
        format!("{}{}", self.cert_pem, self.key_pem).into_bytes()
    }

    /// The certificate file as a string (for command lines).
    pub fn cert_arg(&self) -> String {
        self.cert_file.display().to_string()
    }

    /// The key file as a string (for command lines).
    pub fn key_arg(&self) -> String {
        self.key_file.display().to_string()
    }
}

/// A test certificate authority, the directory its files live in (removed on
/// drop) and a server certificate it signed.
pub struct Pki {
    /// Holds every file below; removed when the `Pki` is dropped.
    pub dir: tempfile::TempDir,
    /// The CA certificate (PEM): what clients trust, and the server's
    /// `--tls-client-ca-file` for mTLS.
    pub ca_pem: String,
    /// `ca_pem` as a file.
    pub ca_file: PathBuf,
    /// A server certificate for `localhost`, `127.0.0.1` and the IP given to
    /// [`Pki::new`], with `serverAuth`.
    pub server: CertFiles,
    ca_key: KeyPair,
    ca_params: CertificateParams,
}

impl std::fmt::Debug for Pki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pki")
            .field("dir", &self.dir.path())
            .finish_non_exhaustive()
    }
}

fn validity(params: &mut CertificateParams) {
    let now = std::time::SystemTime::now();
    let day = std::time::Duration::from_secs(86_400);
    params.not_before = (now - day).into();
    params.not_after = (now + 365 * day).into();
}

impl Pki {
    /// A new CA ("Spoor test CA") and a server certificate for `localhost`,
    /// `127.0.0.1` and `ip` (say the test's own loopback address), all
    /// written into a new temporary directory as `ca.pem`, `server.pem` and
    /// `server.key`.
    pub fn new(ip: &str) -> Pki {
        Self::named("Spoor test CA", ip)
    }

    /// As [`Pki::new`], with the CA's common name `ca_name` (two CAs of one
    /// test can then be told apart in error messages).
    pub fn named(ca_name: &str, ip: &str) -> Pki {
        let dir = tempfile::tempdir().expect("create the PKI directory");
        let ca_key = KeyPair::generate().expect("generate the CA key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        ca_params.distinguished_name = {
            let mut dn = DistinguishedName::new();
            dn.push(DnType::CommonName, ca_name);
            dn.push(DnType::OrganizationName, "Spoor tests");
            dn
        };
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        validity(&mut ca_params);
        let ca_cert = ca_params.self_signed(&ca_key).expect("self-sign the CA");
        let ca_pem = ca_cert.pem();
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, &ca_pem).expect("write ca.pem");
        let mut pki = Pki {
            server: CertFiles {
                cert_pem: String::new(),
                key_pem: String::new(),
                cert_file: PathBuf::new(),
                key_file: PathBuf::new(),
                cert_der: Vec::new(),
            },
            dir,
            ca_pem,
            ca_file,
            ca_key,
            ca_params,
        };
        let mut names = vec!["localhost", "127.0.0.1"];
        if !names.contains(&ip) {
            names.push(ip);
        }
        pki.server = pki.server_cert("server", &names);
        pki
    }

    /// The directory the files are in.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The CA file as a string (for command lines).
    pub fn ca_arg(&self) -> String {
        self.ca_file.display().to_string()
    }

    /// A new server certificate (`serverAuth`) for `names` (DNS names or
    /// IPs), common name `names[0]`, written as `<stem>.pem` and `<stem>.key`
    /// (replacing files of that name).
    pub fn server_cert(&self, stem: &str, names: &[&str]) -> CertFiles {
        let sans: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let mut params = CertificateParams::new(sans).expect("server certificate parameters");
        params.distinguished_name = {
            let mut dn = DistinguishedName::new();
            dn.push(
                DnType::CommonName,
                names.first().copied().unwrap_or("server"),
            );
            dn
        };
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        self.sign(stem, params)
    }

    /// A client certificate (`clientAuth`) with common name `cn` and no
    /// subject alternative name, written as `client-<cn>.pem` / `.key`.
    pub fn client(&self, cn: &str) -> CertFiles {
        self.client_with(cn, &[], &[])
    }

    /// A client certificate with common name `cn` (empty: no CN), DNS names
    /// `dns` and e-mail addresses `emails` as subject alternative names.
    pub fn client_with(&self, cn: &str, dns: &[&str], emails: &[&str]) -> CertFiles {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("client parameters");
        params.distinguished_name = {
            let mut dn = DistinguishedName::new();
            if !cn.is_empty() {
                dn.push(DnType::CommonName, cn);
            }
            dn.push(DnType::OrganizationName, "Spoor tests");
            dn
        };
        for d in dns {
            params
                .subject_alt_names
                .push(SanType::DnsName((*d).try_into().expect("a DNS name")));
        }
        for e in emails {
            params.subject_alt_names.push(SanType::Rfc822Name(
                (*e).try_into().expect("an e-mail address"),
            ));
        }
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let stem = if cn.is_empty() { "client" } else { cn };
        self.sign(&format!("client-{stem}"), params)
    }

    fn sign(&self, stem: &str, mut params: CertificateParams) -> CertFiles {
        validity(&mut params);
        let key = KeyPair::generate().expect("generate a key");
        let issuer = Issuer::from_params(&self.ca_params, &self.ca_key);
        let cert = params.signed_by(&key, &issuer).expect("sign a certificate");
        let files = CertFiles {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            cert_file: self.dir.path().join(format!("{stem}.pem")),
            key_file: self.dir.path().join(format!("{stem}.key")),
            cert_der: cert.der().to_vec(),
        };
        files.write();
        files
    }
}

impl CertFiles {
    /// (Re)writes both files, each atomically (a temporary file renamed over
    /// it), so that a server reloading them never reads half a file.
    pub fn write(&self) {
        write_atomically(&self.cert_file, self.cert_pem.as_bytes());
        write_atomically(&self.key_file, self.key_pem.as_bytes());
    }

    /// Writes this certificate and key over the files of `target` (say, the
    /// server's `--tls-cert-file` and `--tls-key-file`): a certificate
    /// rotation while the server runs.
    pub fn install_as(&self, target: &CertFiles) {
        write_atomically(&target.cert_file, self.cert_pem.as_bytes());
        write_atomically(&target.key_file, self.key_pem.as_bytes());
    }
}

/// Writes `bytes` to `path` through a temporary file in the same directory.
pub fn write_atomically(path: &Path, bytes: &[u8]) {
    let tmp = path.with_extension("tmp-write");
    std::fs::write(&tmp, bytes).expect("write a temporary file");
    std::fs::rename(&tmp, path).expect("rename over the target");
}
