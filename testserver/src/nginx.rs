//! Real nginx (Debian's `nginx-light`, or any nginx with the `ssl` and `http_v2` modules),
//! started on loopback for a test with a configuration of the test's own and stopped when
//! dropped: the servers whose keep-alive behaviour a client must survive (`keepalive_timeout`,
//! the `Keep-Alive: timeout=` header, `keepalive_requests`' GOAWAY over HTTP/2).
//!
//! nginx runs in the foreground as one process (`daemon off; master_process off;`) from a
//! temporary directory holding its configuration, certificate, pid file and logs, so a test
//! needs no system configuration and leaves nothing behind. `.ci/run` installs nginx; elsewhere
//! a test without it prints a loud `SKIPPED:` line (see [`crate::external::require`]), and under
//! `CI=true` fails.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine as _;

use crate::external::{free_port, spawn, Unavailable};
use crate::pki::{LeafKind, TestCa};

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// What an [`Nginx`] serves: every path answers `hello from nginx` (any method, the request
/// body read and discarded); the server-block directives of the test's choosing decide the
/// rest.
#[derive(Debug, Default)]
pub struct NginxConfig {
    tls: bool,
    http2: bool,
    directives: Vec<String>,
}

impl NginxConfig {
    /// Plain `http://` HTTP/1.1.
    pub fn plain() -> NginxConfig {
        NginxConfig::default()
    }

    /// `https://` with a certificate for `localhost`/`127.0.0.1` from the CA given to
    /// [`Nginx::start`]; HTTP/1.1 only unless [`http2`](NginxConfig::http2).
    pub fn tls() -> NginxConfig {
        NginxConfig {
            tls: true,
            ..NginxConfig::default()
        }
    }

    /// Offers HTTP/2 (ALPN `h2` over TLS; prior knowledge on a plain listener).
    pub fn http2(mut self) -> NginxConfig {
        self.http2 = true;
        self
    }

    /// A directive for the `server` block, with its semicolon: `keepalive_timeout 200ms;`,
    /// `keepalive_timeout 3s 3;` (sends `Keep-Alive: timeout=3`), `keepalive_requests 5;`.
    pub fn directive(mut self, line: &str) -> NginxConfig {
        self.directives.push(line.to_owned());
        self
    }
}

/// A running nginx; dropping it stops it and removes its directory.
#[derive(Debug)]
pub struct Nginx {
    child: Child,
    addr: SocketAddr,
    tls: bool,
    dir: PathBuf,
}

impl Nginx {
    /// Starts nginx with `config` on a free port of 127.0.0.1, and waits until it accepts
    /// connections. `ca` signs the certificate of a TLS configuration.
    pub fn start(config: &NginxConfig, ca: &TestCa) -> Result<Nginx, Unavailable> {
        let port = free_port()?;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let dir = std::env::temp_dir().join(format!(
            "ka-nginx-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).map_err(|e| Unavailable(format!("temp dir: {e}")))?;
        let written = write_files(config, ca, port, &dir);
        let conf = match written {
            Ok(conf) => conf,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(e);
            }
        };
        let mut cmd = Command::new("nginx");
        // -e: the error log from the very start (before the configuration is read), in our
        // directory rather than /var/log/nginx.
        cmd.arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(&conf)
            .arg("-e")
            .arg(dir.join("error.log"));
        let child = spawn(cmd, "nginx", addr).map_err(|e| {
            let log = std::fs::read_to_string(dir.join("error.log")).unwrap_or_default();
            let _ = std::fs::remove_dir_all(&dir);
            Unavailable(format!("{e}; its error log: {}", log.trim()))
        })?;
        Ok(Nginx {
            child,
            addr,
            tls: config.tls,
            dir,
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http(s)://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}{path}", self.addr)
    }

    /// Its error log so far (at level `info`: it names every connection it closes).
    pub fn error_log(&self) -> String {
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

/// Writes the configuration (and for TLS the certificate and key) into `dir`; returns the
/// configuration's path.
fn write_files(
    config: &NginxConfig,
    ca: &TestCa,
    port: u16,
    dir: &std::path::Path,
) -> Result<PathBuf, Unavailable> {
    let io = |e: std::io::Error| Unavailable(format!("writing nginx's files: {e}"));
    let d = dir.display();
    let mut listen = format!("listen 127.0.0.1:{port}");
    let mut tls_lines = String::new();
    if config.tls {
        let leaf = ca.leaf(LeafKind::Good);
        let chain: String = leaf.chain.iter().map(|c| pem("CERTIFICATE", c)).collect();
        std::fs::write(dir.join("cert.pem"), chain).map_err(io)?;
        std::fs::write(
            dir.join("key.pem"),
            pem("PRIVATE KEY", leaf.key.secret_der()),
        )
        .map_err(io)?;
        listen.push_str(" ssl");
        tls_lines =
            format!("ssl_certificate {d}/cert.pem;\n    ssl_certificate_key {d}/key.pem;\n");
    }
    if config.http2 {
        // nginx 1.22 (Debian 12) takes `http2` on `listen`; it is deprecated from 1.25.1 in
        // favour of `http2 on;`, which 1.22 does not know.
        listen.push_str(" http2");
    }
    let mut directives = String::new();
    for line in &config.directives {
        let _ = writeln!(directives, "    {line}");
    }
    // `user` only as root: nginx ignores it (with a warning) otherwise, and as root would
    // switch to `nobody`, who cannot read our temporary directory.
    let user = if crate::euid() == Some(0) {
        "user root;\n"
    } else {
        ""
    };
    let conf = format!(
        "{user}daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\n\
         error_log {d}/error.log info;\n\
         events {{ worker_connections 1024; }}\n\
         http {{\n\
         \x20   access_log off;\n\
         \x20   client_body_temp_path {d}/body;\n\
         \x20   proxy_temp_path {d}/proxy;\n\
         \x20   fastcgi_temp_path {d}/fastcgi;\n\
         \x20   uwsgi_temp_path {d}/uwsgi;\n\
         \x20   scgi_temp_path {d}/scgi;\n\
         \x20   server {{\n\
         \x20   {listen};\n\
         \x20   {tls_lines}{directives}\
         \x20   location / {{ return 200 \"hello from nginx\\n\"; }}\n\
         \x20   }}\n\
         }}\n"
    );
    let path = dir.join("nginx.conf");
    std::fs::write(&path, conf).map_err(io)?;
    Ok(path)
}

/// DER as PEM, as nginx (OpenSSL) reads certificates and keys.
fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        out.push('\n');
    }
    let _ = writeln!(out, "-----END {label}-----");
    out
}
