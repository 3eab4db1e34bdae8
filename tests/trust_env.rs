//! `Trust::Platform` reads the system's CA store: on Linux and the BSDs, `SSL_CERT_FILE` and
//! `SSL_CERT_DIR` when set (rustls-native-certs under rustls-platform-verifier). Each test runs
//! its body in a child process whose environment names a store made for it: a private
//! "system" CA in a bundle, or an empty or missing one for the fallback to webpki-roots. The
//! store is read once per process, so one process per store is also what makes each case
//! honest.
//!
//! The servers run in the parent (the child cannot share the CA's key); the child gets their
//! ports and the CAs' PEMs through its environment.
//!
//! Elsewhere the OS verifies and these variables mean nothing: see `tests/it/trust.rs`.
#![cfg(native_certs)]

use std::path::PathBuf;
use std::sync::Arc;

use keepalive_connector::{
    Builder, ConfigErrorReason, ConfigField, ConnectError, Connector, Phase, Proxy, Trust,
};
use keepalive_testserver::{child_env, LeafKind, TestCa, TestServer};
use rustls::CertificateError;

/// What the child reads the store from; removed first from every child's environment.
const STORE_VARS: &[&str] = &["SSL_CERT_FILE", "SSL_CERT_DIR"];
/// How the parent tells the child where its servers are and what the CAs are.
const PORTS: &str = "KA_TRUST_PORTS";
const SYSTEM_CA: &str = "KA_TRUST_SYSTEM_CA";
const PRIVATE_CA: &str = "KA_TRUST_PRIVATE_CA";

/// The parent's side: two CAs and three servers on a runtime of their own, and a scratch
/// directory for the stores, removed on drop.
struct Parent {
    _rt: tokio::runtime::Runtime,
    servers: Vec<TestServer>,
    system_ca: Arc<TestCa>,
    private_ca: Arc<TestCa>,
    dir: PathBuf,
}

