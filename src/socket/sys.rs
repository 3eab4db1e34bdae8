//! The per-OS half of keepalive, settled once (socket2's `sys` habit): what each OS calls the
//! options, which of them exist, how they are set and how they are read back. Everything above
//! this module is portable and calls the one-line wrappers at the bottom.
//!
//! The platform sets are defined once, in `build.rs`; exactly one `imp` below is compiled.

use std::time::Duration;

use socket2::SockRef;

use super::platform::{Availability::*, KeepaliveSupport, OptionSupport};
use super::{Keepalive, SocketOption, SocketOptionError};

/// Linux, Android, Fuchsia, the Apple systems, FreeBSD, NetBSD, DragonFly, illumos, …: socket2
/// sets idle, interval and count in one call and reads each back.
#[cfg(keepalive_tuning)]
mod imp {
    use super::*;
    use socket2::TcpKeepalive;

    /// Apple systems call the idle option `TCP_KEEPALIVE`; everyone else `TCP_KEEPIDLE`.
    const IDLE: &str = if cfg!(target_vendor = "apple") {
        "TCP_KEEPALIVE"
    } else {
        "TCP_KEEPIDLE"
    };
    const SET_ALL: &str = if cfg!(target_vendor = "apple") {
        "SO_KEEPALIVE/TCP_KEEPALIVE/TCP_KEEPINTVL/TCP_KEEPCNT"
    } else {
        "SO_KEEPALIVE/TCP_KEEPIDLE/TCP_KEEPINTVL/TCP_KEEPCNT"
    };

    pub(super) const SUPPORT: KeepaliveSupport = KeepaliveSupport {
        idle: OptionSupport::new(IDLE, Yes, Yes),
        interval: OptionSupport::new("TCP_KEEPINTVL", Yes, Yes),
        retries: OptionSupport::new("TCP_KEEPCNT", Yes, Yes),
    };

    /// One socket2 call: `SO_KEEPALIVE`, then idle, interval and count (the first error
    /// returns, with the earlier options already applied).
    pub(super) fn set(sock: &SockRef<'_>, ka: &Keepalive) -> Result<(), SocketOptionError> {
        let params = TcpKeepalive::new()
            .with_time(ka.idle_duration())
            .with_interval(ka.interval_duration())
            .with_retries(ka.retry_count());
        sock.set_tcp_keepalive(&params)
            .map_err(SocketOptionError::new(SocketOption::Keepalive, SET_ALL))
    }

    pub(super) fn idle(sock: &SockRef<'_>) -> Result<Option<Duration>, SocketOptionError> {
        sock.tcp_keepalive_time()
            .map(Some)
            .map_err(SocketOptionError::new(SocketOption::KeepaliveIdle, IDLE))
    }

    pub(super) fn interval(sock: &SockRef<'_>) -> Result<Option<Duration>, SocketOptionError> {
        sock.tcp_keepalive_interval()
            .map(Some)
            .map_err(SocketOptionError::new(
                SocketOption::KeepaliveInterval,
                "TCP_KEEPINTVL",
            ))
    }

    pub(super) fn retries(sock: &SockRef<'_>) -> Result<Option<u32>, SocketOptionError> {
        sock.tcp_keepalive_retries()
            .map(Some)
            .map_err(SocketOptionError::new(
                SocketOption::KeepaliveRetries,
                "TCP_KEEPCNT",
            ))
    }
}

/// Windows: idle and interval go together in the `SIO_KEEPALIVE_VALS` ioctl (every version);
/// the count is `TCP_KEEPCNT`, which Windows has from 10 1703. Reading back needs
/// getsockopt `TCP_KEEPALIVE`/`TCP_KEEPINTVL` (Windows 10 1709) and `TCP_KEEPCNT` (1703):
/// socket2 has no getter for the first two on Windows, and raw WinSock calls would need
/// `unsafe`, so rustix (safe wrappers over WinSock) reads them. Wine 8 refuses all three
/// (`WSAENOPROTOOPT`), like the Windows versions before them.
#[cfg(windows)]
mod imp {
    use super::*;
    use rustix::io::Errno;
    use rustix::net::sockopt;
    use socket2::TcpKeepalive;
    use std::io;

