//! `uri_and_config`: every parser of user input in the library, with their invariants, and
//! `build()` against a model of the documented rules, which reads the library's own limits
//! (`Keepalive::MAX_IDLE`, `Builder::MAX_BUFFER_SIZE`, …) rather than copies of them.

use std::io;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use http::Uri;
use keepalive_connector::{
    Builder, ConfigError, ConfigField, Connector, Keepalive, Origin, Phase, ResolveEntry, Stage,
    StaticResolver, Trust,
};

use super::config_input::{config_flags, set_flags, ConfigInput};
use super::peer::{with_runtime, Driver, PeerIo, Script};
use super::tls_client_handshake::{fake_client_config, fake_connectors};
use super::CA_PEM;

/// `uri_and_config`: the input is [`ConfigInput::LEN`] bytes of settings for the builder, then
/// up to four text fields separated by `\n`: a URI, a `--resolve` entry, a stage name, PEM data
/// (see [`config_input`](super::config_input)).
pub fn uri_and_config(data: &[u8]) {
    let (input, [uri, resolve, stage, pem]) = ConfigInput::decode(data);
    check_uri(uri);
    check_resolve(&String::from_utf8_lossy(resolve));
    check_stage(&String::from_utf8_lossy(stage));
    check_builder(&input, pem);
}

fn check_uri(bytes: &[u8]) {
    let Ok(uri) = Uri::try_from(bytes) else {
        return;
    };
    let origin = match Origin::from_uri(&uri) {
        Ok(origin) => origin,
        Err(err) => {
            assert!(!err.to_string().is_empty());
            return;
        }
    };
    let host = origin.host();
    assert!(!host.is_empty(), "empty host from {uri}");
    assert_ne!(origin.port(), 0, "port 0 from {uri}");
    // IP literals are unbracketed, and names hold only host-name characters
    // (fuzz/regressions/uri_and_config/brackets-in-name: `https://~[zz]/` was once accepted).
    assert!(
        !host.contains(['[', ']']),
        "brackets left in host {host:?} from {uri}"
    );
    if origin.ip().is_none() {
        assert!(
            host.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_')),
            "a character no host name has in {host:?} from {uri}"
        );
    }
    let scheme = uri.scheme_str().unwrap_or_default();
    assert_eq!(origin.is_tls(), scheme.eq_ignore_ascii_case("https"));
    match uri.port_u16() {
        Some(port) => assert_eq!(origin.port(), port, "port of {uri}"),
        None => assert_eq!(origin.port(), if origin.is_tls() { 443 } else { 80 }),
    }
    match origin.ip() {
        Some(ip) => assert_eq!(host.parse::<std::net::IpAddr>().ok(), Some(ip)),
        None => {
            assert_eq!(host, host.to_ascii_lowercase(), "names are lower-cased");
            assert!(host.parse::<std::net::Ipv4Addr>().is_err());
        }
    }
    // The TLS step's own check of the host (a DNS name rustls accepts, or an IP address), run
    // against a peer that closes at once: the error is about the name (Uri) or the peer (Tls).
    let connector = &fake_connectors()[0];
    let (io, alive) = PeerIo::new(&Script::parse(&[]));
    let mut driver = Driver::new("uri_and_config", 1_000);
    let result = with_runtime(|| driver.run(connector.tls_handshake(&origin, io)));
    let err = result.expect_err("a peer that sends nothing cannot complete a handshake");
    match err.phase() {
        Phase::Tls => {}
        Phase::Uri => assert!(
            origin.ip().is_none(),
            "an IP origin was refused as a name: {err}"
        ),
        other => panic!("unexpected phase {other:?}: {err}"),
    }
    assert!(!alive.is_alive(), "the stream leaked");
}

