//! Re-running one test of the current test binary as a child process in a given role.
//!
//! Some tests need a process of their own: the dead-peer tests must run the client and the
//! server in two network namespaces (`ip netns exec NS exe …`: a process enters a namespace
//! without `setns(2)`, so without unsafe code), and the leak test counts `/proc/self/fd`, which
//! other tests running in parallel threads of this binary would disturb. The parent runs
//! `exe --exact <the same test> --nocapture --test-threads=1` with [`ROLE`] set; the test sees
//! the role and plays it instead of orchestrating. Lines starting with [`MARK`] are the
//! protocol between the two; everything else the child prints is relayed for the log.
use std::io::{self, BufRead, BufReader, Write};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// The environment variable naming the role a re-executed test plays.
pub const ROLE: &str = "KA_TEST_ROLE";
/// The prefix of protocol lines between a child and its parent.
pub const MARK: &str = "@@KA ";

/// The role this process was started in, if it is a child.
pub fn role() -> Option<String> {
    std::env::var(ROLE).ok()
}

/// A line for the parent: `@@KA {line}`, flushed at once.
pub fn say(line: impl std::fmt::Display) {
    let mut out = io::stdout().lock();
    let _ = writeln!(out, "{MARK}{line}");
    let _ = out.flush();
}

/// Plays this process's part in a test made of a parent and `server`/`client` children: the
/// child's role when it is one, else `parent`, given the test's path inside this binary
/// (`module` is the test's `module_path!()`).
pub fn play(
    module: &str,
    test: &str,
    server: impl FnOnce(),
    client: impl FnOnce(),
    parent: impl FnOnce(&str),
) {
    match role().as_deref() {
        Some("server") => server(),
        Some("client") => client(),
        Some(other) => panic!("unknown role {other}"),
        None => parent(&test_path(module, test)),
    }
}

/// Skips a test loudly, or fails it under `CI=true`, where it must run.
pub fn skip(test: &str, reason: &str) {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    assert!(!ci, "{test} cannot run under CI=true: {reason}");
    // Straight to the process's stderr: libtest captures the print macros, not this.
    let _ = writeln!(io::stderr(), "SKIPPED: {test}: {reason}");
}

/// The command running test `test` (its path inside this binary, e.g. `leaks::x`) of this
/// very binary as a child in `role`, after `prefix` (e.g. `ip netns exec NS`).
pub fn command(prefix: &[&str], test: &str, role: &str) -> Command {
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut cmd = match prefix.split_first() {
        Some((first, rest)) => {
            let mut cmd = Command::new(first);
            cmd.args(rest).arg(exe);
            cmd
        }
        None => Command::new(exe),
    };
    cmd.args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(ROLE, role)
        .env("RUST_BACKTRACE", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// A test's path inside this binary: `module_path!()` without the crate name, then `name`.
pub fn test_path(module_path: &str, name: &str) -> String {
    let module = module_path.split_once("::").map_or("", |(_, m)| m);
    format!("{module}::{name}")
}

/// A running child. Its stdout and stderr lines arrive through a channel; it is killed
/// (by its own pid, through `std::process::Child::kill`) if dropped while running.
#[derive(Debug)]
pub struct Child {
    name: String,
    inner: std::process::Child,
    lines: Receiver<String>,
}

impl Child {
    /// Spawns `cmd`; `name` prefixes its relayed lines.
    pub fn spawn(name: &str, mut cmd: Command) -> io::Result<Child> {
        let mut inner = cmd.spawn()?;
        let (tx, lines) = mpsc::channel();
        let stdout = inner.stdout.take().expect("piped stdout");
        let stderr = inner.stderr.take().expect("piped stderr");
        let tx2 = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx2.send(format!("stderr: {line}")).is_err() {
                    break;
                }
            }
        });
        Ok(Child {
            name: name.to_owned(),
            inner,
            lines,
        })
    }

    /// Waits up to `timeout` for the next protocol line starting with `MARK` and `word`,
    /// relaying every other line. Returns the rest of the line after `word`.
    pub fn expect(&mut self, word: &str, timeout: Duration) -> Result<String, String> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                // libtest may have printed `test name ... ` without a newline first.
                Ok(line) => match line.find(MARK).map(|at| &line[at + MARK.len()..]) {
                    Some(msg) => {
                        println!("[{}] {line}", self.name);
                        if let Some(rest) = msg.strip_prefix(word) {
                            return Ok(rest.trim().to_owned());
                        }
                        if msg.starts_with("error") {
                            return Err(format!("{}: {msg}", self.name));
                        }
                    }
                    None => println!("[{}] {line}", self.name),
                },
                Err(RecvTimeoutError::Timeout) => {
                    return Err(format!("{}: no `{word}` within {timeout:?}", self.name))
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(format!(
                        "{}: exited before saying `{word}` ({:?})",
                        self.name,
                        self.inner.try_wait()
                    ))
                }
            }
        }
    }

    /// Collects the child's protocol lines until one says `done` (each within `timeout`).
    pub fn lines_until_done(&mut self, timeout: Duration) -> Vec<String> {
        let mut lines = Vec::new();
        loop {
            let line = self.expect("", timeout).unwrap_or_else(|e| panic!("{e}"));
            if line == "done" {
                return lines;
            }
            lines.push(line);
        }
    }

    /// Sends one line to the child's stdin.
    pub fn send(&mut self, line: &str) -> io::Result<()> {
        let stdin = self.inner.stdin.as_mut().expect("piped stdin");
        writeln!(stdin, "{line}")?;
        stdin.flush()
    }

    /// Waits up to `timeout` for the child to exit, relaying what it still prints.
    pub fn finish(mut self, timeout: Duration) -> Result<ExitStatus, String> {
        drop(self.inner.stdin.take());
        let deadline = Instant::now() + timeout;
        loop {
            while let Ok(line) = self.lines.try_recv() {
                println!("[{}] {line}", self.name);
            }
            match self.inner.try_wait() {
                Ok(Some(status)) => {
                    // The reader threads end with the pipes; drain what is left.
                    while let Ok(line) = self.lines.recv_timeout(Duration::from_millis(200)) {
                        println!("[{}] {line}", self.name);
                    }
                    return Ok(status);
                }
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                Ok(None) => return Err(format!("{} still running after {timeout:?}", self.name)),
                Err(e) => return Err(format!("{}: {e}", self.name)),
            }
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if let Ok(None) = self.inner.try_wait() {
            let _ = self.inner.kill();
            let _ = self.inner.wait();
        }
    }
}
