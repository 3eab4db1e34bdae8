//! Defines each platform set once, as a cfg alias, so the list of `target_os` values is not
//! repeated across the crate (tokio's `cfg_net!` habit, without a macro per use). The lists
//! follow socket2 0.6's own `cfg`s (its `all` feature), which decide what exists where.
//!
//! Keepalive: every target is in exactly one of four sets.
//! - `keepalive_tuning`: Unix with per-socket idle, interval and count, each set and read back
//!   through socket2 (`TCP_KEEPIDLE`, or `TCP_KEEPALIVE` on Apple systems; `TCP_KEEPINTVL`;
//!   `TCP_KEEPCNT`).
//! - Windows (the built-in `windows` cfg): idle and interval through `SIO_KEEPALIVE_VALS`, the
//!   count through `TCP_KEEPCNT` from Windows 10 1703; read back through rustix where the OS
//!   version can report them.
//! - `keepalive_idle_only`: Unix with a per-socket idle time only (Solaris, AIX, Hurd, Redox, …).
//! - `keepalive_switch_only`: only `SO_KEEPALIVE` itself (OpenBSD, Haiku, Vita: the timers are
//!   system-wide; socket2 would silently ignore an idle time there).

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    for alias in [
        "tcp_user_timeout",
        "keepalive_tuning",
        "keepalive_idle_only",
        "keepalive_switch_only",
        "sock_nonblock",
        "system_proxy",
        "native_certs",
        "proc_net_tcp",
    ] {
        println!("cargo::rustc-check-cfg=cfg({alias})");
    }
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let family = std::env::var("CARGO_CFG_TARGET_FAMILY").unwrap_or_default();
    let windows = family.split(',').any(|f| f == "windows");

    // socket2 exposes TCP_USER_TIMEOUT on these.
    if matches!(os.as_str(), "linux" | "android" | "fuchsia" | "cygwin") {
        println!("cargo::rustc-cfg=tcp_user_timeout");
    }
    // The kernel lists TCP sockets with their counters in /proc/self/net/tcp{,6} (TcpStats).
    if matches!(os.as_str(), "linux" | "android") {
        println!("cargo::rustc-cfg=proc_net_tcp");
    }
    // socket2 can open a socket non-blocking in one call (SOCK_NONBLOCK) on these.
    if matches!(
        os.as_str(),
        "linux" | "android" | "fuchsia" | "freebsd" | "netbsd" | "dragonfly"
    ) {
        println!("cargo::rustc-cfg=sock_nonblock");
    }
    // rustls-platform-verifier is webpki over the system's CA store on these (read by
    // rustls-native-certs: SSL_CERT_FILE, SSL_CERT_DIR, the distribution's paths); elsewhere
    // the OS verifies.
    let unix = std::env::var_os("CARGO_CFG_UNIX").is_some();
    let vendor = std::env::var("CARGO_CFG_TARGET_VENDOR").unwrap_or_default();
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    if unix && os != "android" && vendor != "apple" && arch != "wasm32" {
        println!("cargo::rustc-cfg=native_certs");
    }
    // hyper-util's matcher reads system proxy settings on these (elsewhere: the environment).
    if matches!(os.as_str(), "macos" | "windows") {
        println!("cargo::rustc-cfg=system_proxy");
    }
    // For checking the code of a platform set on a machine without the rust-std of any target
    // in it (OpenBSD, Solaris): `KEEPALIVE_CONNECTOR_CHECK_PLATFORM_SET=switch_only cargo clippy`
    // builds the host's crate with that set's code. Never needed for a real build.
    println!("cargo::rerun-if-env-changed=KEEPALIVE_CONNECTOR_CHECK_PLATFORM_SET");
    let forced = std::env::var("KEEPALIVE_CONNECTOR_CHECK_PLATFORM_SET").ok();
    let keepalive = if windows {
        None
    } else if let Some(set) = forced.as_deref() {
        match set {
            "tuning" => Some("keepalive_tuning"),
            "idle_only" => Some("keepalive_idle_only"),
            "switch_only" => Some("keepalive_switch_only"),
            other => panic!(
                "KEEPALIVE_CONNECTOR_CHECK_PLATFORM_SET={other}: expected tuning, idle_only or \
                 switch_only"
            ),
        }
    } else if matches!(
        os.as_str(),
        "linux"
            | "android"
            | "fuchsia"
            | "cygwin"
            | "macos"
            | "ios"
            | "tvos"
            | "watchos"
            | "visionos"
            | "freebsd"
            | "netbsd"
            | "dragonfly"
            | "illumos"
            | "emscripten"
            | "nuttx"
    ) {
        Some("keepalive_tuning")
    } else if matches!(os.as_str(), "openbsd" | "haiku" | "vita") {
        Some("keepalive_switch_only")
    } else {
        // socket2 sets and reads the idle time (TCP_KEEPIDLE) on every other Unix, and offers
        // no interval or count there.
        Some("keepalive_idle_only")
    };
    if let Some(alias) = keepalive {
        println!("cargo::rustc-cfg={alias}");
    }
}
