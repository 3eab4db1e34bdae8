//! Unit tests of the portable half: telling a dead connection from a bad option, the build-time
//! checks for every platform set (not only the one running the tests), and where a read-back
//! value comes from.

use std::io;
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use socket2::SockRef;

use super::*;
// Re-exported by the module only where the OS has TCP_USER_TIMEOUT (where it can be chosen).
#[cfg(not(tcp_user_timeout))]
use super::policy::UserTimeout;
use crate::error::{ConfigErrorReason, ConfigField};
use Availability::{No, Since, Yes};

/// What macOS answers to any setsockopt on a socket the peer has reset.
fn macos_einval() -> SocketOptionError {
    SocketOptionError::new(SocketOption::Keepalive, "SO_KEEPALIVE")(io::Error::from(
        io::ErrorKind::InvalidInput,
    ))
}

/// A connected loopback pair whose server side is closed with `SO_LINGER` 0, so the client
/// receives a RST; returns once the client's kernel has processed it (it stops being connected;
/// `getpeername` does not consume the pending error, a read would).
fn reset_client() -> TcpStream {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    SockRef::from(&server)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(server);
    let deadline = Instant::now() + Duration::from_secs(10);
    while client.peer_addr().is_ok() {
        assert!(Instant::now() < deadline, "the RST never arrived");
        std::thread::sleep(Duration::from_millis(5));
    }
    client
}

#[test]
fn an_option_failing_on_a_reset_socket_is_the_reset() {
    let client = reset_client();
    let sock = SockRef::from(&client);
    match StageError::diagnose(Stage::AfterConnect, &sock, macos_einval()) {
        StageError::Lost(lost) => {
            // Linux keeps the reset as the socket's pending error. Wine 8 does not report it
            // through SO_ERROR, which leaves the second check: the socket is no longer connected.
            let kind = lost.cause.kind();
            if cfg!(target_os = "linux") {
                assert_eq!(kind, io::ErrorKind::ConnectionReset, "{lost}");
            } else {
                assert!(
                    matches!(
                        kind,
                        io::ErrorKind::ConnectionReset | io::ErrorKind::NotConnected
                    ),
                    "{lost}"
                );
            }
            let text = lost.to_string();
            assert!(text.contains("after-connect"), "{text}");
            assert!(text.contains("SO_KEEPALIVE"), "{text}");
        }
        StageError::Option(e) => panic!("reported as a bad option: {e}"),
    }
    // The pending error was consumed by that check; a second failure still sees a socket that
    // is no longer connected (as after a read that returned the reset).
    match StageError::diagnose(Stage::AfterHandshake, &sock, macos_einval()) {
        StageError::Lost(lost) => {
            assert_eq!(lost.cause.kind(), io::ErrorKind::NotConnected, "{lost}")
        }
        StageError::Option(e) => panic!("reported as a bad option: {e}"),
    }
}

#[test]
fn an_option_failing_on_a_live_socket_is_the_option() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let _server = listener.accept().unwrap();
    for stage in [Stage::AfterConnect, Stage::AfterHandshake] {
        match StageError::diagnose(stage, &SockRef::from(&client), macos_einval()) {
            StageError::Option(e) => {
                assert_eq!(e.option(), SocketOption::Keepalive);
                assert_eq!(e.to_string(), "SO_KEEPALIVE: invalid input parameter");
            }
            StageError::Lost(lost) => panic!("a live connection reported as lost: {lost}"),
        }
    }
}

#[test]
fn before_connect_there_is_no_connection_to_lose() {
    // An unconnected socket is "not connected", which must not be mistaken for a lost peer.
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    assert!(matches!(
        StageError::diagnose(Stage::BeforeConnect, &SockRef::from(&sock), macos_einval()),
        StageError::Option(_)
    ));
}

/// The platform sets of `sys`, as tables, so each is checked on any machine.
const OPENBSD: KeepaliveSupport = KeepaliveSupport {
    idle: OptionSupport::new("TCP_KEEPIDLE", No, No),
    interval: OptionSupport::new("TCP_KEEPINTVL", No, No),
    retries: OptionSupport::new("TCP_KEEPCNT", No, No),
};
const SOLARIS: KeepaliveSupport = KeepaliveSupport {
    idle: OptionSupport::new("TCP_KEEPIDLE", Yes, Yes),
    interval: OptionSupport::new("TCP_KEEPINTVL", No, No),
    retries: OptionSupport::new("TCP_KEEPCNT", No, No),
};
const WINDOWS: KeepaliveSupport = KeepaliveSupport {
    idle: OptionSupport::new("SIO_KEEPALIVE_VALS", Yes, Yes),
    interval: OptionSupport::new("SIO_KEEPALIVE_VALS", Yes, Yes),
    retries: OptionSupport::new(
        "TCP_KEEPCNT",
        Since("Windows 10 1703"),
        Since("Windows 10 1703"),
    ),
};