    pub(super) const SUPPORT: KeepaliveSupport = KeepaliveSupport {
        idle: OptionSupport::new("SIO_KEEPALIVE_VALS", Yes, Since("Windows 10 1709")),
        interval: OptionSupport::new("SIO_KEEPALIVE_VALS", Yes, Since("Windows 10 1709")),
        retries: OptionSupport::new(
            "TCP_KEEPCNT",
            Since("Windows 10 1703"),
            Since("Windows 10 1703"),
        ),
    };

    /// The error of an option this Windows version does not know.
    fn unknown_here(err: Errno) -> bool {
        err == Errno::NOPROTOOPT
    }

    fn error(option: SocketOption, name: &'static str, err: Errno) -> SocketOptionError {
        SocketOptionError {
            option,
            name,
            unsupported: unknown_here(err),
            source: io::Error::from(err),
        }
    }

    /// `SO_KEEPALIVE` and `SIO_KEEPALIVE_VALS` (both values always given: socket2 would send
    /// an unset one as 0 ms, which Wine turns into a 1 s idle time), then `TCP_KEEPCNT` on its
    /// own. A count the user chose and the OS refuses fails the stage; the default count
    /// ([`Keepalive::new`] without [`Keepalive::retries`]) is then left to the OS.
    pub(super) fn set(sock: &SockRef<'_>, ka: &Keepalive) -> Result<(), SocketOptionError> {
        let params = TcpKeepalive::new()
            .with_time(ka.idle_duration())
            .with_interval(ka.interval_duration());
        sock.set_tcp_keepalive(&params)
            .map_err(SocketOptionError::new(
                SocketOption::Keepalive,
                "SO_KEEPALIVE/SIO_KEEPALIVE_VALS",
            ))?;
        match sockopt::set_tcp_keepcnt(&**sock, ka.retry_count()) {
            Ok(()) => Ok(()),
            Err(err) if unknown_here(err) && !ka.is_retry_count_chosen() => {
                tracing::debug!(
                    "this Windows has no TCP_KEEPCNT (before 10 1703, or Wine): the OS's own \
                     keepalive probe count applies"
                );
                Ok(())
            }
            Err(err) => Err(error(SocketOption::KeepaliveRetries, "TCP_KEEPCNT", err)),
        }
    }

    /// A getter this Windows version lacks reads as "cannot report" (`Ok(None)`), not as a
    /// failed connection.
    fn read<T>(
        value: Result<T, Errno>,
        option: SocketOption,
        name: &'static str,
    ) -> Result<Option<T>, SocketOptionError> {
        match value {
            Ok(value) => Ok(Some(value)),
            Err(err) if unknown_here(err) => Ok(None),
            Err(err) => Err(error(option, name, err)),
        }
    }

    pub(super) fn idle(sock: &SockRef<'_>) -> Result<Option<Duration>, SocketOptionError> {
        read(
            sockopt::tcp_keepidle(&**sock),
            SocketOption::KeepaliveIdle,
            "TCP_KEEPALIVE",
        )
    }

    pub(super) fn interval(sock: &SockRef<'_>) -> Result<Option<Duration>, SocketOptionError> {
        read(
            sockopt::tcp_keepintvl(&**sock),
            SocketOption::KeepaliveInterval,
            "TCP_KEEPINTVL",
        )
    }

    pub(super) fn retries(sock: &SockRef<'_>) -> Result<Option<u32>, SocketOptionError> {
        read(
            sockopt::tcp_keepcnt(&**sock),
            SocketOption::KeepaliveRetries,
            "TCP_KEEPCNT",
        )
    }
}

/// Solaris, AIX, Hurd, Redox, ESP-IDF, Horizon, QNX: a per-socket idle time (`TCP_KEEPIDLE`)
/// and nothing else; the interval and count are system-wide.
#[cfg(keepalive_idle_only)]
mod imp {
    use super::*;
    use socket2::TcpKeepalive;

