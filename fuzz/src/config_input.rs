//! The layout of a `uri_and_config` input, in one place: [`ConfigInput::decode`] reads it for
//! the target and [`ConfigInput::encode`] writes it for `gen_seeds`, so the two cannot disagree.
//!
//! ```text
//! [settings: ConfigInput::LEN bytes] [uri] \n [--resolve entry] \n [stage name] \n [PEM data]
//! ```
//!
//! The settings, little-endian, durations as `u32` seconds then `u32` nanoseconds (nanoseconds
//! past a second carry into the seconds); an input cut short reads as zeros:
//!
//! | bytes | field |
//! |---|---|
//! | 0 | [`flags`](ConfigInput::flags), see [`config_flags`] |
//! | 1-8, 9-16 | keepalive idle, interval |
//! | 17-20 | keepalive retries (`u32`) |
//! | 21-28, 29-36, 37-44 | connect timeout, handshake timeout, TCP user timeout |
//! | 45 | `tls_config`: bit 0 use one, bits 1-2 its own ALPN list (none, `h2`, `http/1.1`, both) |
//! | 46-53, 54-61 | send and receive buffer sizes (`u64`) |
//! | 62 | [`set`](ConfigInput::set), see [`set_flags`] |
//! | 63-70, 71-78 | happy eyeballs delay, DNS cache TTL |
//! | 79-82 | DNS cache capacity (`u32`) |
//! | 83-90, 91-98 | pool idle timeout, read timeout |
//! | 99-102 | max re-sends (`u32`) |
//! | 103-110 | silent-drop timeout |
//!
//! Bytes 62 and on came later (the dial and `Client` settings); an input of the older 62-byte
//! layout reads the same once 49 zero bytes are put after its first 62 (`set` = 0 sets none of
//! them).

use std::time::Duration;

/// Bits of [`ConfigInput::flags`].
pub mod config_flags {
    /// Keepalive off.
    pub const KEEPALIVE_OFF: u8 = 0x01;
    /// `http1_only()`.
    pub const HTTP1_ONLY: u8 = 0x02;
    /// `http2_only()` (after `http1_only()` when both are set: the last one wins).
    pub const HTTP2_ONLY: u8 = 0x04;
    /// `trust(Trust::AddedRootsOnly)`.
    pub const ADDED_ROOTS_ONLY: u8 = 0x08;
    /// `add_root_certificates_pem(CA_PEM)`.
    pub const ADD_CA: u8 = 0x10;
    /// `add_root_certificates_pem(<the fourth text field>)`.
    pub const ADD_PEM_FIELD: u8 = 0x20;
    /// Set `tcp_user_timeout` (Linux, Android, Fuchsia).
    pub const TCP_USER_TIMEOUT: u8 = 0x40;
    /// Set `send_buffer_size` and `recv_buffer_size`.
    pub const BUFFERS: u8 = 0x80;
}

/// Bits of [`ConfigInput::set`]: which dial and `Client` settings are set (a clear bit leaves
/// the builder's default).
pub mod set_flags {
    /// `happy_eyeballs_delay(happy_eyeballs_delay)`.
    pub const HAPPY_EYEBALLS_DELAY: u8 = 0x01;
    /// `dns_cache_ttl(Some(dns_cache_ttl))`.
    pub const DNS_CACHE_TTL: u8 = 0x02;
    /// `dns_cache_ttl(None)`, after the above when both are set: the cache off.
    pub const DNS_CACHE_OFF: u8 = 0x04;
    /// `dns_cache_capacity(dns_cache_capacity)`.
    pub const DNS_CACHE_CAPACITY: u8 = 0x08;
    /// `pool_idle_timeout(pool_idle_timeout)`.
    pub const POOL_IDLE_TIMEOUT: u8 = 0x10;
    /// `read_timeout(read_timeout)`.
    pub const READ_TIMEOUT: u8 = 0x20;
    /// `max_resends(max_resends)`.
    pub const MAX_RESENDS: u8 = 0x40;
    /// `silent_drop_timeout(silent_drop_timeout)` (Linux, Android, Fuchsia).
    pub const SILENT_DROP_TIMEOUT: u8 = 0x80;
}

/// The builder settings of a `uri_and_config` input (see the module docs for the layout).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigInput {
    /// What is set or turned on: [`config_flags`].
    pub flags: u8,
    /// `Keepalive::idle`.
    pub idle: Duration,
    /// `Keepalive::interval`.
    pub interval: Duration,
    /// `Keepalive::retries`.
    pub retries: u32,
    /// `connect_timeout`.
    pub connect_timeout: Duration,
    /// `handshake_timeout`.
    pub handshake_timeout: Duration,
    /// `tcp_user_timeout`, with [`config_flags::TCP_USER_TIMEOUT`].
    pub tcp_user_timeout: Duration,
    /// Bit 0: a `tls_config` of its own; bits 1-2: that config's ALPN list.
    pub tls_config: u8,
    /// `send_buffer_size`, with [`config_flags::BUFFERS`].
    pub send_buffer_size: u64,
    /// `recv_buffer_size`, with [`config_flags::BUFFERS`].
    pub recv_buffer_size: u64,
    /// Which of the settings below are set: [`set_flags`].
    pub set: u8,
    /// `happy_eyeballs_delay`.
    pub happy_eyeballs_delay: Duration,
    /// `dns_cache_ttl`.
    pub dns_cache_ttl: Duration,
    /// `dns_cache_capacity`.
    pub dns_cache_capacity: u32,
    /// `pool_idle_timeout`.
    pub pool_idle_timeout: Duration,
    /// `read_timeout`.
    pub read_timeout: Duration,
    /// `max_resends`.
    pub max_resends: u32,
    /// `silent_drop_timeout`.
    pub silent_drop_timeout: Duration,
}

