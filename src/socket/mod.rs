//! Socket options with socket2: which option is applied at which [`Stage`], and reading them
//! back from the kernel.
//!
//! | option | stage |
//! |---|---|
//! | `SO_SNDBUF`, `SO_RCVBUF`, `TCP_NODELAY` | [`Stage::BeforeConnect`] (buffer sizes must be set before the SYN for window scaling; nodelay so the handshake is not delayed) |
//! | `SO_KEEPALIVE` and the keepalive values this OS takes per socket, `TCP_USER_TIMEOUT` | the configured keepalive stage |
//! | the socket hook | every stage, after the options above |
//!
//! What differs between operating systems (option names, which values exist, how they are read
//! back) is settled once in `sys`; this module is the same everywhere.

use std::fmt;
use std::io;
use std::time::Duration;

use socket2::SockRef;

use crate::info::{KeepaliveInfo, Reading, ValueSource};

mod platform;
mod policy;
#[cfg(proc_net_tcp)]
mod procnet;
mod stats;
mod sys;
#[cfg(test)]
mod tests;

pub use platform::{Availability, KeepaliveSupport, OptionSupport};
pub(crate) use policy::SocketPolicy;
#[cfg(tcp_user_timeout)]
pub(crate) use policy::UserTimeout;
pub use policy::{Keepalive, ParseStageError, Stage};
pub use stats::{TcpState, TcpStats};

/// The largest values the connector accepts: Linux's (`MAX_TCP_KEEPIDLE`, `MAX_TCP_KEEPINTVL`,
/// `MAX_TCP_KEEPCNT` in `include/net/tcp.h`), on every OS, so a configuration valid on one OS is
/// valid on all. Linux's are the tightest known: macOS and FreeBSD take idle and interval up to
/// 4,294,967 s, Windows up to `u32::MAX` ms; Windows takes a count up to 255.
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

/// The largest keepalive values [`Builder::build`](crate::Builder::build) accepts: the same on
/// every OS (see `limits` above), so a program, or a model of the rules such as the fuzz
/// target `uri_and_config`, can check a value without building.
impl Keepalive {
    /// The longest [`idle`](Keepalive::idle) time: 32,767 s (about 9 h). Linux's
    /// `MAX_TCP_KEEPIDLE` (`include/net/tcp.h`), which refuses more with `EINVAL`; the tightest
    /// of the OSes (macOS and FreeBSD take up to 4,294,967 s, Windows up to `u32::MAX` ms), so
    /// it applies everywhere.
    pub const MAX_IDLE: Duration = limits::MAX_KEEPIDLE;
    /// The longest [`interval`](Keepalive::interval): 32,767 s. Linux's `MAX_TCP_KEEPINTVL`
    /// (`include/net/tcp.h`), the tightest of the OSes, as for [`MAX_IDLE`](Keepalive::MAX_IDLE).
    pub const MAX_INTERVAL: Duration = limits::MAX_KEEPINTVL;
    /// The most [`retries`](Keepalive::retries): 127. Linux's `MAX_TCP_KEEPCNT`
    /// (`include/net/tcp.h`); Windows takes up to 255 (a `BYTE`), so Linux's applies everywhere.
    pub const MAX_RETRIES: u32 = limits::MAX_KEEPCNT;
}

/// The largest socket-option values [`Builder::build`](crate::Builder::build) accepts.
impl crate::Builder {
    /// The longest [`tcp_user_timeout`](crate::Builder::tcp_user_timeout) (and
    /// [`silent_drop_timeout`](crate::Builder::silent_drop_timeout), which sets the same
    /// option): `i32::MAX` ms, about 24.8 days. `TCP_USER_TIMEOUT` is a C `int` of
    /// milliseconds, and Linux refuses a negative one.
    #[cfg(tcp_user_timeout)]
    pub const MAX_TCP_USER_TIMEOUT: Duration = limits::MAX_USER_TIMEOUT;
    /// The largest [`send_buffer_size`](crate::Builder::send_buffer_size) and
    /// [`recv_buffer_size`](crate::Builder::recv_buffer_size): `i32::MAX` bytes. `SO_SNDBUF`
    /// and `SO_RCVBUF` are C `int`s; the kernel may then cap the value lower (Linux: at
    /// `net.core.wmem_max` / `rmem_max`).
    // i32::MAX fits in the usize of every target with sockets (16-bit ones have none).
    pub const MAX_BUFFER_SIZE: usize = limits::MAX_BUFFER_SIZE as usize;
}