fn check_resolve(s: &str) {
    let entry = match s.parse::<ResolveEntry>() {
        Ok(entry) => entry,
        Err(err) => {
            assert!(!err.to_string().is_empty());
            let _ = err.kind();
            return;
        }
    };
    assert!(!entry.host().is_empty());
    assert_ne!(entry.port(), 0);
    assert!(!entry.addrs().is_empty());
    assert!(
        s.starts_with(&format!("{}:", entry.host())),
        "host {:?} is not the start of {s:?}",
        entry.host()
    );
    // Round trip through the canonical form.
    let addrs: Vec<String> = entry
        .addrs()
        .iter()
        .map(|ip| match ip {
            std::net::IpAddr::V4(v4) => v4.to_string(),
            std::net::IpAddr::V6(v6) => format!("[{v6}]"),
        })
        .collect();
    let canonical = format!("{}:{}:{}", entry.host(), entry.port(), addrs.join(","));
    assert_eq!(
        canonical.parse::<ResolveEntry>().as_ref(),
        Ok(&entry),
        "canonical form {canonical:?} of {s:?}"
    );
    // The static resolver answers exactly this entry, whatever the case of the name.
    use keepalive_connector::Resolve;
    let resolver = StaticResolver::new().entry(entry.clone()).no_fallback();
    let resolve = |host: &str, port: u16| {
        let mut fut = resolver.resolve(host, port);
        let mut cx = Context::from_waker(Waker::noop());
        match fut.as_mut().poll(&mut cx) {
            Poll::Ready(out) => out,
            Poll::Pending => panic!("the static resolver is pending"),
        }
    };
    let expected: Vec<std::net::SocketAddr> = entry
        .addrs()
        .iter()
        .map(|ip| std::net::SocketAddr::new(*ip, entry.port()))
        .collect();
    assert_eq!(
        resolve(entry.host(), entry.port()).ok(),
        Some(expected.clone())
    );
    let upper = entry.host().to_ascii_uppercase();
    assert_eq!(resolve(&upper, entry.port()).ok(), Some(expected));
    let other_port = entry.port().wrapping_add(1).max(1);
    if other_port != entry.port() {
        let err = resolve(entry.host(), other_port).expect_err("not in the map");
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }
}

fn check_stage(s: &str) {
    match s.parse::<Stage>() {
        Ok(stage) => {
            assert_eq!(
                stage.as_str(),
                s.trim().to_ascii_lowercase().replace('_', "-")
            );
            assert_eq!(stage.to_string(), stage.as_str());
            assert_eq!(stage.as_str().parse::<Stage>().ok(), Some(stage));
            assert!(Stage::ALL.contains(&stage));
        }
        Err(err) => assert!(err.to_string().contains("expected")),
    }
}

/// Whether this OS has `TCP_USER_TIMEOUT`, and with it the builder's `tcp_user_timeout` and
/// `silent_drop_timeout` (the library's `tcp_user_timeout` cfg alias).
const HAS_USER_TIMEOUT: bool = cfg!(any(
    target_os = "linux",
    target_os = "android",
    target_os = "fuchsia"
));

#[cfg(any(target_os = "linux", target_os = "android", target_os = "fuchsia"))]
fn set_user_timeouts(mut builder: Builder, input: &ConfigInput) -> Builder {
    if input.flags & config_flags::TCP_USER_TIMEOUT != 0 {
        builder = builder.tcp_user_timeout(input.tcp_user_timeout);
    }
    if input.set & set_flags::SILENT_DROP_TIMEOUT != 0 {
        builder = builder.silent_drop_timeout(input.silent_drop_timeout);
    }
    builder
}

#[cfg(not(any(target_os = "linux", target_os = "android", target_os = "fuchsia")))]
fn set_user_timeouts(builder: Builder, _input: &ConfigInput) -> Builder {
    builder
}

/// The largest `TCP_USER_TIMEOUT` the builder takes, where there is one.
#[cfg(any(target_os = "linux", target_os = "android", target_os = "fuchsia"))]
const MAX_USER_TIMEOUT: Duration = Builder::MAX_TCP_USER_TIMEOUT;
#[cfg(not(any(target_os = "linux", target_os = "android", target_os = "fuchsia")))]
const MAX_USER_TIMEOUT: Duration = Duration::ZERO;

/// The ALPN list of the input's own `tls_config` (bits 1-2 of its byte).
fn own_alpn(tls_config: u8) -> &'static [&'static [u8]] {
    match (tls_config >> 1) & 3 {
        0 => &[],
        1 => &[b"h2"],
        2 => &[b"http/1.1"],
        _ => &[b"h2", b"http/1.1"],
    }
}