/// A configuration `build()` accepts, with nothing optional set: what a seed starts from.
impl Default for ConfigInput {
    fn default() -> Self {
        let secs = Duration::from_secs;
        ConfigInput {
            flags: 0,
            idle: secs(30),
            interval: secs(10),
            retries: 3,
            connect_timeout: secs(10),
            handshake_timeout: secs(10),
            tcp_user_timeout: secs(20),
            tls_config: 0,
            send_buffer_size: 65_536,
            recv_buffer_size: 65_536,
            set: 0,
            happy_eyeballs_delay: Duration::from_millis(250),
            dns_cache_ttl: secs(60),
            dns_cache_capacity: 256,
            pool_idle_timeout: secs(90),
            read_timeout: secs(30),
            max_resends: 1,
            silent_drop_timeout: secs(1),
        }
    }
}

impl ConfigInput {
    /// How many bytes the settings take before the text fields.
    pub const LEN: usize = 111;

    /// Splits an input into its settings and its four text fields (URI, `--resolve` entry,
    /// stage name, PEM data; missing ones are empty).
    pub fn decode(data: &[u8]) -> (ConfigInput, [&[u8]; 4]) {
        let (numbers, text) = data.split_at(data.len().min(Self::LEN));
        let mut r = Reader(numbers);
        let input = ConfigInput {
            flags: r.u8(),
            idle: r.duration(),
            interval: r.duration(),
            retries: r.u32(),
            connect_timeout: r.duration(),
            handshake_timeout: r.duration(),
            tcp_user_timeout: r.duration(),
            tls_config: r.u8(),
            send_buffer_size: r.u64(),
            recv_buffer_size: r.u64(),
            set: r.u8(),
            happy_eyeballs_delay: r.duration(),
            dns_cache_ttl: r.duration(),
            dns_cache_capacity: r.u32(),
            pool_idle_timeout: r.duration(),
            read_timeout: r.duration(),
            max_resends: r.u32(),
            silent_drop_timeout: r.duration(),
        };
        let mut fields = text.splitn(4, |&b| b == b'\n');
        let text = [(); 4].map(|()| fields.next().unwrap_or_default());
        (input, text)
    }

    /// The input that [`decode`](ConfigInput::decode)s to these settings and these text fields
    /// (at most four; only the last may hold a `\n`).
    ///
    /// # Panics
    ///
    /// On a duration of more than `u32::MAX` seconds, which the layout cannot hold, or more
    /// than four text fields.
    pub fn encode(&self, text: &[&[u8]]) -> Vec<u8> {
        assert!(text.len() <= 4, "four text fields at most");
        let mut w = Vec::with_capacity(Self::LEN);
        w.push(self.flags);
        put_duration(&mut w, self.idle);
        put_duration(&mut w, self.interval);
        w.extend_from_slice(&self.retries.to_le_bytes());
        put_duration(&mut w, self.connect_timeout);
        put_duration(&mut w, self.handshake_timeout);
        put_duration(&mut w, self.tcp_user_timeout);
        w.push(self.tls_config);
        w.extend_from_slice(&self.send_buffer_size.to_le_bytes());
        w.extend_from_slice(&self.recv_buffer_size.to_le_bytes());
        w.push(self.set);
        put_duration(&mut w, self.happy_eyeballs_delay);
        put_duration(&mut w, self.dns_cache_ttl);
        w.extend_from_slice(&self.dns_cache_capacity.to_le_bytes());
        put_duration(&mut w, self.pool_idle_timeout);
        put_duration(&mut w, self.read_timeout);
        w.extend_from_slice(&self.max_resends.to_le_bytes());
        put_duration(&mut w, self.silent_drop_timeout);
        assert_eq!(w.len(), Self::LEN, "the layout and LEN disagree");
        w.extend_from_slice(&text.join(&b'\n'));
        w
    }
}

fn put_duration(w: &mut Vec<u8>, d: Duration) {
    let secs = u32::try_from(d.as_secs()).expect("at most u32::MAX seconds fit the layout");
    w.extend_from_slice(&secs.to_le_bytes());
    w.extend_from_slice(&d.subsec_nanos().to_le_bytes());
}

/// Reads little-endian numbers from the front of the input; zeros once it runs out.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn u8(&mut self) -> u8 {
        let (first, rest) = self.0.split_first().map_or((0, &[][..]), |(f, r)| (*f, r));
        self.0 = rest;
        first
    }

    fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }

    fn u64(&mut self) -> u64 {
        u64::from(self.u32()) | (u64::from(self.u32()) << 32)
    }

    /// Whole seconds and nanoseconds; the nanoseconds may carry into seconds.
    fn duration(&mut self) -> Duration {
        Duration::new(u64::from(self.u32()), self.u32())
    }
}
