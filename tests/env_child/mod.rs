//! Running one test of a test binary again in a child process with an environment of its own,
//! for tests of what the connector reads from the environment (proxy variables, the system's
//! CA store): no test can see another's variables, and none races the threads of the parent.
//!
//! Shared by `tests/proxy_env.rs` and `tests/trust_env.rs` (a folder, so cargo does not take
//! it for a test binary of its own).

use std::process::Command;

/// Set in a child: the name of the test and case it runs.
const CHILD: &str = "KA_ENV_CHILD";

/// Whether this process is a child started by [`in_env`].
pub(crate) fn is_child() -> bool {
    std::env::var_os(CHILD).is_some()
}

/// Runs `body` in a child process (running test `test` again, as case `case`) whose
/// environment lacks every variable in `removed` and has `vars`. In a child, only the named
/// case runs; the parent fails unless the child ran it and passed.
pub(crate) fn in_env(
    test: &str,
    case: &str,
    removed: &[&str],
    vars: &[(&str, &str)],
    body: impl FnOnce(),
) {
    let me = format!("{test}#{case}");
    match std::env::var(CHILD) {
        Ok(child) if child == me => return body(),
        Ok(_) => return,
        Err(_) => {}
    }
    let mut cmd = Command::new(std::env::current_exe().expect("the test binary"));
    cmd.args([test, "--exact", "--nocapture", "--test-threads=1"]);
    for var in removed {
        cmd.env_remove(var);
    }
    cmd.envs(vars.iter().copied()).env(CHILD, &me);
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
