//! Running one test of the current test binary again, in a child process with an environment of
//! its own: for tests of what a library reads from the environment (proxy variables, the
//! system's CA store), so that no test sees another's variables and none races the threads of
//! the parent. Portable (std only), unlike [`child`](crate::child), whose roles are for network
//! namespaces.

use std::ffi::OsStr;
use std::process::Command;

/// Every variable that chooses a proxy (and `REQUEST_METHOD`, which turns `HTTP_PROXY` off):
/// what a test of routes removes from a child's environment before setting its own.
pub const PROXY_VARS: &[&str] = &[
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
    "REQUEST_METHOD",
];

/// Set in a child: the test and case it runs.
const CASE: &str = "KA_ENV_CASE";

/// Whether this process is a child started by [`run`].
pub fn is_child() -> bool {
    std::env::var_os(CASE).is_some()
}

/// Runs `body` in a child process: test `test` of this very binary, run again as case `case`,
/// without any variable of `removed` and with `vars`. In a child, only that case runs `body`
/// (other cases return at once); the parent relays the child's output and fails unless the
/// child ran the test and passed.
pub fn run(test: &str, case: &str, removed: &[&str], vars: &[(&str, &str)], body: impl FnOnce()) {
    let vars: Vec<(&str, &OsStr)> = vars.iter().map(|(k, v)| (*k, OsStr::new(*v))).collect();
    run_under(&[], test, case, removed, &vars, body);
}

/// [`run`] with values that need not be Unicode (a variable a program must refuse).
pub fn run_os(
    test: &str,
    case: &str,
    removed: &[&str],
    vars: &[(&str, &OsStr)],
    body: impl FnOnce(),
) {
    run_under(&[], test, case, removed, vars, body);
}

/// [`run_os`], with the child started through `prefix` (a command that ends by running its
/// arguments, e.g. `unshare --mount … sh -c '…; exec "$@"' sh`).
pub fn run_under(
    prefix: &[&str],
    test: &str,
    case: &str,
    removed: &[&str],
    vars: &[(&str, &OsStr)],
    body: impl FnOnce(),
) {
    let me = format!("{test}#{case}");
    match std::env::var(CASE) {
        Ok(child) if child == me => return body(),
        Ok(_) => return,
        Err(_) => {}
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut cmd = match prefix.split_first() {
        Some((first, rest)) => {
            let mut cmd = Command::new(first);
            cmd.args(rest).arg(exe);
            cmd
        }
        None => Command::new(exe),
    };
    cmd.args([test, "--exact", "--nocapture", "--test-threads=1"]);
    for var in removed {
        cmd.env_remove(var);
    }
    cmd.envs(vars.iter().copied()).env(CASE, &me);
    let out = cmd.output().expect("the child runs");
    print!("{}", String::from_utf8_lossy(&out.stdout));
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    let ran = String::from_utf8_lossy(&out.stdout).contains("1 passed");
    assert!(
        out.status.success() && ran,
        "child {me} failed: {}",
        out.status
    );
}