    pub(super) const SUPPORT: KeepaliveSupport = KeepaliveSupport {
        idle: OptionSupport::new("TCP_KEEPIDLE", Yes, Yes),
        interval: OptionSupport::new("TCP_KEEPINTVL", No, No),
        retries: OptionSupport::new("TCP_KEEPCNT", No, No),
    };

    pub(super) fn set(sock: &SockRef<'_>, ka: &Keepalive) -> Result<(), SocketOptionError> {
        sock.set_tcp_keepalive(&TcpKeepalive::new().with_time(ka.idle_duration()))
            .map_err(SocketOptionError::new(
                SocketOption::Keepalive,
                "SO_KEEPALIVE/TCP_KEEPIDLE",
            ))
    }

    pub(super) fn idle(sock: &SockRef<'_>) -> Result<Option<Duration>, SocketOptionError> {
        sock.tcp_keepalive_time()
            .map(Some)
            .map_err(SocketOptionError::new(
                SocketOption::KeepaliveIdle,
                "TCP_KEEPIDLE",
            ))
    }

    pub(super) use super::unreported as interval;
    pub(super) use super::unreported as retries;
}

/// OpenBSD, Haiku, Vita: `SO_KEEPALIVE` only; the timers are system-wide (OpenBSD's
/// `net.inet.tcp.keepidle` sysctl). socket2 accepts an idle time there and silently ignores
/// it, so it is never handed one.
#[cfg(keepalive_switch_only)]
mod imp {
    use super::*;

    pub(super) const SUPPORT: KeepaliveSupport = KeepaliveSupport {
        idle: OptionSupport::new("TCP_KEEPIDLE", No, No),
        interval: OptionSupport::new("TCP_KEEPINTVL", No, No),
        retries: OptionSupport::new("TCP_KEEPCNT", No, No),
    };

    pub(super) fn set(sock: &SockRef<'_>, _: &Keepalive) -> Result<(), SocketOptionError> {
        sock.set_keepalive(true).map_err(SocketOptionError::new(
            SocketOption::Keepalive,
            "SO_KEEPALIVE",
        ))
    }

    pub(super) use super::unreported as idle;
    pub(super) use super::unreported as interval;
    pub(super) use super::unreported as retries;
}

/// The getter of a value an OS has no per-socket option for: never reported.
#[cfg(any(keepalive_idle_only, keepalive_switch_only))]
fn unreported<T>(_: &SockRef<'_>) -> Result<Option<T>, SocketOptionError> {
    Ok(None)
}

/// What this platform can do with each keepalive value.
pub(crate) const SUPPORT: KeepaliveSupport = imp::SUPPORT;

/// Turns `SO_KEEPALIVE` on with every value this OS takes per socket.
pub(super) fn set_keepalive(sock: &SockRef<'_>, ka: &Keepalive) -> Result<(), SocketOptionError> {
    imp::set(sock, ka)
}

/// The idle time as the kernel holds it; `Ok(None)` when this OS cannot report it.
pub(super) fn keepalive_idle(sock: &SockRef<'_>) -> Result<Option<Duration>, SocketOptionError> {
    imp::idle(sock)
}

/// The probe interval as the kernel holds it; `Ok(None)` when this OS cannot report it.
pub(super) fn keepalive_interval(
    sock: &SockRef<'_>,
) -> Result<Option<Duration>, SocketOptionError> {
    imp::interval(sock)
}

/// The probe count as the kernel holds it; `Ok(None)` when this OS cannot report it.
pub(super) fn keepalive_retries(sock: &SockRef<'_>) -> Result<Option<u32>, SocketOptionError> {
    imp::retries(sock)
}

/// Whether [`tcp_stats`] can report (the kernel's TCP table, `/proc/self/net/tcp`).
pub(super) const TCP_STATS: bool = cfg!(proc_net_tcp);

/// The kernel's counters of the TCP socket `sock`; `Ok(None)` where this OS cannot report
/// them, or when the kernel no longer lists the socket.
pub(super) fn tcp_stats(sock: &SockRef<'_>) -> std::io::Result<Option<super::TcpStats>> {
    #[cfg(proc_net_tcp)]
    {
        super::procnet::read(sock)
    }
    #[cfg(not(proc_net_tcp))]
    {
        let _ = sock;
        Ok(None)
    }
}
