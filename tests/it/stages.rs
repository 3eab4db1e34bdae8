//! Socket options land at exactly their stage: a socket hook reads `SO_KEEPALIVE`,
//! `TCP_KEEPIDLE`, `TCP_KEEPINTVL` and `TCP_KEEPCNT` back from the kernel at every stage.

use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use keepalive_connector::{Connector, Keepalive, Phase, Stage};
use keepalive_testserver::TestServer;
use socket2::SockRef;

use crate::support::builder_for;

/// What the kernel said at one stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Seen {
    stage: Stage,
    keepalive: bool,
    idle: Duration,
    interval: Duration,
    retries: u32,
    nodelay: bool,
}

fn read(stage: Stage, sock: &SockRef<'_>) -> io::Result<Seen> {
    Ok(Seen {
        stage,
        keepalive: sock.keepalive()?,
        idle: sock.tcp_keepalive_time()?,
        interval: sock.tcp_keepalive_interval()?,
        retries: sock.tcp_keepalive_retries()?,
        nodelay: sock.tcp_nodelay()?,
    })
}

// Values unlike any kernel default (Linux: 7200 s, 75 s, 9), so a match proves we set them.
const IDLE: Duration = Duration::from_secs(17);
const INTERVAL: Duration = Duration::from_secs(7);
const RETRIES: u32 = 4;

async fn connect_recording(server: &TestServer, url: &str, stage: Stage) -> (Vec<Seen>, Connector) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&seen);
    let connector = builder_for(server)
        .keepalive(
            Keepalive::new()
                .idle(IDLE)
                .interval(INTERVAL)
                .retries(RETRIES),
        )
        .keepalive_at(stage)
        .socket_hook(move |stage, sock| {
            record.lock().unwrap().push(read(stage, &sock)?);
            Ok(())
        })
        .build()
        .unwrap();
    let conn = connector.connect(&url.parse().unwrap()).await.unwrap();
    let seen = seen.lock().unwrap().clone();

    // ConnectInfo's keepalive is what the kernel held at the end, read back by the library.
    let last = seen.last().unwrap();
    let ka = conn
        .info()
        .keepalive()
        .expect("keepalive on after its stage");
    assert_eq!(ka.stage(), stage);
    assert_eq!(
        (ka.idle(), ka.interval(), ka.retries()),
        (last.idle, last.interval, last.retries)
    );
    (seen, connector)
}

fn assert_on_exactly_from(stage: Stage, seen: &[Seen]) {
    let stages: Vec<Stage> = seen.iter().map(|s| s.stage).collect();
    assert_eq!(stages, Stage::ALL, "the hook runs once per stage, in order");
    for s in seen {
        assert!(s.nodelay, "nodelay is set before connect: {s:?}");
        if s.stage < stage {
            assert!(!s.keepalive, "keepalive must be off before {stage}: {s:?}");
            assert_ne!(s.idle, IDLE, "idle must not be set before {stage}: {s:?}");
        } else {
            assert!(s.keepalive, "keepalive must be on from {stage}: {s:?}");
            assert_eq!(
                (s.idle, s.interval, s.retries),
                (IDLE, INTERVAL, RETRIES),
                "{s:?}"
            );
        }
    }
}

#[tokio::test]
async fn each_stage_over_tls_ipv4() {
    let server = TestServer::start().await.unwrap();
    for &stage in Stage::ALL {
        let (seen, _) = connect_recording(&server, &server.url("/"), stage).await;
        assert_on_exactly_from(stage, &seen);
    }
}

#[tokio::test]
async fn each_stage_over_tls_ipv6() {
    let Some(server) = crate::support::ipv6_server().await else {
        return;
    };
    for &stage in Stage::ALL {
        let (seen, _) = connect_recording(&server, &server.url("/"), stage).await;
        assert_on_exactly_from(stage, &seen);
    }
}

#[tokio::test]
async fn each_stage_over_plain_http() {
    // No handshake: AfterHandshake means right after connect, but the hook still sees all
    // three stages and keepalive is still off before its stage.
    let server = TestServer::builder().plain().start().await.unwrap();
    for &stage in Stage::ALL {
        let (seen, _) = connect_recording(&server, &server.url("/"), stage).await;
        assert_on_exactly_from(stage, &seen);
    }
}

