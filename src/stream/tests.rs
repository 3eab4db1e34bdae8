//! The silent-drop guard, set and read back from the kernel: `TCP_USER_TIMEOUT` is the bound
//! while a write after a quiet spell is outstanding, and what it was once the answer comes.

use std::time::Duration;

use socket2::SockRef;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::conn_state::Management;
use crate::Connector;

fn user_timeout(conn: &super::Conn) -> Option<Duration> {
    SockRef::from(conn.tcp()).tcp_user_timeout().unwrap()
}

#[tokio::test]
async fn the_guard_holds_the_bound_only_while_a_write_after_quiet_is_unanswered() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let connector = Connector::builder().build().unwrap();
    let conn = connector.connect(&url.parse().unwrap()).await.unwrap();
    let (mut server, _) = listener.accept().await.unwrap();
    let configured = user_timeout(&conn);
    assert_eq!(
        configured,
        Some(Duration::from_secs(60)),
        "the default: keepalive's 30 s + 10 s × 3"
    );
    let bound = Duration::from_millis(1_500);
    let mut conn = conn.manage(Management {
        idle_timeout: None,
        silent_drop_bound: Some(bound),
    });

    // Right after connect: no quiet spell, no guard.
    conn.write_all(b"ping").await.unwrap();
    assert_eq!(user_timeout(&conn), configured);
    let mut buf = [0u8; 4];
    server.read_exact(&mut buf).await.unwrap();
    server.write_all(b"pong").await.unwrap();
    conn.read_exact(&mut buf).await.unwrap();

    // After a quiet spell: the bound, until the answer's first bytes.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    conn.write_all(b"ping").await.unwrap();
    assert_eq!(user_timeout(&conn), Some(bound));
    server.read_exact(&mut buf).await.unwrap();
    server.write_all(b"pong").await.unwrap();
    conn.read_exact(&mut buf).await.unwrap();
    assert_eq!(user_timeout(&conn), configured, "restored with the answer");
}

#[tokio::test]
async fn the_guard_never_loosens_a_shorter_user_timeout() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let connector = Connector::builder()
        .tcp_user_timeout(Duration::from_millis(700))
        .build()
        .unwrap();
    let conn = connector.connect(&url.parse().unwrap()).await.unwrap();
    let _server = listener.accept().await.unwrap();
    let mut conn = conn.manage(Management {
        idle_timeout: None,
        silent_drop_bound: Some(Duration::from_millis(1_500)),
    });
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    conn.write_all(b"ping").await.unwrap();
    assert_eq!(user_timeout(&conn), Some(Duration::from_millis(700)));
}
