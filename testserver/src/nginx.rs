//! A real nginx (Debian's `nginx-light` or `nginx`), started on 127.0.0.1 for a test with a
//! configuration generated in a temporary directory, in the foreground (`daemon off`, no
//! master process) as a child of the test, killed and cleaned up when dropped. `.ci/run`
//! installs it; elsewhere a test without it prints a loud `SKIPPED:` line
//! ([`crate::external::require`]), and under `CI=true` fails.
//!
//! Every path answers `200 hello`. What the test is about goes in with
//! [`NginxBuilder::directive`], e.g. `keepalive_timeout 5s 5` (close idle keep-alive
//! connections after 5 s and announce `Keep-Alive: timeout=5`).

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine as _;

use crate::external::{free_port, spawn, Unavailable};
use crate::pki::{LeafKind, TestCa};

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A running nginx.
#[derive(Debug)]
pub struct Nginx {
    child: Child,
    addr: SocketAddr,
    dir: PathBuf,
    tls: bool,
}

/// How the nginx of [`Nginx::builder`] is configured.
#[derive(Debug, Default)]
pub struct NginxBuilder {
    directives: Vec<String>,
    tls: Option<(String, String)>,
    http2: bool,
}

impl NginxBuilder {
    /// Adds a directive to the server block, without its `;` (`keepalive_timeout 5s 5`).
    pub fn directive(mut self, directive: &str) -> Self {
        self.directives.push(directive.to_owned());
        self
    }

    /// Serves HTTPS with a certificate for `localhost` and `127.0.0.1` signed by `ca`.
    pub fn tls(mut self, ca: &TestCa) -> Self {
        let leaf = ca.leaf(LeafKind::Good);
        let chain = leaf
            .chain
            .iter()
            .map(|cert| pem("CERTIFICATE", cert))
            .collect::<String>();
        self.tls = Some((chain, pem("PRIVATE KEY", leaf.key.secret_der())));
        self
    }

    /// Serves HTTP/2: offered by ALPN with [`tls`](NginxBuilder::tls), else by prior
    /// knowledge (h2c) only.
    pub fn http2(mut self) -> Self {
        self.http2 = true;
        self
    }

    /// Writes the configuration and starts nginx; returns once it accepts connections.
    pub fn start(self) -> Result<Nginx, Unavailable> {
        let port = free_port()?;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let dir = std::env::temp_dir().join(format!(
            "ka-nginx-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        ));
        let io = |e: std::io::Error| Unavailable(format!("nginx's temp dir: {e}"));
        std::fs::create_dir_all(dir.join("tmp")).map_err(io)?;
        let d = dir.display();
        let mut listen = format!("listen 127.0.0.1:{port}");
        let mut tls_lines = String::new();
        if let Some((chain, key)) = &self.tls {
            std::fs::write(dir.join("cert.pem"), chain).map_err(io)?;
            std::fs::write(dir.join("key.pem"), key).map_err(io)?;
            listen.push_str(" ssl");
            tls_lines = format!(
                "ssl_certificate {d}/cert.pem;\n    ssl_certificate_key {d}/key.pem;\n    "
            );
        }
        if self.http2 {
            listen.push_str(" http2");
        }
        let directives: String = self
            .directives
            .iter()
            .map(|line| format!("{line};\n    "))
            .collect();
        let conf = format!(
            "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\n\
             error_log {d}/error.log info;\nevents {{ worker_connections 256; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {d}/tmp/body;\n  \
             proxy_temp_path {d}/tmp/proxy;\n  fastcgi_temp_path {d}/tmp/fastcgi;\n  \
             uwsgi_temp_path {d}/tmp/uwsgi;\n  scgi_temp_path {d}/tmp/scgi;\n  \
             server {{\n    {listen};\n    {tls_lines}{directives}\
             location / {{ return 200 \"hello\\n\"; }}\n  }}\n}}\n"
        );
        let conf_path = dir.join("nginx.conf");
        std::fs::write(&conf_path, conf).map_err(io)?;
        let cleanup = |e: Unavailable| {
            let _ = std::fs::remove_dir_all(&dir);
            e
        };
        let mut cmd = Command::new("nginx");
        // -e: the error log from the very start, before the configuration is read.
        cmd.arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(&conf_path)
            .arg("-e")
            .arg(dir.join("error.log"));
        let child = spawn(cmd, "nginx", addr).map_err(|e| {
            let log = std::fs::read_to_string(dir.join("error.log")).unwrap_or_default();
            cleanup(Unavailable(format!("{e}; its error log: {}", log.trim())))
        })?;
        Ok(Nginx {
            child,
            addr,
            dir,
            tls: self.tls.is_some(),
        })
    }
}

impl Nginx {
    /// A configuration to start.
    pub fn builder() -> NginxBuilder {
        NginxBuilder::default()
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT{path}`, or `https://localhost:PORT{path}` with TLS (resolve
    /// `localhost` to 127.0.0.1).
    pub fn url(&self, path: &str) -> String {
        if self.tls {
            format!("https://localhost:{}{path}", self.addr.port())
        } else {
            format!("http://{}{path}", self.addr)
        }
    }

    /// Its error log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// DER in PEM armour, as nginx reads certificates and keys.
fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}
