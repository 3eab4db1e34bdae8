//! What differs between operating systems, tested on the OS the tests run on (Linux natively,
//! Windows under Wine):
//! - the `TCP_KEEPCNT` policy: a default count gives way to the OS's own where the OS refuses
//!   the option (Windows before 10 1703, Wine), a chosen count fails naming it;
//! - a connection lost under a stage's options is reported in the phase it was in, not as
//!   `Phase::Socket`. macOS and FreeBSD refuse options on a socket the peer has reset (Linux
//!   does not), so here a socket hook fails the way they do, on a socket the peer has reset.
//!   (That a failing option on a live connection stays `Phase::Socket` is in stages.rs.)

use std::io;
use std::net::TcpListener;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use keepalive_connector::{
    io_error_kind, Availability, ConnectError, Keepalive, Phase, SocketOption, SocketOptionError,
    Stage, ValueSource,
};
use keepalive_testserver::{Behavior, TestServer};
use socket2::{SockRef, TcpKeepalive};

use crate::support::{assert_keepalive, builder_for, wine, IDLE, INTERVAL, RETRIES};

/// Whether this OS takes `TCP_KEEPCNT`, asked directly through socket2 on a fresh loopback
/// connection (not through the connector under test).
fn os_has_keepcnt() -> bool {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let params = TcpKeepalive::new()
        .with_time(IDLE)
        .with_interval(INTERVAL)
        .with_retries(RETRIES);
    let has = SockRef::from(&client).set_tcp_keepalive(&params).is_ok();
    println!(
        "{} {} TCP_KEEPCNT{}",
        std::env::consts::OS,
        if has { "has" } else { "refuses" },
        if wine() { " (under Wine)" } else { "" }
    );
    has
}

#[tokio::test]
async fn default_retries_give_way_to_the_os_count_where_it_refuses_keepcnt() {
    let has = os_has_keepcnt();
    if Keepalive::platform_support().retries().set() == Availability::Yes {
        assert!(has, "the platform table says TCP_KEEPCNT always works here");
    }
    let server = TestServer::start().await.unwrap();
    for &stage in Stage::ALL {
        let connector = builder_for(&server)
            .keepalive(Keepalive::new().idle(IDLE).interval(INTERVAL))
            .keepalive_at(stage)
            .build()
            .unwrap();
        let conn = crate::support::connect(&connector, &server).await.unwrap();
        let ka = conn.info().keepalive().expect("keepalive on");
        let want = if has {
            (Some(3), ValueSource::Kernel)
        } else {
            (None, ValueSource::Os)
        };
        assert_eq!((ka.retries(), ka.retries_source()), want, "{stage}: {ka:?}");
        assert_eq!(ka.values().is_some(), has, "{ka:?}");
        assert_keepalive(ka, Keepalive::new().idle(IDLE).interval(INTERVAL));
    }
}

#[tokio::test]
async fn chosen_retries_fail_naming_tcp_keepcnt_where_the_os_refuses_it() {
    let has = os_has_keepcnt();
    let server = TestServer::start().await.unwrap();
    let asked = Keepalive::new()
        .idle(IDLE)
        .interval(INTERVAL)
        .retries(RETRIES);
    for &stage in Stage::ALL {
        let connector = builder_for(&server)
            .keepalive(asked)
            .keepalive_at(stage)
            .build()
            .expect("a count is never refused at build time on an OS that may take it");
        let result = crate::support::connect(&connector, &server).await;
        if has {
            let conn = result.unwrap();
            let ka = conn.info().keepalive().unwrap();
            assert_eq!(
                (ka.retries(), ka.retries_source()),
                (Some(RETRIES), ValueSource::Kernel)
            );
            assert_keepalive(ka, asked);
            continue;
        }
        let err = result.expect_err("a chosen count the OS refuses must fail the connection");
        assert_eq!(err.phase(), Phase::Socket, "{err}");
        assert_eq!(err.socket_stage(), Some(stage), "{err}");
        let option = socket_option_error(&err);
        assert_eq!(option.option(), SocketOption::KeepaliveRetries, "{err}");
        assert_eq!(option.os_name(), "TCP_KEEPCNT");
        assert!(option.is_unsupported(), "{err}");
        assert!(
            err.to_string()
                .contains("TCP_KEEPCNT: this OS version does not have the option"),
            "{err}"
        );
    }
    if has {
        println!(
            "SKIPPED: the refusal branch needs an OS without TCP_KEEPCNT (Windows before 10 \
             1703; it runs under Wine)"
        );
    }
}

