//! Configuration validation, as one table: every value `Builder::build` refuses, with the field
//! ([`ConfigField`]), the reason and its limit or conflict ([`ConfigErrorReason`], [`Limit`],
//! [`Conflict`]) and the value as [`ConfigError::value`] shows it, all compared as typed values;
//! then the values at the limits, which `build()` accepts.
//!
//! Elsewhere, because they come from the environment and need a process of their own:
//! `SSL_CERT_FILE` and `SSL_CERT_DIR` ([`ConfigField::SslCertFile`], [`ConfigField::SslCertDir`])
//! in `tests/trust_env.rs`, the proxy variables in `tests/proxy_env.rs`. The proxy URL parser's
//! every [`InvalidProxy`] case is tabled in `proxy.rs` and `proxy_credentials.rs`, next to the
//! checks that no credential shows; one row here stands for them. A chosen keepalive value this
//! OS cannot set (`ConfigErrorReason::Unsupported`) is checked for every platform's support in
//! the library's own `socket` tests.
//!
//! `resend_buffer_size` has no `ConfigField`: every size is meaningful (0 keeps no body for a
//! re-send); its rows are in the accepted table.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Duration;

use keepalive_connector::{
    Builder, ConfigError, ConfigErrorReason, ConfigField, Conflict, Connector, InvalidProxy,
    Keepalive, Limit, Proxy, Trust,
};

const fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

const fn ms(m: u64) -> Duration {
    Duration::from_millis(m)
}

/// Why a row must be refused: a reason compared whole, or one whose text is the parser's
/// (certificates) and so only its kind is compared.
#[derive(Debug)]
enum Why {
    Is(ConfigErrorReason),
    BadCertificate,
}

impl Why {
    fn matches(&self, got: &ConfigErrorReason) -> bool {
        match self {
            Why::Is(want) => want == got,
            Why::BadCertificate => matches!(got, ConfigErrorReason::BadCertificate(_)),
        }
    }
}

fn too_large(max: Limit) -> Why {
    Why::Is(ConfigErrorReason::TooLarge { max })
}

fn conflict(conflict: Conflict) -> Why {
    Why::Is(ConfigErrorReason::Conflict(conflict))
}

const ZERO: Why = Why::Is(ConfigErrorReason::Zero);

/// One refused configuration: what it is, the builder, and what the error must say.
struct Refused {
    what: &'static str,
    builder: Box<dyn Fn() -> Builder>,
    field: ConfigField,
    why: Why,
    /// [`ConfigError::value`]: the refused value as people read it.
    value: &'static str,
}

fn refused(
    what: &'static str,
    builder: impl Fn() -> Builder + 'static,
    field: ConfigField,
    why: Why,
    value: &'static str,
) -> Refused {
    Refused {
        what,
        builder: Box::new(builder),
        field,
        why,
        value,
    }
}

fn keepalive(k: Keepalive) -> Builder {
    Connector::builder().keepalive(k)
}

/// The connector's own rustls configuration with this ALPN list, for `tls_config`.
fn tls_config_with_alpn(alpn: &[&[u8]]) -> Arc<rustls::ClientConfig> {
    let mut config = (**Connector::builder().build().unwrap().tls_config()).clone();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

fn with_alpn(alpn: &'static [&'static [u8]]) -> Builder {
    Connector::builder().tls_config(tls_config_with_alpn(alpn))
}

const BROKEN_PEM: &[u8] = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";