impl Parent {
    /// `good` and `other` (a certificate for `other.invalid`) signed by the CA that goes in
    /// the system store, `private` by one that is only ever added in code.
    fn start(name: &str) -> Parent {
        let rt = tokio::runtime::Runtime::new().expect("a runtime for the servers");
        let system_ca = Arc::new(TestCa::named("system CA (in SSL_CERT_FILE)"));
        let private_ca = Arc::new(TestCa::named("private CA (added in code)"));
        let start = |ca: &Arc<TestCa>, leaf| {
            rt.block_on(TestServer::builder().ca(Arc::clone(ca)).leaf(leaf).start())
                .expect("a test server starts")
        };
        let servers = vec![
            start(&system_ca, LeafKind::Good),
            start(&system_ca, LeafKind::OtherName),
            start(&private_ca, LeafKind::Good),
        ];
        let dir = std::env::temp_dir().join(format!("ka-trust-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a scratch directory");
        Parent {
            _rt: rt,
            servers,
            system_ca,
            private_ca,
            dir,
        }
    }

    /// Writes `contents` to `name` in the scratch directory; returns its path.
    fn file(&self, name: &str, contents: &str) -> String {
        let path = self.dir.join(name);
        std::fs::write(&path, contents).expect("a scratch file");
        path.display().to_string()
    }

    /// An empty directory in the scratch directory; returns its path.
    fn empty_dir(&self, name: &str) -> String {
        let path = self.dir.join(name);
        std::fs::create_dir_all(&path).expect("a scratch directory");
        path.display().to_string()
    }
}

/// Runs `body` as case `case` of test `test` in a child whose store is what `store` makes
/// (`SSL_CERT_*` variables and their values) in the parent's scratch directory. In a child,
/// runs `body` if `case` is this child's.
fn case(
    parent: &Option<Parent>,
    test: &str,
    case: &str,
    store: impl FnOnce(&Parent) -> Vec<(&'static str, String)>,
    body: impl FnOnce(),
) {
    case_under(&[], parent, test, case, store, body);
}

/// [`case`], with the child started through `prefix` (see `child_env::run_under`).
fn case_under(
    prefix: &[&str],
    parent: &Option<Parent>,
    test: &str,
    case: &str,
    store: impl FnOnce(&Parent) -> Vec<(&'static str, String)>,
    body: impl FnOnce(),
) {
    let Some(p) = parent else {
        return child_env::run_under(prefix, test, case, STORE_VARS, &[], body);
    };
    let store = store(p);
    let ports = p
        .servers
        .iter()
        .map(|s| s.addr().port().to_string())
        .collect::<Vec<_>>()
        .join(",");
    let mut vars: Vec<(&str, &str)> = store.iter().map(|(k, v)| (*k, v.as_str())).collect();
    vars.extend([
        (PORTS, ports.as_str()),
        (SYSTEM_CA, p.system_ca.cert_pem()),
        (PRIVATE_CA, p.private_ca.cert_pem()),
    ]);
    let vars: Vec<(&str, &std::ffi::OsStr)> = vars
        .iter()
        .map(|(k, v)| (*k, std::ffi::OsStr::new(*v)))
        .collect();
    child_env::run_under(prefix, test, case, STORE_VARS, &vars, body);
}

/// The parent, unless this process is a child.
fn parent(name: &str) -> Option<Parent> {
    (!child_env::is_child()).then(|| Parent::start(name))
}

/// `SSL_CERT_FILE` naming a bundle that holds the system CA.
fn bundle(p: &Parent) -> Vec<(&'static str, String)> {
    vec![(
        "SSL_CERT_FILE",
        p.file("bundle.pem", p.system_ca.cert_pem()),
    )]
}

impl Drop for Parent {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The parent's servers and CAs, from inside the child.
struct Child {
    good: String,
    other: String,
    private: String,
    system_ca: String,
    private_ca: String,
}

impl Child {
    fn from_env() -> Child {
        let var = |name| std::env::var(name).unwrap_or_else(|_| panic!("{name} is set"));
        let ports = var(PORTS);
        let url = |i: usize| format!("https://127.0.0.1:{}/", ports.split(',').nth(i).unwrap());
        Child {
            good: url(0),
            other: url(1),
            private: url(2),
            system_ca: var(SYSTEM_CA),
            private_ca: var(PRIVATE_CA),
        }
    }
}

/// A connector in `trust` with `added` PEMs on top, going direct whatever the proxy
/// variables say.
fn builder(trust: Trust, added: &[&str]) -> Builder {
    added.iter().fold(
        Connector::builder().trust(trust).proxy(Proxy::none()),
        |b, pem| b.add_root_certificates_pem(pem.as_bytes()),
    )
}

/// Connects to each URL with `connector` on a fresh runtime; `Ok(())` or the error.
fn connect(connector: &Connector, url: &str) -> Result<(), ConnectError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(connector.connect(&url.parse().unwrap()))
        .map(drop)
}

/// The certificate error of a connect that must fail in the TLS phase.
fn cert_error(connector: &Connector, url: &str) -> CertificateError {
    let err = connect(connector, url).expect_err("the certificate is refused");
    assert_eq!(err.phase(), Phase::Tls, "{err}");
    match err.tls_error() {
        Some(rustls::Error::InvalidCertificate(e)) => e.clone(),
        other => panic!("not a certificate error: {other:?} ({err})"),
    }
}

fn assert_connects(connector: &Connector, url: &str) {
    if let Err(e) = connect(connector, url) {
        panic!("{} to {url}: {e}", connector.trust());
    }
}

/// A private CA in the bundle `SSL_CERT_FILE` names (or a file in the directory
/// `SSL_CERT_DIR` names) is trusted by `Trust::Platform`, with no code, and not by
/// `Trust::WebpkiRoots` nor by added roots alone.
#[test]
fn platform_trusts_a_ca_in_the_system_store_and_webpki_roots_does_not() {
    let test = "platform_trusts_a_ca_in_the_system_store_and_webpki_roots_does_not";
    let parent = parent("store");
    let body = || {
        let c = Child::from_env();
        let platform = builder(Trust::Platform, &[]).build().unwrap();
        let trust = platform.trust();
        assert_eq!(trust.in_force(), Some(Trust::Platform), "{trust}");
        assert_eq!(trust.fallback_reason(), None);
        assert_connects(&platform, &c.good);
        // The platform does not know the private CA.
        assert_eq!(
            cert_error(&platform, &c.private),
            CertificateError::UnknownIssuer
        );
        // Mozilla's roots do not hold the system's private CA: a TLS-phase certificate error.
        let webpki = builder(Trust::WebpkiRoots, &[]).build().unwrap();
        assert_eq!(
            cert_error(&webpki, &c.good),
            CertificateError::UnknownIssuer
        );
        // Added roots alone do not consult the system store either.
        let only = builder(Trust::AddedRootsOnly, &[&c.private_ca])
            .build()
            .unwrap();
        assert_eq!(cert_error(&only, &c.good), CertificateError::UnknownIssuer);
        assert_connects(&only, &c.private);
        // The default is the platform.
        let default = Connector::builder().proxy(Proxy::none()).build().unwrap();
        assert_eq!(default.trust(), platform.trust());
        assert_connects(&default, &c.good);
    };
    case(&parent, test, "file", bundle, body);
    case(
        &parent,
        test,
        "dir",
        |p| {
            let dir = p.empty_dir("certs");
            p.file("certs/ca.pem", p.system_ca.cert_pem());
            vec![("SSL_CERT_DIR", dir)]
        },
        body,
    );
}

/// Roots added in code count on top of either trust: under `Trust::Platform`, the system's
/// CA and the added one are both trusted; under `Trust::WebpkiRoots`, the added one is.
#[test]
fn added_roots_work_with_both_trusts() {
    let test = "added_roots_work_with_both_trusts";
    let parent = parent("added");
    let body = || {
        let c = Child::from_env();
        let platform = builder(Trust::Platform, &[&c.private_ca]).build().unwrap();
        assert_eq!(platform.trust().in_force(), Some(Trust::Platform));
        assert_eq!(platform.trust().added_roots(), 1);
        assert_connects(&platform, &c.private);
        assert_connects(&platform, &c.good);
        let webpki = builder(Trust::WebpkiRoots, &[&c.private_ca])
            .build()
            .unwrap();
        assert_eq!(webpki.trust().to_string(), "webpki-roots + 1 added root");
        assert_connects(&webpki, &c.private);
        assert_eq!(
            cert_error(&webpki, &c.good),
            CertificateError::UnknownIssuer
        );
    };
    case(&parent, test, "", bundle, body);
}

/// Whoever verifies, the name is checked: a certificate the system's CA made for
/// `other.invalid` is refused for 127.0.0.1 under `Trust::Platform`, and under
/// `Trust::WebpkiRoots` with that CA added.
#[test]
fn hostname_verification_stays_on_under_both_trusts() {
    let test = "hostname_verification_stays_on_under_both_trusts";
    let parent = parent("names");
    let body = || {
        let c = Child::from_env();
        let name_error = |e: CertificateError| {
            matches!(
                e,
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. }
            )
        };
        let platform = builder(Trust::Platform, &[]).build().unwrap();
        let err = cert_error(&platform, &c.other);
        assert!(name_error(err.clone()), "platform: {err:?}");
        let webpki = builder(Trust::WebpkiRoots, &[&c.system_ca])
            .build()
            .unwrap();
        let err = cert_error(&webpki, &c.other);
        assert!(name_error(err.clone()), "webpki-roots: {err:?}");
        // And the same CA's certificate for the right name passes under both.
        assert_connects(&platform, &c.good);
        assert_connects(&webpki, &c.good);
    };
    case(&parent, test, "", bundle, body);
}

/// Where the distribution keeps its CA store (openssl-probe's Linux candidates, which
/// rustls-native-certs reads when neither `SSL_CERT_FILE` nor `SSL_CERT_DIR` is set).
const DISTRIBUTION_STORES: &[&str] = &[
    "/etc/ssl",
    "/etc/pki",
    "/etc/security/certificates",
    "/opt/etc/ssl",
];

/// The command that starts a child in a mount namespace of its own in which every distribution
/// store is an empty directory: a minimal container without `ca-certificates`. `None` (after a
/// loud `SKIPPED:`, or a failure under `CI=true`) where that cannot be done: not Linux, not
/// root, no `unshare(1)`.
fn without_distribution_store(test: &str) -> Option<Vec<&'static str>> {
    let script = concat!(
        "for d in /etc/ssl /etc/pki /etc/security/certificates /opt/etc/ssl; do ",
        "if [ -d \"$d\" ]; then mount -t tmpfs none \"$d\" || exit 97; fi; done; ",
        "exec \"$@\""
    );
    let prefix = vec![
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        script,
        "sh",
    ];
    let works = cfg!(target_os = "linux")
        && std::process::Command::new(prefix[0])
            .args(&prefix[1..])
            .arg("true")
            .status()
            .is_ok_and(|s| s.success());
    if works {
        return Some(prefix);
    }
    let reason =
        "needs a mount namespace (Linux, root, unshare(1)) to hide the distribution's CA store";
    let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    assert!(!ci, "{test} cannot run under CI=true: {reason}");
    eprintln!("SKIPPED: {test}: {reason}");
    None
}

/// A system store with no certificate and neither variable set (a minimal container without
/// `ca-certificates`, made here with a mount namespace that hides the distribution's store):
/// `Trust::Platform` falls back to webpki-roots and says so, with the reason and where it
/// looked; roots added in code still count, and do not hide the fallback.
#[test]
fn an_empty_system_store_falls_back_to_webpki_roots_and_says_so() {
    let test = "an_empty_system_store_falls_back_to_webpki_roots_and_says_so";
    let parent = parent("empty");
    let body = || {
        let c = Child::from_env();
        for store in DISTRIBUTION_STORES {
            let left = std::fs::read_dir(store).map_or(0, Iterator::count);
            assert_eq!(left, 0, "{store} is hidden");
        }
        let connector = builder(Trust::Platform, &[]).build().unwrap();
        let trust = connector.trust();
        assert_eq!(trust.requested(), Some(Trust::Platform));
        assert_eq!(trust.in_force(), Some(Trust::WebpkiRoots), "{trust}");
        let reason = trust.fallback_reason().expect("a reason");
        println!("in force: {trust}");
        assert!(reason.contains("No CA certificates"), "{reason}");
        assert!(reason.contains("SSL_CERT_FILE unset"), "{reason}");
        assert!(
            trust
                .to_string()
                .starts_with("webpki-roots (fallback from platform: "),
            "{trust}"
        );
        // The CA the parent's servers use is in no store here.
        assert_eq!(
            cert_error(&connector, &c.good),
            CertificateError::UnknownIssuer
        );
        // An added root is trusted on top of webpki-roots, and the fallback is still said.
        let added = builder(Trust::Platform, &[&c.system_ca]).build().unwrap();
        assert_eq!(added.trust().in_force(), Some(Trust::WebpkiRoots));
        assert_eq!(added.trust().added_roots(), 1);
        assert!(added.trust().fallback_reason().is_some());
        assert_connects(&added, &c.good);
        // Asking for webpki-roots is no fallback.
        let webpki = builder(Trust::WebpkiRoots, &[]).build().unwrap();
        assert_eq!(webpki.trust().fallback_reason(), None);
    };
    if child_env::is_child() {
        return case(&parent, test, "", |_| Vec::new(), body);
    }
    let Some(prefix) = without_distribution_store(test) else {
        return;
    };
    case_under(&prefix, &parent, test, "", |_| Vec::new(), body);
}

/// Which variable the child expects `build()` to name.
const WANT: &str = "KA_TRUST_WANT";

/// A store that `SSL_CERT_FILE` or `SSL_CERT_DIR` names (so the distribution's is not read) and
/// that yields no certificate — a mistyped path, a directory, an empty file, DER instead of
/// PEM, an empty directory — is a narrowed trust gone wrong, not a machine without a store:
/// `build()` fails naming the variable, rather than fall back to every public CA
/// (webpki-roots) and connect (issue 19, item 3). Added roots do not cover it up; the trusts
/// that do not read the store are unaffected.
#[test]
fn a_store_named_by_ssl_cert_file_or_dir_that_yields_nothing_fails_build() {
    let test = "a_store_named_by_ssl_cert_file_or_dir_that_yields_nothing_fails_build";
    let parent = parent("narrowed");
    let body = || {
        let c = Child::from_env();
        let (field, value) = match std::env::var(WANT).unwrap().as_str() {
            "SSL_CERT_FILE" => (ConfigField::SslCertFile, std::env::var("SSL_CERT_FILE")),
            _ => (ConfigField::SslCertDir, std::env::var("SSL_CERT_DIR")),
        };
        let value = value.unwrap();
        for builder in [
            builder(Trust::Platform, &[]),
            builder(Trust::Platform, &[&c.private_ca]),
            Connector::builder().proxy(Proxy::none()),
        ] {
            let err = builder.build().map(|c| c.trust().to_string()).unwrap_err();
            println!("{err}");
            assert_eq!(err.field(), field, "{err}");
            assert!(
                matches!(err.reason(), ConfigErrorReason::NoCertificate(_)),
                "{err}"
            );
            assert!(err.to_string().contains(&value), "{err}");
            assert!(err.to_string().contains(field.as_str()), "{err}");
        }
        let webpki = builder(Trust::WebpkiRoots, &[]).build().unwrap();
        assert_eq!(webpki.trust().in_force(), Some(Trust::WebpkiRoots));
        let only = builder(Trust::AddedRootsOnly, &[&c.private_ca])
            .build()
            .unwrap();
        assert_connects(&only, &c.private);
    };
    let want = |var: &str| (WANT, var.to_owned());
    let file = "SSL_CERT_FILE";
    let dir = "SSL_CERT_DIR";
    case(
        &parent,
        test,
        "missing-file",
        |p| {
            let missing = p.dir.join("missing.pem").display().to_string();
            vec![(file, missing), want(file)]
        },
        body,
    );
    case(
        &parent,
        test,
        "empty-file",
        |p| vec![(file, p.file("empty.pem", "")), want(file)],
        body,
    );
    case(
        &parent,
        test,
        "a-directory-as-file",
        |p| vec![(file, p.empty_dir("not-a-file")), want(file)],
        body,
    );
    case(
        &parent,
        test,
        "der-file",
        |p| {
            let path = p.dir.join("ca.der");
            std::fs::write(&path, p.system_ca.cert_der()).unwrap();
            vec![(file, path.display().to_string()), want(file)]
        },
        body,
    );
    case(
        &parent,
        test,
        "empty-dir",
        |p| vec![(dir, p.empty_dir("empty")), want(dir)],
        body,
    );
    case(
        &parent,
        test,
        "missing-dir",
        |p| {
            let missing = p.dir.join("no-such-dir").display().to_string();
            vec![(dir, missing), want(dir)]
        },
        body,
    );
    // Both set, both empty: the file is named (and the message says the directory too).
    case(
        &parent,
        test,
        "both",
        |p| {
            vec![
                (file, p.file("empty-too.pem", "")),
                (dir, p.empty_dir("empty-too")),
                want(file),
            ]
        },
        body,
    );
}
