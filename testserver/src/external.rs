//! Real proxies from Debian packages, started on loopback for a test and stopped when dropped:
//! tinyproxy (HTTP `CONNECT` and forwarding, package `tinyproxy-bin`) and microsocks (SOCKS5,
//! package `microsocks`). `.ci/run` installs both; elsewhere a test without them prints a loud
//! `SKIPPED:` line, and under `CI=true` it fails instead.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Why a real proxy could not be started.
#[derive(Debug)]
pub struct Unavailable(pub String);

impl fmt::Display for Unavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The proxy, or `None` after a loud `SKIPPED:` line; under `CI=true` a missing proxy panics,
/// since CI installs them and must run every test (except under Wine, which cannot start them).
pub fn require<T>(proxy: Result<T, Unavailable>, test: &str) -> Option<T> {
    match proxy {
        Ok(proxy) => Some(proxy),
        // The Windows build of the tests under Wine cannot start a Linux program; the proxy
        // tests run natively (where CI=true makes them mandatory).
        Err(why) if crate::under_wine() => {
            println!(
                "SKIPPED: {test}: {why}: a Windows test under Wine cannot start this Linux program"
            );
            None
        }
        Err(why) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("{test}: {why} (CI=true: this test must run; .ci/run installs the proxies)")
        }
        Err(why) => {
            println!("SKIPPED: {test}: {why}");
            None
        }
    }
}

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A free loopback port, as the kernel hands it out (then released for the proxy to bind).
pub(crate) fn free_port() -> Result<u16, Unavailable> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| Unavailable(format!("no free port: {e}")))
}

/// Starts `cmd` and waits until `addr` accepts connections.
pub(crate) fn spawn(mut cmd: Command, name: &str, addr: SocketAddr) -> Result<Child, Unavailable> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| {
            Unavailable(format!(
                "cannot run {name} ({e}): install it (apt-get install {name})"
            ))
        })?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(Unavailable(format!("{name} exited at start: {status}")));
        }
        if TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
            return Ok(child);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    Err(Unavailable(format!(
        "{name} did not listen on {addr} within 10 s"
    )))
}

/// tinyproxy on 127.0.0.1, in the foreground, with its own configuration file: `CONNECT` to
/// any port (no `ConnectPort` line) unless [`start_with`](Tinyproxy::start_with) limits it,
/// forwarding of `http://` requests, and a log of every request at level `Connect`.
#[derive(Debug)]
pub struct Tinyproxy {
    child: Child,
    addr: SocketAddr,
    dir: PathBuf,
}

impl Tinyproxy {
    /// Starts tinyproxy; with `basic_auth`, it answers 407 to requests without those
    /// credentials (tinyproxy's configuration takes letters, digits, `.`, `-` and `_` in them).
    pub fn start(basic_auth: Option<(&str, &str)>) -> Result<Tinyproxy, Unavailable> {
        Tinyproxy::start_with(basic_auth, &[])
    }

    /// [`start`](Tinyproxy::start), with `CONNECT` allowed to `connect_ports` only when there
    /// are any (a `ConnectPort` line each, as Squid's default configuration allows 443 only):
    /// tinyproxy answers `CONNECT` to another port with 403.
    pub fn start_with(
        basic_auth: Option<(&str, &str)>,
        connect_ports: &[u16],
    ) -> Result<Tinyproxy, Unavailable> {
        let port = free_port()?;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let dir = std::env::temp_dir().join(format!(
            "ka-tinyproxy-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).map_err(|e| Unavailable(format!("temp dir: {e}")))?;
        let log = dir.join("tinyproxy.log");
        let mut conf = format!(
            "Port {port}\nListen 127.0.0.1\nTimeout 60\nLogLevel Connect\nLogFile \"{}\"\n",
            log.display()
        );
        if let Some((user, pass)) = basic_auth {
            conf.push_str(&format!("BasicAuth {user} {pass}\n"));
        }
        for port in connect_ports {
            conf.push_str(&format!("ConnectPort {port}\n"));
        }
        let conf_path = dir.join("tinyproxy.conf");
        std::fs::write(&conf_path, conf).map_err(|e| Unavailable(format!("config: {e}")))?;
        let mut cmd = Command::new("tinyproxy");
        cmd.arg("-d").arg("-c").arg(&conf_path);
        let child = spawn(cmd, "tinyproxy", addr).inspect_err(|_| {
            let _ = std::fs::remove_dir_all(&dir);
        })?;
        Ok(Tinyproxy { child, addr, dir })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("tinyproxy.log")).unwrap_or_default()
    }

    /// The `CONNECT` requests and forwarded requests it logged (`CONNECT host:port`,
    /// `GET http://…`), in order.
    pub fn requests(&self) -> Vec<String> {
        self.log()
            .lines()
            .filter_map(|line| line.split_once("Request (file descriptor "))
            .filter_map(|(_, rest)| rest.split_once("): ").map(|(_, req)| req.to_owned()))
            .collect()
    }
}

impl Drop for Tinyproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// microsocks on 127.0.0.1: SOCKS5, optionally with a user name and password (never `-1`, which
/// would let an address in without them after one success).
#[derive(Debug)]
pub struct Microsocks {
    child: Child,
    addr: SocketAddr,
}

impl Microsocks {
    /// Starts microsocks, asking for `credentials` when given.
    pub fn start(credentials: Option<(&str, &str)>) -> Result<Microsocks, Unavailable> {
        let port = free_port()?;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let mut cmd = Command::new("microsocks");
        cmd.args(["-i", "127.0.0.1", "-p", &port.to_string()]);
        if let Some((user, pass)) = credentials {
            cmd.args(["-u", user, "-P", pass]);
        }
        let child = spawn(cmd, "microsocks", addr)?;
        Ok(Microsocks { child, addr })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Microsocks {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