fn refused_rows() -> Vec<Refused> {
    use ConfigField as F;
    let ka = Keepalive::new;
    // Only the TCP_USER_TIMEOUT rows below are added later, and only where it exists.
    #[cfg_attr(not(tcp_user_timeout), allow(unused_mut))]
    let mut rows = vec![
        // The socket policy: keepalive values the kernel takes in whole seconds, up to Linux's
        // limits; buffer sizes are C ints.
        refused(
            "idle 0",
            move || keepalive(ka().idle(Duration::ZERO)),
            F::KeepaliveIdle,
            ZERO,
            "0ns",
        ),
        refused(
            "idle 500ms",
            move || keepalive(ka().idle(ms(500))),
            F::KeepaliveIdle,
            Why::Is(ConfigErrorReason::SubSecond),
            "500ms",
        ),
        refused(
            "idle 1.5s",
            move || keepalive(ka().idle(ms(1500))),
            F::KeepaliveIdle,
            Why::Is(ConfigErrorReason::NotWholeSeconds),
            "1.5s",
        ),
        refused(
            "idle 32768s",
            move || keepalive(ka().idle(Keepalive::MAX_IDLE + secs(1))),
            F::KeepaliveIdle,
            too_large(Limit::Duration(Keepalive::MAX_IDLE)),
            "32768s",
        ),
        refused(
            "idle 100000s",
            move || keepalive(ka().idle(secs(100_000))),
            F::KeepaliveIdle,
            too_large(Limit::Duration(Keepalive::MAX_IDLE)),
            "100000s",
        ),
        refused(
            "interval 0",
            move || keepalive(ka().interval(Duration::ZERO)),
            F::KeepaliveInterval,
            ZERO,
            "0ns",
        ),
        refused(
            "interval 999ms",
            move || keepalive(ka().interval(ms(999))),
            F::KeepaliveInterval,
            Why::Is(ConfigErrorReason::SubSecond),
            "999ms",
        ),
        refused(
            "interval 2.5s",
            move || keepalive(ka().interval(ms(2500))),
            F::KeepaliveInterval,
            Why::Is(ConfigErrorReason::NotWholeSeconds),
            "2.5s",
        ),
        refused(
            "interval 32768s",
            move || keepalive(ka().interval(Keepalive::MAX_INTERVAL + secs(1))),
            F::KeepaliveInterval,
            too_large(Limit::Duration(Keepalive::MAX_INTERVAL)),
            "32768s",
        ),
        refused(
            "retries 0",
            move || keepalive(ka().retries(0)),
            F::KeepaliveRetries,
            ZERO,
            "0",
        ),
        refused(
            "retries 128",
            move || keepalive(ka().retries(Keepalive::MAX_RETRIES + 1)),
            F::KeepaliveRetries,
            too_large(Limit::Count(Keepalive::MAX_RETRIES.into())),
            "128",
        ),
        refused(
            "retries 1000",
            move || keepalive(ka().retries(1000)),
            F::KeepaliveRetries,
            too_large(Limit::Count(Keepalive::MAX_RETRIES.into())),
            "1000",
        ),
        refused(
            "send_buffer_size 0",
            || Connector::builder().send_buffer_size(0),
            F::SendBufferSize,
            ZERO,
            "0",
        ),
        refused(
            "send_buffer_size 2^31",
            || Connector::builder().send_buffer_size(Builder::MAX_BUFFER_SIZE + 1),
            F::SendBufferSize,
            too_large(Limit::Count(Builder::MAX_BUFFER_SIZE as u64)),
            "2147483648",
        ),
        refused(
            "recv_buffer_size 0",
            || Connector::builder().recv_buffer_size(0),
            F::RecvBufferSize,
            ZERO,
            "0",
        ),
        refused(
            "recv_buffer_size 2^31",
            || Connector::builder().recv_buffer_size(1 << 31),
            F::RecvBufferSize,
            too_large(Limit::Count(Builder::MAX_BUFFER_SIZE as u64)),
            "2147483648",
        ),
        // Dialing.
        refused(
            "connect_timeout 0",
            || Connector::builder().connect_timeout(Duration::ZERO),
            F::ConnectTimeout,
            ZERO,
            "0ns",
        ),
        refused(
            "happy_eyeballs_delay 5ms",
            || Connector::builder().happy_eyeballs_delay(ms(5)),
            F::HappyEyeballsDelay,
            Why::Is(ConfigErrorReason::TooSmall {
                min: Limit::Duration(Builder::MIN_HAPPY_EYEBALLS_DELAY),
            }),
            "5ms",
        ),
        refused(
            "happy_eyeballs_delay 0",
            || Connector::builder().happy_eyeballs_delay(Duration::ZERO),
            F::HappyEyeballsDelay,
            Why::Is(ConfigErrorReason::TooSmall {
                min: Limit::Duration(Builder::MIN_HAPPY_EYEBALLS_DELAY),
            }),
            "0ns",
        ),
        refused(
            "happy_eyeballs_delay 3s",
            || Connector::builder().happy_eyeballs_delay(secs(3)),
            F::HappyEyeballsDelay,
            too_large(Limit::Duration(Builder::MAX_HAPPY_EYEBALLS_DELAY)),
            "3s",
        ),
        refused(
            "dns_cache_ttl 0",
            || Connector::builder().dns_cache_ttl(Some(Duration::ZERO)),
            F::DnsCacheTtl,
            ZERO,
            "0ns",
        ),
        refused(
            "dns_cache_capacity 0",
            || Connector::builder().dns_cache_capacity(0),
            F::DnsCacheCapacity,
            ZERO,
            "0",
        ),
        refused(
            "dns_cache_capacity 65537",
            || Connector::builder().dns_cache_capacity(Builder::MAX_DNS_CACHE_CAPACITY + 1),
            F::DnsCacheCapacity,
            too_large(Limit::Count(Builder::MAX_DNS_CACHE_CAPACITY as u64)),
            "65537",
        ),
        // TLS: the handshake, the roots, and a tls_config that contradicts other settings.
        refused(
            "handshake_timeout 0",
            || Connector::builder().handshake_timeout(Duration::ZERO),
            F::HandshakeTimeout,
            ZERO,
            "0ns",
        ),
        refused(
            "PEM without a certificate",
            || Connector::builder().add_root_certificates_pem(b"not a pem at all"),
            F::RootCertificates,
            Why::BadCertificate,
            "<16 bytes of PEM>",
        ),
        refused(
            "PEM with a broken certificate",
            || Connector::builder().add_root_certificates_pem(BROKEN_PEM),
            F::RootCertificates,
            Why::BadCertificate,
            "<59 bytes of PEM>",
        ),
        refused(
            "added-roots-only without a root",
            || Connector::builder().trust(Trust::AddedRootsOnly),
            F::Trust,
            conflict(Conflict::NothingTrusted),
            "added-roots-only",
        ),
        refused(
            "tls_config with trust(WebpkiRoots)",
            || with_alpn(&[]).trust(Trust::WebpkiRoots),
            F::TlsConfig,
            conflict(Conflict::TrustWithTlsConfig),
            "\"custom rustls::ClientConfig\"",
        ),
        refused(
            "tls_config with trust(Platform)",
            || with_alpn(&[]).trust(Trust::Platform),
            F::TlsConfig,
            conflict(Conflict::TrustWithTlsConfig),
            "\"custom rustls::ClientConfig\"",
        ),
        refused(
            "tls_config with trust(AddedRootsOnly)",
            || with_alpn(&[]).trust(Trust::AddedRootsOnly),
            F::TlsConfig,
            conflict(Conflict::TrustWithTlsConfig),
            "\"custom rustls::ClientConfig\"",
        ),
        refused(
            "tls_config with a root added",
            || {
                let ca = keepalive_testserver::TestCa::new();
                with_alpn(&[]).add_root_certificates_pem(ca.cert_pem().as_bytes())
            },
            F::TlsConfig,
            conflict(Conflict::TrustWithTlsConfig),
            "\"custom rustls::ClientConfig\"",
        ),
        refused(
            "http1_only, ALPN [h2]",
            || with_alpn(&[b"h2"]).http1_only(),
            F::TlsConfig,
            conflict(Conflict::Http1OnlyButAlpnOffersH2),
            "\"alpn_protocols\"",
        ),
        refused(
            "http1_only, ALPN [h2, http/1.1]",
            || with_alpn(&[b"h2", b"http/1.1"]).http1_only(),
            F::TlsConfig,
            conflict(Conflict::Http1OnlyButAlpnOffersH2),
            "\"alpn_protocols\"",
        ),
        refused(
            "http2_only, ALPN [http/1.1]",
            || with_alpn(&[b"http/1.1"]).http2_only(),
            F::TlsConfig,
            conflict(Conflict::Http2OnlyButAlpnLacksH2),
            "\"alpn_protocols\"",
        ),
        // http2_only() offers only h2, so a list that also offers HTTP/1.x contradicts it (it
        // passed build before, issue 19), in either order.
        refused(
            "http2_only, ALPN [h2, http/1.1]",
            || with_alpn(&[b"h2", b"http/1.1"]).http2_only(),
            F::TlsConfig,
            conflict(Conflict::Http2OnlyButAlpnOffersHttp1),
            "\"alpn_protocols\"",
        ),
        refused(
            "http2_only, ALPN [http/1.1, h2]",
            || with_alpn(&[b"http/1.1", b"h2"]).http2_only(),
            F::TlsConfig,
            conflict(Conflict::Http2OnlyButAlpnOffersHttp1),
            "\"alpn_protocols\"",
        ),
        refused(
            "http2_only, ALPN [h2, http/1.0]",
            || with_alpn(&[b"h2", b"http/1.0"]).http2_only(),
            F::TlsConfig,
            conflict(Conflict::Http2OnlyButAlpnOffersHttp1),
            "\"alpn_protocols\"",
        ),
        // Proxies: one row for the URL parser's cases (see the module docs).
        refused(
            "proxy ftp://",
            || Connector::builder().proxy(Proxy::all("ftp://proxy.test")),
            F::Proxy,
            Why::Is(ConfigErrorReason::InvalidProxy(
                InvalidProxy::UnsupportedScheme("ftp".into()),
            )),
            "\"ftp://proxy.test\"",
        ),
        // The Client's settings.
        refused(
            "pool_idle_timeout 0",
            || Connector::builder().pool_idle_timeout(Duration::ZERO),
            F::PoolIdleTimeout,
            ZERO,
            "0ns",
        ),
        refused(
            "read_timeout 0",
            || Connector::builder().read_timeout(Duration::ZERO),
            F::ReadTimeout,
            ZERO,
            "0ns",
        ),
        refused(
            "max_resends 11",
            || Connector::builder().max_resends(Builder::MAX_RESENDS + 1),
            F::MaxResends,
            too_large(Limit::Count(Builder::MAX_RESENDS.into())),
            "11",
        ),
        refused(
            "max_resends u32::MAX",
            || Connector::builder().max_resends(u32::MAX),
            F::MaxResends,
            too_large(Limit::Count(Builder::MAX_RESENDS.into())),
            "4294967295",
        ),
    ];
    // TCP_USER_TIMEOUT exists on Linux, Android and Fuchsia only (its setters too): a C int of
    // whole milliseconds.
    #[cfg(tcp_user_timeout)]
    for (setter, field) in [
        (
            (|b: Builder, d: Duration| b.tcp_user_timeout(d)) as fn(Builder, Duration) -> Builder,
            F::TcpUserTimeout,
        ),
        (|b, d| b.silent_drop_timeout(d), F::SilentDropTimeout),
    ] {
        let with = move |d: Duration| move || setter(Connector::builder(), d);
        let max = Builder::MAX_TCP_USER_TIMEOUT;
        rows.extend([
            refused("0", with(Duration::ZERO), field, ZERO, "0ns"),
            refused(
                "1.5ms",
                with(Duration::from_micros(1500)),
                field,
                Why::Is(ConfigErrorReason::NotWholeMilliseconds),
                "1.5ms",
            ),
            refused(
                "i32::MAX ms + 1 ms",
                with(max + ms(1)),
                field,
                too_large(Limit::Duration(max)),
                "2147483.648s",
            ),
            refused(
                "2^32 ms",
                with(ms(1 << 32)),
                field,
                too_large(Limit::Duration(max)),
                "4294967.296s",
            ),
        ]);
    }
    rows
}