/// The builder the input describes.
fn builder_for(input: &ConfigInput, pem: &[u8]) -> Builder {
    let flags = input.flags;
    let set = input.set;
    let keepalive = if flags & config_flags::KEEPALIVE_OFF != 0 {
        Keepalive::off()
    } else {
        Keepalive::new()
            .idle(input.idle)
            .interval(input.interval)
            .retries(input.retries)
    };
    let mut builder = Connector::builder()
        .keepalive(keepalive)
        .connect_timeout(input.connect_timeout)
        .handshake_timeout(input.handshake_timeout);
    if flags & config_flags::HTTP1_ONLY != 0 {
        builder = builder.http1_only();
    }
    if flags & config_flags::HTTP2_ONLY != 0 {
        builder = builder.http2_only();
    }
    if flags & config_flags::ADDED_ROOTS_ONLY != 0 {
        builder = builder.trust(Trust::AddedRootsOnly);
    }
    if flags & config_flags::ADD_CA != 0 {
        builder = builder.add_root_certificates_pem(CA_PEM);
    }
    if flags & config_flags::ADD_PEM_FIELD != 0 {
        builder = builder.add_root_certificates_pem(pem);
    }
    builder = set_user_timeouts(builder, input);
    if flags & config_flags::BUFFERS != 0 {
        let to_usize = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
        builder = builder
            .send_buffer_size(to_usize(input.send_buffer_size))
            .recv_buffer_size(to_usize(input.recv_buffer_size));
    }
    if input.tls_config & 1 == 1 {
        let mut config = (*fake_client_config()).clone();
        config.alpn_protocols = own_alpn(input.tls_config)
            .iter()
            .map(|p| p.to_vec())
            .collect();
        builder = builder.tls_config(Arc::new(config));
    }
    if set & set_flags::HAPPY_EYEBALLS_DELAY != 0 {
        builder = builder.happy_eyeballs_delay(input.happy_eyeballs_delay);
    }
    if set & set_flags::DNS_CACHE_TTL != 0 {
        builder = builder.dns_cache_ttl(Some(input.dns_cache_ttl));
    }
    if set & set_flags::DNS_CACHE_OFF != 0 {
        builder = builder.dns_cache_ttl(None);
    }
    if set & set_flags::DNS_CACHE_CAPACITY != 0 {
        let capacity = usize::try_from(input.dns_cache_capacity).unwrap_or(usize::MAX);
        builder = builder.dns_cache_capacity(capacity);
    }
    if set & set_flags::POOL_IDLE_TIMEOUT != 0 {
        builder = builder.pool_idle_timeout(input.pool_idle_timeout);
    }
    if set & set_flags::READ_TIMEOUT != 0 {
        builder = builder.read_timeout(input.read_timeout);
    }
    if set & set_flags::MAX_RESENDS != 0 {
        builder = builder.max_resends(input.max_resends);
    }
    builder
}

