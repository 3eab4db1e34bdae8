//! Defines each platform set once, as a cfg alias, so the list of `target_os` values is not
//! repeated across the crate (tokio's `cfg_net!` habit, without a macro per use).

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rustc-check-cfg=cfg(tcp_user_timeout)");
    println!("cargo::rustc-check-cfg=cfg(keepalive_tuning)");
    println!("cargo::rustc-check-cfg=cfg(sock_nonblock)");
    println!("cargo::rustc-check-cfg=cfg(system_proxy)");
    println!("cargo::rustc-check-cfg=cfg(native_certs)");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    // socket2 exposes TCP_USER_TIMEOUT on these.
    if matches!(os.as_str(), "linux" | "android" | "fuchsia") {
        println!("cargo::rustc-cfg=tcp_user_timeout");
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
    // socket2 can set and read back TCP_KEEPIDLE / TCP_KEEPINTVL / TCP_KEEPCNT on these.
    if matches!(
        os.as_str(),
        "linux" | "android" | "fuchsia" | "macos" | "ios" | "freebsd" | "netbsd" | "dragonfly"
    ) {
        println!("cargo::rustc-cfg=keepalive_tuning");
    }
}