/// Every row of [`refused_rows`]: collected, so one bad row does not hide the others, and a
/// panic is a failing row, not the end of the test.
#[test]
fn build_refuses_every_bad_value_naming_field_reason_and_value() {
    let mut failures = Vec::new();
    let rows = refused_rows();
    for row in &rows {
        let what = row.what;
        let result = catch_unwind(AssertUnwindSafe(|| (row.builder)().build()));
        let err: ConfigError = match result {
            Err(_) => {
                failures.push(format!("{what}: PANICKED"));
                continue;
            }
            Ok(Ok(_)) => {
                failures.push(format!("{what}: build() accepted it"));
                continue;
            }
            Ok(Err(err)) => err,
        };
        if err.field() != row.field || !row.why.matches(err.reason()) || err.value() != row.value {
            failures.push(format!(
                "{what}: want {:?} {:?} value {:?}, got {:?} {:?} value {:?} ({err})",
                row.field,
                row.why,
                row.value,
                err.field(),
                err.reason(),
                err.value()
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    // Keepalive idle/interval/retries, buffers, connect, handshake, happy eyeballs, DNS cache
    // TTL and capacity, roots, trust, tls_config, proxy, pool idle, read timeout, re-sends
    // (and TCP_USER_TIMEOUT, silent drop where they exist).
    let fields: std::collections::HashSet<ConfigField> = rows.iter().map(|r| r.field).collect();
    let expected = if cfg!(tcp_user_timeout) { 19 } else { 17 };
    assert_eq!(fields.len(), expected, "{fields:?}");
}

/// The OS's limits, as documented: the constants are the spec the rows above build on.
#[test]
fn the_public_limits_are_the_documented_ones() {
    assert_eq!(Keepalive::MAX_IDLE, secs(32_767));
    assert_eq!(Keepalive::MAX_INTERVAL, secs(32_767));
    assert_eq!(Keepalive::MAX_RETRIES, 127);
    assert_eq!(Builder::MAX_BUFFER_SIZE, i32::MAX as usize);
    #[cfg(tcp_user_timeout)]
    assert_eq!(Builder::MAX_TCP_USER_TIMEOUT, ms(i32::MAX as u64));
    assert_eq!(Builder::MIN_HAPPY_EYEBALLS_DELAY, ms(10));
    assert_eq!(Builder::MAX_HAPPY_EYEBALLS_DELAY, secs(2));
    assert_eq!(Builder::MAX_DNS_CACHE_CAPACITY, 65_536);
    assert_eq!(Builder::MAX_RESENDS, 10);
}

/// The values at the limits, and settings that look wrong but are not looked at.
#[test]
fn build_accepts_the_values_at_the_limits() {
    type Row = (&'static str, Box<dyn Fn() -> Builder>);
    fn row(what: &'static str, builder: impl Fn() -> Builder + 'static) -> Row {
        (what, Box::new(builder))
    }
    let ka = Keepalive::new;
    let b = Connector::builder;
    #[cfg_attr(not(tcp_user_timeout), allow(unused_mut))]
    let mut rows = vec![
        row("idle 1s", move || keepalive(ka().idle(secs(1)))),
        row("idle max", move || {
            keepalive(ka().idle(Keepalive::MAX_IDLE))
        }),
        row("interval 1s", move || keepalive(ka().interval(secs(1)))),
        row("interval max", move || {
            keepalive(ka().interval(Keepalive::MAX_INTERVAL))
        }),
        row("retries 1", move || keepalive(ka().retries(1))),
        row("retries max", move || {
            keepalive(ka().retries(Keepalive::MAX_RETRIES))
        }),
        // Off means off: values inside a disabled keepalive are neither used nor validated.
        row("keepalive off with bad values", || {
            keepalive(Keepalive::off().idle(ms(1)).interval(ms(1)).retries(0))
        }),
        row("buffers 1", move || {
            b().send_buffer_size(1).recv_buffer_size(1)
        }),
        row("buffers max", move || {
            b().send_buffer_size(Builder::MAX_BUFFER_SIZE)
                .recv_buffer_size(Builder::MAX_BUFFER_SIZE)
        }),
        row("timeouts 1ns", move || {
            b().connect_timeout(Duration::from_nanos(1))
                .handshake_timeout(Duration::from_nanos(1))
        }),
        row("timeouts Duration::MAX (none)", move || {
            b().connect_timeout(Duration::MAX)
                .handshake_timeout(Duration::MAX)
        }),
        row("happy_eyeballs_delay min", move || {
            b().happy_eyeballs_delay(Builder::MIN_HAPPY_EYEBALLS_DELAY)
        }),
        row("happy_eyeballs_delay max", move || {
            b().happy_eyeballs_delay(Builder::MAX_HAPPY_EYEBALLS_DELAY)
        }),
        row("dns cache off", move || b().dns_cache_ttl(None)),
        row("dns cache for good", move || {
            b().dns_cache_ttl(Some(Duration::MAX))
        }),
        row("dns_cache_capacity 1", move || b().dns_cache_capacity(1)),
        row("dns_cache_capacity max", move || {
            b().dns_cache_capacity(Builder::MAX_DNS_CACHE_CAPACITY)
        }),
        row("tls_config, ALPN [h2], http2_only", || {
            with_alpn(&[b"h2"]).http2_only()
        }),
        row("tls_config, ALPN [http/1.1], http1_only", || {
            with_alpn(&[b"http/1.1"]).http1_only()
        }),
        row("tls_config, ALPN [h2, http/1.1]", || {
            with_alpn(&[b"h2", b"http/1.1"])
        }),
        row("tls_config, no ALPN, http2_only", || {
            with_alpn(&[]).http2_only()
        }),
        row("pool_idle_timeout none", move || {
            b().pool_idle_timeout(None)
        }),
        row("pool_idle_timeout 1ns", move || {
            b().pool_idle_timeout(Duration::from_nanos(1))
        }),
        row("read_timeout none", move || b().read_timeout(None)),
        row("read_timeout 1ns", move || {
            b().read_timeout(Duration::from_nanos(1))
        }),
        row("max_resends 0 (off)", move || b().max_resends(0)),
        row("max_resends max", move || {
            b().max_resends(Builder::MAX_RESENDS)
        }),
        row("resend_buffer_size 0", move || b().resend_buffer_size(0)),
        row("resend_buffer_size usize::MAX", move || {
            b().resend_buffer_size(usize::MAX)
        }),
    ];
    #[cfg(tcp_user_timeout)]
    rows.extend([
        row("tcp_user_timeout 1ms", move || b().tcp_user_timeout(ms(1))),
        row("tcp_user_timeout max", move || {
            b().tcp_user_timeout(Builder::MAX_TCP_USER_TIMEOUT)
        }),
        row("tcp_user_timeout none", move || b().tcp_user_timeout(None)),
        row("silent_drop_timeout 1ms", move || {
            b().silent_drop_timeout(ms(1))
        }),
        row("silent_drop_timeout max", move || {
            b().silent_drop_timeout(Builder::MAX_TCP_USER_TIMEOUT)
        }),
        row("silent_drop_timeout none", move || {
            b().silent_drop_timeout(None)
        }),
    ]);
    let failures: Vec<String> = rows
        .iter()
        .filter_map(
            |(what, builder)| match catch_unwind(AssertUnwindSafe(|| builder().build())) {
                Ok(Ok(_)) => None,
                Ok(Err(err)) => Some(format!("{what}: refused: {err}")),
                Err(_) => Some(format!("{what}: PANICKED")),
            },
        )
        .collect();
    assert!(failures.is_empty(), "{failures:#?}");
}

/// A `tls_config` alone is accepted, and brings its own verifier: the connector reports no
/// trust of its own, neither requested nor in force.
#[test]
fn a_tls_config_alone_has_no_trust_of_the_connectors() {
    let custom = with_alpn(&[]).build().unwrap();
    assert_eq!(custom.trust().in_force(), None);
    assert_eq!(custom.trust().requested(), None);
}

/// The human-readable form, for people: the field, the value, why, and the limit.
#[test]
fn a_refused_value_reads_as_one_sentence() {
    let text = |builder: Builder| builder.build().unwrap_err().to_string();
    assert_eq!(
        text(keepalive(Keepalive::new().idle(ms(500)))),
        "invalid keepalive.idle = 500ms: must be at least 1s (the kernel takes whole seconds; \
         it would round this to 0)"
    );
    assert_eq!(
        text(Connector::builder().happy_eyeballs_delay(ms(5))),
        "invalid happy_eyeballs_delay = 5ms: must be at least 10ms"
    );
    assert_eq!(
        text(keepalive(Keepalive::new().retries(128))),
        "invalid keepalive.retries = 128: must be at most 127"
    );
}

/// The crypto provider is the process's ([`rustls::crypto::CryptoProvider::install_default`]),
/// so this runs in a child process: one installed without a cipher suite cannot make a client
/// configuration, and `build()` says so instead of panicking.
#[test]
fn a_process_crypto_provider_without_cipher_suites_is_refused() {
    keepalive_testserver::child_env::run(
        "config_validation::a_process_crypto_provider_without_cipher_suites_is_refused",
        "no-suites",
        &[],
        &[],
        || {
            let provider = rustls::crypto::CryptoProvider {
                cipher_suites: Vec::new(),
                ..rustls::crypto::aws_lc_rs::default_provider()
            };
            provider
                .install_default()
                .expect("no provider installed yet in this process");
            let err = Connector::builder()
                .trust(Trust::WebpkiRoots)
                .build()
                .unwrap_err();
            assert_eq!(err.field(), ConfigField::CryptoProvider, "{err}");
            assert!(
                matches!(err.reason(), ConfigErrorReason::Tls(_)),
                "{:?}",
                err.reason()
            );
        },
    );
}