/// The fields a model of the documented rules refuses, each for its own reason, whatever the
/// order `build()` checks them in (not part of its contract).
fn refused_fields(input: &ConfigInput) -> Vec<ConfigField> {
    let flags = input.flags;
    let set = input.set;
    let mut refused = Vec::new();
    let mut refuse = |ok: bool, field: ConfigField| {
        if !ok {
            refused.push(field);
        }
    };
    // The kernel takes keepalive times in whole seconds, from 1 s.
    let whole_secs = |d: Duration, max: Duration| {
        d >= Duration::from_secs(1) && d.subsec_nanos() == 0 && d <= max
    };
    // TCP_USER_TIMEOUT: whole milliseconds, not zero.
    let whole_millis =
        |d: Duration| !d.is_zero() && d.subsec_nanos() % 1_000_000 == 0 && d <= MAX_USER_TIMEOUT;
    if flags & config_flags::KEEPALIVE_OFF == 0 {
        refuse(
            whole_secs(input.idle, Keepalive::MAX_IDLE),
            ConfigField::KeepaliveIdle,
        );
        refuse(
            whole_secs(input.interval, Keepalive::MAX_INTERVAL),
            ConfigField::KeepaliveInterval,
        );
        refuse(
            (1..=Keepalive::MAX_RETRIES).contains(&input.retries),
            ConfigField::KeepaliveRetries,
        );
    }
    if HAS_USER_TIMEOUT && flags & config_flags::TCP_USER_TIMEOUT != 0 {
        refuse(
            whole_millis(input.tcp_user_timeout),
            ConfigField::TcpUserTimeout,
        );
    }
    if flags & config_flags::BUFFERS != 0 {
        let ok = |n: u64| n != 0 && n <= Builder::MAX_BUFFER_SIZE as u64;
        refuse(ok(input.send_buffer_size), ConfigField::SendBufferSize);
        refuse(ok(input.recv_buffer_size), ConfigField::RecvBufferSize);
    }
    refuse(
        !input.connect_timeout.is_zero(),
        ConfigField::ConnectTimeout,
    );
    refuse(
        !input.handshake_timeout.is_zero(),
        ConfigField::HandshakeTimeout,
    );
    if set & set_flags::HAPPY_EYEBALLS_DELAY != 0 {
        refuse(
            (Builder::MIN_HAPPY_EYEBALLS_DELAY..=Builder::MAX_HAPPY_EYEBALLS_DELAY)
                .contains(&input.happy_eyeballs_delay),
            ConfigField::HappyEyeballsDelay,
        );
    }
    // `dns_cache_ttl(None)` comes after `dns_cache_ttl(Some(..))`: the last one wins.
    if set & set_flags::DNS_CACHE_TTL != 0 && set & set_flags::DNS_CACHE_OFF == 0 {
        refuse(!input.dns_cache_ttl.is_zero(), ConfigField::DnsCacheTtl);
    }
    if set & set_flags::DNS_CACHE_CAPACITY != 0 {
        let capacity = usize::try_from(input.dns_cache_capacity).unwrap_or(usize::MAX);
        refuse(
            (1..=Builder::MAX_DNS_CACHE_CAPACITY).contains(&capacity),
            ConfigField::DnsCacheCapacity,
        );
    }
    let any_pem = flags & (config_flags::ADD_CA | config_flags::ADD_PEM_FIELD) != 0;
    let trust_set = flags & config_flags::ADDED_ROOTS_ONLY != 0;
    if input.tls_config & 1 == 1 {
        // Roots cannot be changed, and a non-empty ALPN list must agree with http1/http2_only
        // (the last of the two set wins).
        let alpn = own_alpn(input.tls_config);
        let offers_h2 = alpn.contains(&&b"h2"[..]);
        let offers_http1 = alpn.iter().any(|p| *p == b"http/1.1" || *p == b"http/1.0");
        let alpn_ok = if alpn.is_empty() {
            true
        } else if flags & config_flags::HTTP2_ONLY != 0 {
            // Only h2: a list that lets the server choose HTTP/1.x contradicts it.
            offers_h2 && !offers_http1
        } else if flags & config_flags::HTTP1_ONLY != 0 {
            !offers_h2
        } else {
            true
        };
        refuse(!any_pem && !trust_set && alpn_ok, ConfigField::TlsConfig);
    } else if trust_set && !any_pem {
        refuse(false, ConfigField::Trust);
    }
    if set & set_flags::POOL_IDLE_TIMEOUT != 0 {
        refuse(
            !input.pool_idle_timeout.is_zero(),
            ConfigField::PoolIdleTimeout,
        );
    }
    if set & set_flags::READ_TIMEOUT != 0 {
        refuse(!input.read_timeout.is_zero(), ConfigField::ReadTimeout);
    }
    if set & set_flags::MAX_RESENDS != 0 {
        refuse(
            input.max_resends <= Builder::MAX_RESENDS,
            ConfigField::MaxResends,
        );
    }
    if HAS_USER_TIMEOUT && set & set_flags::SILENT_DROP_TIMEOUT != 0 {
        refuse(
            whole_millis(input.silent_drop_timeout),
            ConfigField::SilentDropTimeout,
        );
    }
    refused
}

/// `build()` accepts exactly what the model accepts, and refuses naming a field the model
/// refuses. Whether the PEM field holds certificates is for the library to say: with it added,
/// `RootCertificates` is also an answer.
fn check_builder(input: &ConfigInput, pem: &[u8]) {
    let mut refused = refused_fields(input);
    let pem_may_fail = input.tls_config & 1 == 0 && input.flags & config_flags::ADD_PEM_FIELD != 0;
    let must_fail = !refused.is_empty();
    if pem_may_fail {
        refused.push(ConfigField::RootCertificates);
    }
    let result: Result<Connector, ConfigError> = builder_for(input, pem).build();
    match result {
        Ok(connector) => {
            assert!(!must_fail, "build() accepted a bad {refused:?}");
            let alpn = &connector.tls_config().alpn_protocols;
            assert!(
                !alpn.is_empty(),
                "a built connector offers some ALPN protocol"
            );
        }
        Err(err) => {
            assert!(
                refused.contains(&err.field()),
                "build() refused {} (want one of {refused:?}): {err}",
                err.field()
            );
            assert!(err.to_string().contains(err.field().as_str()), "{err}");
        }
    }
}