/// Which socket option (or the socket hook) a [`SocketOptionError`] is about: what a program
/// branches on. [`SocketOptionError::os_name`] has the OS's own name, for people.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SocketOption {
    /// `SO_SNDBUF` ([`Builder::send_buffer_size`](crate::Builder::send_buffer_size)).
    SendBufferSize,
    /// `SO_RCVBUF` ([`Builder::recv_buffer_size`](crate::Builder::recv_buffer_size)).
    RecvBufferSize,
    /// `TCP_NODELAY`.
    Nodelay,
    /// Turning keepalive on with its values, which socket2 does in one call (on Linux
    /// `SO_KEEPALIVE`, `TCP_KEEPIDLE`, `TCP_KEEPINTVL`, `TCP_KEEPCNT`; on Windows `SO_KEEPALIVE`
    /// and `SIO_KEEPALIVE_VALS`), or reading `SO_KEEPALIVE` back.
    Keepalive,
    /// Reading the keepalive idle time back.
    KeepaliveIdle,
    /// Reading the keepalive interval back.
    KeepaliveInterval,
    /// `TCP_KEEPCNT`: reading it back, or, on Windows, where it is set on its own after
    /// `SIO_KEEPALIVE_VALS`, setting it (see [`Keepalive::retries`]).
    KeepaliveRetries,
    /// `TCP_USER_TIMEOUT`.
    UserTimeout,
    /// The socket hook ([`Builder::socket_hook`](crate::Builder::socket_hook)).
    Hook,
}

/// A socket option (or the socket hook) that could not be applied or read back: the cause of a
/// [`Phase::Socket`](crate::Phase::Socket) error.
#[derive(Debug)]
pub struct SocketOptionError {
    option: SocketOption,
    name: &'static str,
    unsupported: bool,
    source: io::Error,
}

impl SocketOptionError {
    fn new(option: SocketOption, name: &'static str) -> impl FnOnce(io::Error) -> Self {
        move |source| SocketOptionError {
            option,
            name,
            unsupported: false,
            source,
        }
    }

    /// Which option failed.
    pub fn option(&self) -> SocketOption {
        self.option
    }

    /// The option's name as the OS calls it (`TCP_NODELAY`, `SO_RCVBUF`), `socket_hook`, or,
    /// for keepalive, which socket2 sets in one call, the `/`-joined names of the options that
    /// call sets.
    pub fn os_name(&self) -> &'static str {
        self.name
    }

    /// `true` when the OS refused the option as one it does not have (Windows:
    /// `WSAENOPROTOOPT`, as Windows before 10 1703 and Wine do for `TCP_KEEPCNT`), rather than
    /// refusing its value.
    pub fn is_unsupported(&self) -> bool {
        self.unsupported
    }
}

impl fmt::Display for SocketOptionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.unsupported {
            write!(
                f,
                "{}: this OS version does not have the option ({})",
                self.name, self.source
            )
        } else {
            write!(f, "{}: {}", self.name, self.source)
        }
    }
}

impl std::error::Error for SocketOptionError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// The connection died under a stage's socket options: an option failed, and the socket then
/// held a pending error (the peer's reset) or was no longer connected. macOS answers every
/// setsockopt on a socket the peer has reset with `EINVAL`, FreeBSD with `ECONNRESET`, so
/// without this check a reset during the handshake would look like a bad option.
#[derive(Debug)]
pub(crate) struct ConnectionLost {
    stage: Stage,
    failed: SocketOptionError,
    cause: io::Error,
}

impl fmt::Display for ConnectionLost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "connection lost while applying the {} socket options ({}): {}",
            self.stage, self.failed, self.cause
        )
    }
}

impl std::error::Error for ConnectionLost {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.cause)
    }
}

/// Why a stage's socket work failed.
#[derive(Debug)]
pub(crate) enum StageError {
    /// An option (or the hook) failed on a live connection: [`Phase::Socket`](crate::Phase::Socket).
    Option(SocketOptionError),
    /// The connection was already gone: reported in the phase the connection was in.
    Lost(ConnectionLost),
}

impl StageError {
    /// Tells a failed option from a dead connection. Before connect there is no connection to
    /// lose. After it, the socket's pending error (`SO_ERROR`, which `take_error` reads and
    /// clears) is the peer's reset if one arrived; a socket that is no longer connected
    /// (`getpeername` says `ENOTCONN`) has lost its peer even when the pending error was
    /// already consumed. Linux never fails an option on a reset socket, but a socket hook
    /// can fail on one, so the same check runs on every OS.
    fn diagnose(stage: Stage, sock: &SockRef<'_>, failed: SocketOptionError) -> Self {
        if stage == Stage::BeforeConnect {
            return StageError::Option(failed);
        }
        let cause = match sock.take_error() {
            Ok(Some(pending)) => Some(pending),
            _ => match sock.peer_addr() {
                Err(e) if e.kind() == io::ErrorKind::NotConnected => Some(e),
                _ => None,
            },
        };
        match cause {
            Some(cause) => StageError::Lost(ConnectionLost {
                stage,
                failed,
                cause,
            }),
            None => StageError::Option(failed),
        }
    }
}

