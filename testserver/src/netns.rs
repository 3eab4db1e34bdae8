//! Two network namespaces joined by a veth pair, deleted on drop: a server side and a client
//! side with nothing else configured, for tests that need a real path between two hosts (a
//! peer that vanishes, an address that black-holes). Needs root for `ip netns`; a test without
//! it skips loudly ([`crate::child::skip`]), and under `CI=true` fails.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Why namespaces cannot be made here (the tests then skip, or fail under CI).
#[derive(Debug)]
pub struct Unavailable(pub String);

/// Numbers the namespaces of this process (shared with [`crate::nat`], so names and subnets
/// never collide).
pub(crate) static NEXT: AtomicUsize = AtomicUsize::new(0);

/// `server_ns` holds `server_if` with `10.123.N.1/24`, `client_ns` holds `client_if` with
/// `10.123.N.2/24`; nothing else is configured anywhere.
#[derive(Debug)]
pub struct Pair {
    created: Vec<String>,
    server_ns: String,
    client_ns: String,
    server_if: String,
    subnet: u8,
}

pub(crate) fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("`ip {}`: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`ip {}`: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl Pair {
    /// Creates the two namespaces and the veth pair between them (IPv4 only), or says why it
    /// cannot (not root, no `ip`).
    pub fn create() -> Result<Pair, Unavailable> {
        match crate::euid() {
            Some(0) => {}
            uid => {
                return Err(Unavailable(format!(
                    "needs root for `ip netns` (effective uid {uid:?})"
                )))
            }
        }
        remove_stale();
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let pid = std::process::id();
        let mut pair = Pair {
            created: Vec::new(),
            server_ns: format!("ka-{pid}-{n}-srv"),
            client_ns: format!("ka-{pid}-{n}-cli"),
            // Interface names have at most 15 bytes.
            server_if: format!("kas{pid}-{n}"),
            subnet: (n % 256) as u8,
        };
        let client_if = format!("kac{pid}-{n}");
        let unavailable = |e: String| Unavailable(format!("cannot set up namespaces: {e}"));
        for ns in [pair.server_ns.clone(), pair.client_ns.clone()] {
            ip(&["netns", "add", &ns]).map_err(unavailable)?;
            pair.created.push(ns);
        }
        let (s_ns, c_ns, s_if) = (&pair.server_ns, &pair.client_ns, &pair.server_if);
        let (s_ip, c_ip) = (
            format!("{}/24", pair.server_ip()),
            format!("{}/24", pair.client_ip()),
        );
        // Fixed, locally administered MACs, so each side can hold a permanent neighbour
        // entry for the other (below).
        let (s_mac, c_mac) = (
            format!("02:6b:61:{:02x}:00:01", pair.subnet),
            format!("02:6b:61:{:02x}:00:02", pair.subnet),
        );
        let (s_addr, c_addr) = (pair.server_ip().to_string(), pair.client_ip().to_string());
        // Permanent neighbour entries: when the link goes down the kernel flushes learned
        // ARP entries, and then reports failed ARP resolution to TCP as a soft error
        // (EHOSTUNREACH instead of ETIMEDOUT). With a real dead host behind a live router
        // the next hop stays resolved; a permanent entry models that, so what is measured
        // is TCP, not ARP.
        //
        // Explicit interface indexes: two fresh namespaces would both number their veth
        // end 2, and a veth whose index equals its peer's ("iflink") makes the kernel treat
        // its carrier loss as a non-urgent link event, processed up to a second late
        // (net/core/link_watch.c). Until then every transmit fails locally and TCP neither
        // starts its retransmission timer nor counts keepalive probes, which would add up
        // to a second of noise to each measurement.
        #[rustfmt::skip]
        let steps: [&[&str]; 9] = [
            &["link", "add", s_if, "address", &s_mac, "index", "10", "netns", s_ns, "type", "veth",
              "peer", "name", &client_if, "address", &c_mac, "index", "11", "netns", c_ns],
            &["-n", s_ns, "addr", "add", &s_ip, "dev", s_if],
            &["-n", c_ns, "addr", "add", &c_ip, "dev", &client_if],
            &["-n", s_ns, "neigh", "replace", &c_addr, "lladdr", &c_mac, "dev", s_if, "nud", "permanent"],
            &["-n", c_ns, "neigh", "replace", &s_addr, "lladdr", &s_mac, "dev", &client_if, "nud", "permanent"],
            &["-n", s_ns, "link", "set", "lo", "up"],
            &["-n", c_ns, "link", "set", "lo", "up"],
            &["-n", s_ns, "link", "set", s_if, "up"],
            &["-n", c_ns, "link", "set", &client_if, "up"],
        ];
        for step in steps {
            ip(step).map_err(unavailable)?;
        }
        Ok(pair)
    }

    /// [`create`](Pair::create), plus IPv6: `fd00:6b61:N::1/64` on the server's side and
    /// `fd00:6b61:N::2/64` on the client's, usable at once (no duplicate address detection),
    /// with permanent neighbour entries as for IPv4.
    pub fn create_dual_stack() -> Result<Pair, Unavailable> {
        let pair = Pair::create()?;
        let client_if = pair.server_if.replace("kas", "kac");
        let (s_ns, c_ns, s_if) = (&pair.server_ns, &pair.client_ns, &pair.server_if);
        let (s_ip, c_ip) = (
            format!("{}/64", pair.server_ip6()),
            format!("{}/64", pair.client_ip6()),
        );
        let (s_mac, c_mac) = (
            format!("02:6b:61:{:02x}:00:01", pair.subnet),
            format!("02:6b:61:{:02x}:00:02", pair.subnet),
        );
        let (s_addr, c_addr) = (pair.server_ip6().to_string(), pair.client_ip6().to_string());
        #[rustfmt::skip]
        let steps: [&[&str]; 4] = [
            &["-n", s_ns, "addr", "add", &s_ip, "dev", s_if, "nodad"],
            &["-n", c_ns, "addr", "add", &c_ip, "dev", &client_if, "nodad"],
            &["-n", s_ns, "neigh", "replace", &c_addr, "lladdr", &c_mac, "dev", s_if, "nud", "permanent"],
            &["-n", c_ns, "neigh", "replace", &s_addr, "lladdr", &s_mac, "dev", &client_if, "nud", "permanent"],
        ];
        for step in steps {
            ip(step)
                .map_err(|e| Unavailable(format!("cannot set up IPv6 in the namespaces: {e}")))?;
        }
        Ok(pair)
    }

    /// The server's namespace, for `ip netns exec NAME …`.
    pub fn server_ns(&self) -> &str {
        &self.server_ns
    }

    /// The client's namespace.
    pub fn client_ns(&self) -> &str {
        &self.client_ns
    }

    /// The server side's IPv4 address, `10.123.N.1`.
    pub fn server_ip(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, 123, self.subnet, 1)
    }

    /// The client side's IPv4 address, `10.123.N.2`.
    pub fn client_ip(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, 123, self.subnet, 2)
    }

    /// The server side's IPv6 address, `fd00:6b61:N::1` (after
    /// [`create_dual_stack`](Pair::create_dual_stack)).
    pub fn server_ip6(&self) -> Ipv6Addr {
        Ipv6Addr::new(0xfd00, 0x6b61, self.subnet.into(), 0, 0, 0, 0, 1)
    }

    /// The client side's IPv6 address, `fd00:6b61:N::2`.
    pub fn client_ip6(&self) -> Ipv6Addr {
        Ipv6Addr::new(0xfd00, 0x6b61, self.subnet.into(), 0, 0, 0, 0, 2)
    }

    /// The server's replies to `client` go nowhere: a blackhole route in the server's
    /// namespace. SYNs still arrive, but no SYN-ACK leaves and no ICMP error either, so the
    /// client sees what a black-holed path looks like: silence.
    pub fn blackhole_replies_to(&self, client: IpAddr) -> Result<(), String> {
        let (family, prefix) = match client {
            IpAddr::V4(_) => ("-4", format!("{client}/32")),
            IpAddr::V6(_) => ("-6", format!("{client}/128")),
        };
        ip(&[
            family,
            "-n",
            &self.server_ns,
            "route",
            "add",
            "blackhole",
            &prefix,
        ])
    }

    /// The peer vanishes: its interface goes down, without a FIN or a RST.
    pub fn server_link_down(&self) -> Result<(), String> {
        ip(&[
            "-n",
            &self.server_ns,
            "link",
            "set",
            &self.server_if,
            "down",
        ])
    }
}

/// Deletes namespaces named by this module or [`crate::nat`] (`ka-PID-N-srv`/`-cli`/`-rtr`)
/// whose process is gone: left behind only when a run was killed before its guards could drop.
pub(crate) fn remove_stale() {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    for name in String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
    {
        let mut parts = name.split('-');
        let (Some("ka"), Some(pid), Some(_), Some("srv" | "cli" | "rtr"), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            continue;
        };
        if pid.parse::<u32>().is_ok() && !std::path::Path::new("/proc").join(pid).exists() {
            let _ = ip(&["netns", "del", name]);
        }
    }
}

impl Drop for Pair {
    fn drop(&mut self) {
        // Deleting a namespace deletes the veth end inside it, and so the pair.
        for ns in self.created.drain(..).rev() {
            if let Err(e) = ip(&["netns", "del", &ns]) {
                eprintln!("cleanup: {e}");
            }
        }
    }
}
