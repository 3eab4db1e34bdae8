//! Socket options with socket2: which option is applied at which [`Stage`], and reading them
//! back from the kernel.
//!
//! | option | stage |
//! |---|---|
//! | `SO_SNDBUF`, `SO_RCVBUF`, `TCP_NODELAY` | [`Stage::BeforeConnect`] (buffer sizes must be set before the SYN for window scaling; nodelay so the handshake is not delayed) |
//! | `SO_KEEPALIVE`, `TCP_KEEPIDLE`, `TCP_KEEPINTVL`, `TCP_KEEPCNT`, `TCP_USER_TIMEOUT` | the configured keepalive stage |
//! | the socket hook | every stage, after the options above |

use std::fmt;
use std::io;
use std::time::Duration;

use socket2::{SockRef, TcpKeepalive};

use crate::info::KeepaliveInfo;

mod policy;

pub(crate) use policy::SocketPolicy;
pub use policy::{Keepalive, ParseStageError, Stage};

#[cfg(not(keepalive_tuning))]
compile_error!(
    "keepalive-connector needs TCP_KEEPIDLE/TCP_KEEPINTVL/TCP_KEEPCNT: it supports Linux, Android, \
     Fuchsia, macOS, iOS, FreeBSD, NetBSD and DragonFly"
);

/// The largest values the kernel accepts: Linux's (`MAX_TCP_KEEPIDLE`, `MAX_TCP_KEEPINTVL`,
/// `MAX_TCP_KEEPCNT` in `include/net/tcp.h`). Checking against them in `build()` means no
/// value gets through that Linux would refuse at connect time; the other platforms are not
/// tested here and may have limits of their own (which then fail the connect as
/// `Phase::Socket`, never silently).
pub(crate) mod limits {
    use std::time::Duration;

    pub(crate) const MAX_KEEPIDLE: Duration = Duration::from_secs(32_767);
    pub(crate) const MAX_KEEPINTVL: Duration = Duration::from_secs(32_767);
    pub(crate) const MAX_KEEPCNT: u32 = 127;
    /// `TCP_USER_TIMEOUT` is an `int` of milliseconds and Linux refuses negative values.
    pub(crate) const MAX_USER_TIMEOUT: Duration = Duration::from_millis(i32::MAX as u64);
    /// `SO_SNDBUF`/`SO_RCVBUF` are `int`s.
    pub(crate) const MAX_BUFFER_SIZE: u64 = i32::MAX as u64;
}

/// A socket option (or the socket hook) that could not be applied or read back.
#[derive(Debug)]
pub struct SocketOptionError {
    option: &'static str,
    source: io::Error,
}

impl SocketOptionError {
    fn new(option: &'static str) -> impl FnOnce(io::Error) -> Self {
        move |source| SocketOptionError { option, source }
    }

    /// The option's name as the OS calls it (`TCP_NODELAY`, `SO_RCVBUF`), `socket_hook`, or,
    /// for keepalive, which socket2 sets in one call, the `/`-joined names of the options that
    /// call sets.
    pub fn option(&self) -> &'static str {
        self.option
    }
}

impl fmt::Display for SocketOptionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.option, self.source)
    }
}

impl std::error::Error for SocketOptionError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// Applies the options that belong to `stage`, then calls the socket hook.
pub(crate) fn apply(
    policy: &SocketPolicy,
    stage: Stage,
    sock: SockRef<'_>,
) -> Result<(), SocketOptionError> {
    if stage == Stage::BeforeConnect {
        if let Some(size) = policy.send_buffer_size {
            sock.set_send_buffer_size(size)
                .map_err(SocketOptionError::new("SO_SNDBUF"))?;
        }
        if let Some(size) = policy.recv_buffer_size {
            sock.set_recv_buffer_size(size)
                .map_err(SocketOptionError::new("SO_RCVBUF"))?;
        }
        if policy.nodelay {
            sock.set_tcp_nodelay(true)
                .map_err(SocketOptionError::new("TCP_NODELAY"))?;
        }
    }
    if stage == policy.keepalive_at {
        let ka = &policy.keepalive;
        if ka.enabled {
            let params = TcpKeepalive::new()
                .with_time(ka.idle)
                .with_interval(ka.interval)
                .with_retries(ka.retries);
            sock.set_tcp_keepalive(&params)
                .map_err(SocketOptionError::new(
                    "SO_KEEPALIVE/TCP_KEEPIDLE/TCP_KEEPINTVL/TCP_KEEPCNT",
                ))?;
        }
        #[cfg(tcp_user_timeout)]
        if let Some(timeout) = policy.tcp_user_timeout {
            sock.set_tcp_user_timeout(Some(timeout))
                .map_err(SocketOptionError::new("TCP_USER_TIMEOUT"))?;
        }
    }
    if let Some(hook) = &policy.hook {
        hook(stage, sock).map_err(SocketOptionError::new("socket_hook"))?;
    }
    Ok(())
}

/// What the kernel says the socket's options are, read with getsockopt once the last stage ran.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Readback {
    pub(crate) keepalive: Option<KeepaliveInfo>,
    pub(crate) nodelay: bool,
    pub(crate) tcp_user_timeout: Option<Duration>,
}

/// Reads the options back, so [`ConnectInfo`](crate::ConnectInfo) reports what the kernel holds
/// (including anything the socket hook changed), not what we asked for.
pub(crate) fn read_back(stage: Stage, sock: SockRef<'_>) -> Result<Readback, SocketOptionError> {
    let keepalive = if sock
        .keepalive()
        .map_err(SocketOptionError::new("SO_KEEPALIVE"))?
    {
        let values = Keepalive::new()
            .idle(
                sock.tcp_keepalive_time()
                    .map_err(SocketOptionError::new("TCP_KEEPIDLE"))?,
            )
            .interval(
                sock.tcp_keepalive_interval()
                    .map_err(SocketOptionError::new("TCP_KEEPINTVL"))?,
            )
            .retries(
                sock.tcp_keepalive_retries()
                    .map_err(SocketOptionError::new("TCP_KEEPCNT"))?,
            );
        Some(KeepaliveInfo { stage, values })
    } else {
        None
    };
    let nodelay = sock
        .tcp_nodelay()
        .map_err(SocketOptionError::new("TCP_NODELAY"))?;
    #[cfg(tcp_user_timeout)]
    let tcp_user_timeout = sock
        .tcp_user_timeout()
        .map_err(SocketOptionError::new("TCP_USER_TIMEOUT"))?;
    #[cfg(not(tcp_user_timeout))]
    let tcp_user_timeout = None;
    Ok(Readback {
        keepalive,
        nodelay,
        tcp_user_timeout,
    })
}