#[test]
fn chosen_values_an_os_lacks_are_config_errors_and_defaults_are_not() {
    let secs = Duration::from_secs;
    for platform in [OPENBSD, SOLARIS, WINDOWS] {
        assert_eq!(Keepalive::new().validate_for(&platform), Ok(()));
        assert_eq!(Keepalive::off().retries(9).validate_for(&platform), Ok(()));
    }
    let unsupported = |ka: Keepalive, platform: &KeepaliveSupport| {
        let err = ka.validate_for(platform).unwrap_err();
        match err.reason() {
            ConfigErrorReason::Unsupported { option } => (err.field(), *option),
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(
        unsupported(Keepalive::new().idle(secs(20)), &OPENBSD),
        (ConfigField::KeepaliveIdle, "TCP_KEEPIDLE")
    );
    assert_eq!(
        unsupported(Keepalive::new().interval(secs(5)), &SOLARIS),
        (ConfigField::KeepaliveInterval, "TCP_KEEPINTVL")
    );
    assert_eq!(
        unsupported(Keepalive::new().retries(5), &SOLARIS),
        (ConfigField::KeepaliveRetries, "TCP_KEEPCNT")
    );
    // Solaris sets the idle time; Windows decides about TCP_KEEPCNT at connect time.
    assert_eq!(
        Keepalive::new().idle(secs(20)).validate_for(&SOLARIS),
        Ok(())
    );
    assert_eq!(Keepalive::new().retries(5).validate_for(&WINDOWS), Ok(()));
    // The range is still checked where the option exists.
    assert_eq!(
        Keepalive::new()
            .retries(500)
            .validate_for(&WINDOWS)
            .unwrap_err()
            .field(),
        ConfigField::KeepaliveRetries
    );
    let msg = Keepalive::new()
        .interval(secs(5))
        .validate_for(&SOLARIS)
        .unwrap_err()
        .to_string();
    assert!(
        msg.starts_with("invalid keepalive.interval = 5s: ") && msg.contains("TCP_KEEPINTVL"),
        "{msg}"
    );
}

#[test]
fn values_are_read_back_else_as_set_else_the_os_own() {
    assert_eq!(
        reading(Some(7u32), Some(3)),
        Reading::new(Some(7), ValueSource::Kernel)
    );
    assert_eq!(
        reading(None, Some(3u32)),
        Reading::new(Some(3), ValueSource::AsSet)
    );
    assert_eq!(
        reading::<u32>(None, None),
        Reading::new(None, ValueSource::Os)
    );
}

#[test]
fn this_platform_matches_its_set() {
    let support = Keepalive::platform_support();
    assert_eq!(support.os(), std::env::consts::OS);
    let all = [support.idle(), support.interval(), support.retries()];
    #[cfg(keepalive_tuning)]
    assert_eq!(all.map(|o| (o.set(), o.read_back())), [(Yes, Yes); 3]);
    assert_eq!(support.is_complete(), cfg!(keepalive_tuning));
    #[cfg(keepalive_idle_only)]
    assert_eq!(all.map(|o| o.set()), [Yes, No, No]);
    #[cfg(keepalive_switch_only)]
    assert_eq!(all.map(|o| o.set()), [No; 3]);
    #[cfg(windows)]
    assert_eq!(all.map(|o| o.set()), [Yes, Yes, Since("Windows 10 1703")]);
    #[cfg(all(target_vendor = "apple", keepalive_tuning))]
    assert_eq!(support.idle().name(), "TCP_KEEPALIVE");
    #[cfg(all(target_os = "linux", keepalive_tuning))]
    assert_eq!(support.idle().name(), "TCP_KEEPIDLE");
}

/// The default `Keepalive` on a real loopback connection, through this platform set's code:
/// every value is read back where the set reads it, reported as set where it only sets it,
/// and the OS's own where it has no option. (On Linux with
/// `KEEPALIVE_CONNECTOR_CHECK_PLATFORM_SET`, the OpenBSD and Solaris code runs here too.)
#[test]
fn default_keepalive_reports_each_value_as_this_platform_can() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let _server = listener.accept().unwrap();
    let policy = SocketPolicy {
        keepalive: Keepalive::new(),
        keepalive_at: Stage::AfterConnect,
        nodelay: true,
        // Left to the kernel, as the read-back below is about keepalive.
        user_timeout: UserTimeout::Chosen(None),
        send_buffer_size: None,
        recv_buffer_size: None,
        hook: None,
    };
    for stage in Stage::ALL {
        apply(&policy, *stage, SockRef::from(&client)).unwrap();
    }
    let readback = read_back(&policy, SockRef::from(&client)).unwrap();
    let ka = readback.keepalive.expect("SO_KEEPALIVE is on");
    assert!(readback.nodelay);
    let support = Keepalive::platform_support();
    let expect = |option: OptionSupport, value: u64| match (option.read_back(), option.set()) {
        (Yes, _) => (Some(value), ValueSource::Kernel),
        (_, Yes) => (Some(value), ValueSource::AsSet),
        _ => (None, ValueSource::Os),
    };
    let secs = |d: Option<Duration>| d.map(|d| d.as_secs());
    let got = [
        (secs(ka.idle()), ka.idle_source()),
        (secs(ka.interval()), ka.interval_source()),
        (ka.retries().map(u64::from), ka.retries_source()),
    ];
    let want = [
        expect(support.idle(), 30),
        expect(support.interval(), 10),
        expect(support.retries(), 3),
    ];
    for ((got, want), option) in
        got.iter()
            .zip(want)
            .zip([support.idle(), support.interval(), support.retries()])
    {
        if option.read_back() == Yes || option.set() == No {
            assert_eq!(*got, want, "{option:?}: {ka:?}");
        } else {
            // Windows: read back on newer versions, as set (or the OS's) on older ones.
            assert!(
                got.1 == ValueSource::Kernel || *got == want,
                "{option:?}: {ka:?}"
            );
        }
    }
}

#[test]
fn debug_shows_the_values_in_effect_and_which_were_chosen() {
    assert_eq!(
        format!("{:?}", Keepalive::new().retries(5)),
        "Keepalive { enabled: true, idle: 30s (default), interval: 10s (default), retries: 5 }"
    );
}