fn socket_option_error(err: &ConnectError) -> &SocketOptionError {
    std::error::Error::source(err)
        .and_then(|e| e.downcast_ref::<SocketOptionError>())
        .unwrap_or_else(|| panic!("no SocketOptionError behind {err:?}"))
}

/// Waits until the peer's reset has reached `sock` (it is no longer connected; unlike a read,
/// `getpeername` leaves the pending error in place).
fn wait_for_reset(sock: &SockRef<'_>) -> io::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while sock.peer_addr().is_ok() {
        if Instant::now() > deadline {
            return Err(io::Error::other(
                "test set-up: the peer's RST never arrived",
            ));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}

/// A hook that, at `at`, waits for the peer's reset and then fails as macOS's setsockopt
/// does on such a socket (`EINVAL`). With `server` set, it first accepts the pending
/// connection there and resets it (`SO_LINGER` 0), so the reset comes exactly at `at`.
fn fail_like_macos_after_reset(
    at: Stage,
    server: Option<TcpListener>,
) -> impl Fn(Stage, SockRef<'_>) -> io::Result<()> + Send + Sync + 'static {
    let server = Mutex::new(server);
    move |stage, sock| {
        if stage != at {
            return Ok(());
        }
        if let Some(listener) = server.lock().unwrap().take() {
            let (peer, _) = listener.accept()?;
            SockRef::from(&peer).set_linger(Some(Duration::ZERO))?;
        }
        wait_for_reset(&sock)?;
        Err(io::Error::from(io::ErrorKind::InvalidInput))
    }
}

fn assert_lost_in(err: &ConnectError, phase: Phase, stage: Stage) {
    assert_eq!(err.phase(), phase, "{err}");
    assert_eq!(
        err.socket_stage(),
        None,
        "not a socket-option failure: {err}"
    );
    let kind = io_error_kind(err);
    // Linux keeps the reset as the socket's pending error; an OS that already handed it out
    // leaves a socket that is no longer connected.
    assert!(
        matches!(
            kind,
            Some(io::ErrorKind::ConnectionReset | io::ErrorKind::NotConnected)
        ),
        "{kind:?}: {err}"
    );
    let text = err.to_string();
    assert!(
        text.contains(&format!(
            "connection lost while applying the {stage} socket options (socket_hook: "
        )),
        "{text}"
    );
}

/// Connects to a listener of our own with `scheme`, keepalive at `stage`, and a hook that
/// resets the connection at `stage` and then fails as macOS does.
async fn reset_under_own_listener(scheme: &str, stage: Stage) -> ConnectError {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let connector = keepalive_connector::Connector::builder()
        .keepalive_at(stage)
        .socket_hook(fail_like_macos_after_reset(stage, Some(listener)))
        .build()
        .unwrap();
    let err = connector
        .connect(&format!("{scheme}://{addr}/").parse().unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.addr(), Some(addr), "{err}");
    err
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_under_the_after_connect_options_is_a_connect_error() {
    let err = reset_under_own_listener("https", Stage::AfterConnect).await;
    assert_lost_in(&err, Phase::Connect, Stage::AfterConnect);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_under_the_last_options_of_plain_http_is_a_connect_error() {
    // No TLS: the after-handshake stage runs right after connect.
    let err = reset_under_own_listener("http", Stage::AfterHandshake).await;
    assert_lost_in(&err, Phase::Connect, Stage::AfterHandshake);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_right_after_the_tls_handshake_is_a_tls_error() {
    let server = TestServer::builder()
        .behavior(Behavior::ResetAfterHandshake)
        .start()
        .await
        .unwrap();
    let connector = builder_for(&server)
        .socket_hook(fail_like_macos_after_reset(Stage::AfterHandshake, None))
        .build()
        .unwrap();
    let err = crate::support::connect(&connector, &server)
        .await
        .unwrap_err();
    assert_lost_in(&err, Phase::Tls, Stage::AfterHandshake);
    assert_eq!(err.addr(), Some(server.addr()));
}
