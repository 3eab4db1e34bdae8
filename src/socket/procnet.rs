//! [`TcpStats`] on Linux and Android, from the kernel's table of TCP sockets: the line of
//! `/proc/self/net/tcp` (or `tcp6`) whose inode is the socket's. Reading a text table is slower
//! than `getsockopt(TCP_INFO)` (one line per socket of the network namespace), but needs no
//! `unsafe`, which this crate forbids; the counters are the kernel's own either way.

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;

use socket2::SockRef;

use super::stats::{TcpState, TcpStats};

pub(super) fn read(sock: &SockRef<'_>) -> io::Result<Option<TcpStats>> {
    // `socket:[12345]`: the inode that identifies the socket in the table.
    let link = std::fs::read_link(format!("/proc/self/fd/{}", sock.as_raw_fd()))?;
    let Some(inode) = link
        .to_str()
        .and_then(|l| l.strip_prefix("socket:["))
        .and_then(|l| l.strip_suffix(']'))
    else {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "not a socket"));
    };
    // An IPv4 socket is listed in `tcp`, an IPv6 one (IPv4-mapped too) in `tcp6`.
    let table = match sock.local_addr()?.as_socket() {
        Some(SocketAddr::V6(_)) => "/proc/self/net/tcp6",
        _ => "/proc/self/net/tcp",
    };
    let text = std::fs::read_to_string(table)?;
    Ok(text
        .lines()
        .skip(1)
        .find_map(|line| parse_line(line, inode)))
}

/// The counters of `line` if it is the socket with `inode`. The columns (`tcp4_seq_show` and
/// `tcp6_seq_show` in the kernel): `sl local remote st tx_queue:rx_queue tr:tm->when retrnsmt
/// uid timeout inode …`, where `timeout` is `icsk_probes_out`.
fn parse_line(line: &str, inode: &str) -> Option<TcpStats> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    if fields.get(9) != Some(&inode) {
        return None;
    }
    let hex32 = |s: &str| u32::from_str_radix(s, 16).ok();
    let state = match u8::from_str_radix(fields[3], 16).ok()? {
        1 => TcpState::Established,
        // CLOSE_WAIT, LAST_ACK, CLOSING, TIME_WAIT: the peer's FIN has arrived.
        8 | 9 | 11 | 6 => TcpState::PeerClosed,
        // FIN_WAIT1, FIN_WAIT2.
        4 | 5 => TcpState::Closing,
        _ => TcpState::Other,
    };
    let (tx, rx) = fields[4].split_once(':')?;
    Some(TcpStats {
        state,
        unacked_bytes: hex32(tx)?.into(),
        unread_bytes: hex32(rx)?.into(),
        retransmits: hex32(fields[6])?,
        keepalive_probes: fields[8].parse().ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_of_the_table_parses() {
        let line = "   2: 0100007F:88B1 0100007F:DAF6 01 0000001A:0000000A 01:00000014 00000003 \
                    0        2 33296 1 00000000c6295b1c 20 4 30 10 -1";
        let stats = parse_line(line, "33296").unwrap();
        assert_eq!(stats.state, TcpState::Established);
        assert_eq!(stats.unacked_bytes, 26);
        assert_eq!(stats.unread_bytes, 10);
        assert_eq!(stats.retransmits, 3);
        assert_eq!(stats.keepalive_probes, 2);
        assert_eq!(parse_line(line, "3329"), None, "another socket's line");
        let close_wait = line.replace(" 01 0000001A", " 08 0000001A");
        assert_eq!(
            parse_line(&close_wait, "33296").unwrap().state,
            TcpState::PeerClosed
        );
    }
}