#[tokio::test]
async fn keepalive_off_reads_back_none() {
    let server = TestServer::start().await.unwrap();
    let connector = builder_for(&server)
        .keepalive(Keepalive::off())
        .build()
        .unwrap();
    let conn = crate::support::connect(&connector, &server).await.unwrap();
    assert_eq!(conn.info().keepalive(), None);
    assert!(!SockRef::from(conn.tcp()).keepalive().unwrap());
}

#[tokio::test]
async fn hook_overrides_are_what_connect_info_reports() {
    let server = TestServer::start().await.unwrap();
    let connector = builder_for(&server)
        .keepalive_at(Stage::AfterConnect)
        .nodelay(true)
        .socket_hook(|stage, sock| {
            if stage == Stage::AfterHandshake {
                sock.set_tcp_nodelay(false)?;
                sock.set_tcp_keepalive(
                    &socket2::TcpKeepalive::new().with_time(Duration::from_secs(42)),
                )?;
            }
            Ok(())
        })
        .build()
        .unwrap();
    let conn = crate::support::connect(&connector, &server).await.unwrap();
    assert!(!conn.info().nodelay());
    assert_eq!(
        conn.info().keepalive().unwrap().idle(),
        Duration::from_secs(42)
    );
    assert!(!SockRef::from(conn.tcp()).tcp_nodelay().unwrap());
}

#[tokio::test]
async fn failing_hook_fails_the_connect_with_phase_socket() {
    let server = TestServer::start().await.unwrap();
    for &failing in Stage::ALL {
        let connector = builder_for(&server)
            .socket_hook(move |stage, _| {
                if stage == failing {
                    Err(io::Error::new(
                        io::ErrorKind::PermissionDenied,
                        "policy says no",
                    ))
                } else {
                    Ok(())
                }
            })
            .build()
            .unwrap();
        let err = crate::support::connect(&connector, &server)
            .await
            .unwrap_err();
        assert_eq!(err.phase(), Phase::Socket, "{err}");
        assert_eq!(err.socket_stage(), Some(failing));
        assert_eq!(err.io_error_kind(), Some(io::ErrorKind::PermissionDenied));
        assert!(
            err.to_string().contains("socket_hook: policy says no"),
            "{err}"
        );
        assert!(err.to_string().contains(failing.as_str()), "{err}");
    }
}

#[tokio::test]
async fn buffer_sizes_and_user_timeout_read_back() {
    let server = TestServer::start().await.unwrap();
    let seen = Arc::new(Mutex::new(None));
    let record = Arc::clone(&seen);
    let connector = builder_for(&server)
        .send_buffer_size(64 * 1024)
        .recv_buffer_size(128 * 1024)
        .tcp_user_timeout(Duration::from_millis(4_500))
        .keepalive_at(Stage::AfterConnect)
        .socket_hook(move |stage, sock| {
            if stage == Stage::BeforeConnect {
                *record.lock().unwrap() = Some((
                    sock.send_buffer_size()?,
                    sock.recv_buffer_size()?,
                    sock.tcp_user_timeout()?,
                ));
            }
            Ok(())
        })
        .build()
        .unwrap();
    let conn = crate::support::connect(&connector, &server).await.unwrap();
    let (snd, rcv, uto) = seen.lock().unwrap().unwrap();
    // Linux doubles the requested size for its bookkeeping (socket(7)).
    assert!(snd >= 64 * 1024, "SO_SNDBUF {snd}");
    assert!(rcv >= 128 * 1024, "SO_RCVBUF {rcv}");
    assert_eq!(
        uto, None,
        "TCP_USER_TIMEOUT goes with the keepalive stage, not before connect"
    );
    assert_eq!(
        conn.info().tcp_user_timeout(),
        Some(Duration::from_millis(4_500))
    );
}

#[tokio::test]
async fn local_address_binds_the_socket() {
    let server = TestServer::start().await.unwrap();
    let connector = builder_for(&server)
        .local_address("127.0.0.1".parse().unwrap())
        .build()
        .unwrap();
    let conn = crate::support::connect(&connector, &server).await.unwrap();
    assert_eq!(conn.info().local_addr().ip().to_string(), "127.0.0.1");

    // An IPv6 local address cannot reach an IPv4-only target.
    let connector = builder_for(&server)
        .local_address("::1".parse().unwrap())
        .build()
        .unwrap();
    let err = crate::support::connect(&connector, &server)
        .await
        .unwrap_err();
    assert_eq!(err.phase(), Phase::Connect, "{err}");
}