/// Applies the options that belong to `stage`, then calls the socket hook.
pub(crate) fn apply(
    policy: &SocketPolicy,
    stage: Stage,
    sock: SockRef<'_>,
) -> Result<(), StageError> {
    apply_options(policy, stage, &sock).map_err(|e| StageError::diagnose(stage, &sock, e))
}

fn apply_options(
    policy: &SocketPolicy,
    stage: Stage,
    sock: &SockRef<'_>,
) -> Result<(), SocketOptionError> {
    use SocketOption as O;
    if stage == Stage::BeforeConnect {
        if let Some(size) = policy.send_buffer_size {
            sock.set_send_buffer_size(size)
                .map_err(SocketOptionError::new(O::SendBufferSize, "SO_SNDBUF"))?;
        }
        if let Some(size) = policy.recv_buffer_size {
            sock.set_recv_buffer_size(size)
                .map_err(SocketOptionError::new(O::RecvBufferSize, "SO_RCVBUF"))?;
        }
        if policy.nodelay {
            sock.set_tcp_nodelay(true)
                .map_err(SocketOptionError::new(O::Nodelay, "TCP_NODELAY"))?;
        }
    }
    if stage == policy.keepalive_at && policy.keepalive.enabled {
        sys::set_keepalive(sock, &policy.keepalive)?;
    }
    #[cfg(tcp_user_timeout)]
    if let Some(timeout) = policy
        .tcp_user_timeout()
        .filter(|_| stage == policy.keepalive_at)
    {
        sock.set_tcp_user_timeout(Some(timeout))
            .map_err(SocketOptionError::new(O::UserTimeout, "TCP_USER_TIMEOUT"))?;
    }
    if let Some(hook) = &policy.hook {
        hook(stage, SockRef::from(&**sock))
            .map_err(SocketOptionError::new(O::Hook, "socket_hook"))?;
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
/// (including anything the socket hook changed), not what we asked for. A keepalive value this
/// OS cannot report is reported as set, or as the OS's own when the connector did not set it.
pub(crate) fn read_back(policy: &SocketPolicy, sock: SockRef<'_>) -> Result<Readback, StageError> {
    read_options(policy, &sock).map_err(|e| StageError::diagnose(Stage::AfterHandshake, &sock, e))
}

fn read_options(policy: &SocketPolicy, sock: &SockRef<'_>) -> Result<Readback, SocketOptionError> {
    use SocketOption as O;
    let on = sock
        .keepalive()
        .map_err(SocketOptionError::new(O::Keepalive, "SO_KEEPALIVE"))?;
    let keepalive = if on {
        let ka = &policy.keepalive;
        // What the connector set and the OS accepted without fail, for values the OS cannot
        // report. A value the OS may refuse (Windows's TCP_KEEPCNT) is never reported as set:
        // if it could not be read back, it was not set either.
        let set = |support: OptionSupport| ka.enabled && support.set == Availability::Yes;
        let support = sys::SUPPORT;
        Some(KeepaliveInfo {
            stage: policy.keepalive_at,
            idle: reading(
                sys::keepalive_idle(sock)?,
                set(support.idle).then(|| ka.idle_duration()),
            ),
            interval: reading(
                sys::keepalive_interval(sock)?,
                set(support.interval).then(|| ka.interval_duration()),
            ),
            retries: reading(
                sys::keepalive_retries(sock)?,
                set(support.retries).then(|| ka.retry_count()),
            ),
        })
    } else {
        None
    };
    let nodelay = sock
        .tcp_nodelay()
        .map_err(SocketOptionError::new(O::Nodelay, "TCP_NODELAY"))?;
    #[cfg(tcp_user_timeout)]
    let tcp_user_timeout = sock
        .tcp_user_timeout()
        .map_err(SocketOptionError::new(O::UserTimeout, "TCP_USER_TIMEOUT"))?;
    #[cfg(not(tcp_user_timeout))]
    let tcp_user_timeout = None;
    Ok(Readback {
        keepalive,
        nodelay,
        tcp_user_timeout,
    })
}

/// A value from the kernel when it could be read, else what was set, else unknown.
fn reading<T>(read: Option<T>, set: Option<T>) -> Reading<T> {
    match (read, set) {
        (Some(value), _) => Reading::new(Some(value), ValueSource::Kernel),
        (None, Some(value)) => Reading::new(Some(value), ValueSource::AsSet),
        (None, None) => Reading::new(None, ValueSource::Os),
    }
}
