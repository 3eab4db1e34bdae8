//! A real NAT between two hosts: three network namespaces, client ⇄ router ⇄ server, the router
//! forwarding with source NAT (`MASQUERADE`) and Linux's connection tracking, deleted on drop.
//!
//! The router forgets an established TCP flow that has been idle for
//! [`established_timeout`](Nat::established_timeout) (its namespace's
//! `net.netfilter.nf_conntrack_tcp_timeout_established`), and then drops the flow's packets
//! both ways without a word: `nf_conntrack_tcp_loose=0` keeps conntrack from adopting a
//! mid-stream packet as a new flow, and `-m conntrack --ctstate INVALID -j DROP` in `FORWARD`
//! drops what it will not adopt. That is what a home router or a carrier-grade NAT does to an
//! idle connection: the next request on it is retransmitted into silence. A flow with TCP
//! keepalive probes more frequent than the timeout stays.
//!
//! The client reaches the server at [`server_ip`](Nat::server_ip) through its default route;
//! the server sees every connection come from [`router_server_ip`](Nat::router_server_ip) and
//! has no route to the client's network. Run programs inside with [`Nat::in_client`] and
//! [`Nat::in_server`] (`ip netns exec`), or re-run a test in a role there with
//! [`crate::child::command`] and the namespace names. IPv4 only.
//!
//! Needs root, `ip` and `iptables`; the conntrack sysctls exist in a namespace once the kernel's
//! `nf_conntrack` is loaded (built in, loaded by the first conntrack rule, or by `modprobe
//! nf_conntrack`). [`Nat::create`] says which of these is missing; tests then skip loudly
//! ([`crate::child::skip`]), and under `CI=true` fail.

use std::ffi::OsStr;
use std::net::Ipv4Addr;
use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::euid;
use crate::netns::{ip, remove_stale, Unavailable, NEXT};

/// Three namespaces joined by two veth pairs, the middle one a NAT router with a short memory
/// for idle flows.
#[derive(Debug)]
pub struct Nat {
    created: Vec<String>,
    client_ns: String,
    router_ns: String,
    server_ns: String,
    subnet: u8,
    established_timeout: Duration,
}

/// Runs `program args…` and fails with what it printed on stderr.
fn run(program: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("`{program} {}`: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    } else {
        Err(format!(
            "`{program} {}`: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl Nat {
    /// Creates the namespaces and the router, with idle established flows forgotten after
    /// `established_timeout` (whole seconds, at least 1), or says why it cannot here.
    pub fn create(established_timeout: Duration) -> Result<Nat, Unavailable> {
        match euid() {
            Some(0) => {}
            uid => {
                return Err(Unavailable(format!(
                    "needs root for `ip netns` and iptables (effective uid {uid:?})"
                )))
            }
        }
        run("iptables", &["--version"]).map_err(|e| {
            Unavailable(format!(
                "needs iptables for the NAT (apt-get install iptables): {e}"
            ))
        })?;
        remove_stale();
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let pid = std::process::id();
        let mut nat = Nat {
            created: Vec::new(),
            client_ns: format!("ka-{pid}-{n}-cli"),
            router_ns: format!("ka-{pid}-{n}-rtr"),
            server_ns: format!("ka-{pid}-{n}-srv"),
            subnet: (n % 256) as u8,
            established_timeout,
        };
        let unavailable = |e: String| Unavailable(format!("cannot set up the NAT: {e}"));
        for ns in [&nat.client_ns, &nat.router_ns, &nat.server_ns] {
            ip(&["netns", "add", ns]).map_err(unavailable)?;
            nat.created.push(ns.clone());
        }
        // Interface names have at most 15 bytes: kn0 (client), kn1/kn2 (router, client and
        // server side), kn3 (server).
        let [c_if, r1_if, r2_if, s_if] = [0, 1, 2, 3].map(|i| format!("kn{i}{pid}-{n}"));
        let (c_ns, r_ns, s_ns) = (&nat.client_ns, &nat.router_ns, &nat.server_ns);
        let cidr = |ip: Ipv4Addr| format!("{ip}/24");
        let (c_ip, r1_ip, r2_ip, s_ip) = (
            cidr(nat.client_ip()),
            cidr(nat.router_client_ip()),
            cidr(nat.router_server_ip()),
            cidr(nat.server_ip()),
        );
        let gateway = nat.router_client_ip().to_string();
        #[rustfmt::skip]
        let steps: [&[&str]; 14] = [
            &["link", "add", &c_if, "netns", c_ns, "type", "veth", "peer", "name", &r1_if, "netns", r_ns],
            &["link", "add", &s_if, "netns", s_ns, "type", "veth", "peer", "name", &r2_if, "netns", r_ns],
            &["-n", c_ns, "addr", "add", &c_ip, "dev", &c_if],
            &["-n", r_ns, "addr", "add", &r1_ip, "dev", &r1_if],
            &["-n", r_ns, "addr", "add", &r2_ip, "dev", &r2_if],
            &["-n", s_ns, "addr", "add", &s_ip, "dev", &s_if],
            &["-n", c_ns, "link", "set", "lo", "up"],
            &["-n", r_ns, "link", "set", "lo", "up"],
            &["-n", s_ns, "link", "set", "lo", "up"],
            &["-n", c_ns, "link", "set", &c_if, "up"],
            &["-n", r_ns, "link", "set", &r1_if, "up"],
            &["-n", r_ns, "link", "set", &r2_if, "up"],
            &["-n", s_ns, "link", "set", &s_if, "up"],
            &["-n", c_ns, "route", "add", "default", "via", &gateway],
        ];
        for step in steps {
            ip(step).map_err(unavailable)?;
        }
        let in_router = |args: &[&str]| {
            let mut all = vec!["netns", "exec", r_ns.as_str()];
            all.extend(args);
            run("ip", &all)
        };
        in_router(&["sysctl", "-qw", "net.ipv4.ip_forward=1"]).map_err(unavailable)?;
        // The rules first: the conntrack match loads nf_conntrack where it is a module, and
        // the conntrack sysctls of a namespace exist only once it is.
        #[rustfmt::skip]
        let rules: [&[&str]; 2] = [
            &["iptables", "-t", "nat", "-A", "POSTROUTING", "-o", &r2_if, "-j", "MASQUERADE"],
            &["iptables", "-A", "FORWARD", "-m", "conntrack", "--ctstate", "INVALID", "-j", "DROP"],
        ];
        for rule in rules {
            in_router(rule).map_err(|e| {
                Unavailable(format!(
                    "cannot add the NAT's iptables rules (does this kernel have netfilter's \
                     nat and conntrack?): {e}"
                ))
            })?;
        }
        if in_router(&["test", "-e", &sysctl_path(TIMEOUT)]).is_err() {
            // Not loaded by the rules: load it by hand, then look again.
            let loaded = run("modprobe", &["nf_conntrack"]);
            if in_router(&["test", "-e", &sysctl_path(TIMEOUT)]).is_err() {
                return Err(Unavailable(format!(
                    "the router's namespace has no {TIMEOUT} sysctl: this kernel's \
                     connection tracking (nf_conntrack) is not available (modprobe \
                     nf_conntrack: {})",
                    loaded
                        .err()
                        .unwrap_or_else(|| "loaded, still no sysctl".to_owned())
                )));
            }
        }
        nat.set_established_timeout(established_timeout)
            .map_err(unavailable)?;
        nat.sysctl(LOOSE, "0").map_err(unavailable)?;
        Ok(nat)
    }

    /// The client's namespace, for `ip netns exec NAME …`.
    pub fn client_ns(&self) -> &str {
        &self.client_ns
    }

    /// The router's namespace.
    pub fn router_ns(&self) -> &str {
        &self.router_ns
    }

    /// The server's namespace.
    pub fn server_ns(&self) -> &str {
        &self.server_ns
    }

    /// The client's address, `10.124.N.2`.
    pub fn client_ip(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, 124, self.subnet, 2)
    }

    /// The router's address on the client's side, `10.124.N.1`: the client's gateway.
    pub fn router_client_ip(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, 124, self.subnet, 1)
    }

    /// The router's address on the server's side, `10.125.N.1`: where every connection seems
    /// to come from, for the server.
    pub fn router_server_ip(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, 125, self.subnet, 1)
    }

    /// The server's address, `10.125.N.2`: what the client connects to.
    pub fn server_ip(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, 125, self.subnet, 2)
    }

    /// How long the router keeps an idle established flow, as read back from its namespace.
    pub fn established_timeout(&self) -> Duration {
        self.established_timeout
    }

    /// Sets how long the router keeps an idle established flow (whole seconds; flows already
    /// tracked keep the timeout they were last refreshed with until their next packet), and
    /// reads it back.
    pub fn set_established_timeout(&mut self, timeout: Duration) -> Result<(), String> {
        let secs = timeout.as_secs();
        if secs == 0 || timeout.subsec_nanos() != 0 {
            return Err(format!(
                "{timeout:?}: conntrack takes a whole number of seconds, at least 1"
            ));
        }
        self.sysctl(TIMEOUT, &secs.to_string())?;
        self.established_timeout = timeout;
        Ok(())
    }

    /// How many flows the router tracks now (`nf_conntrack_count` of its namespace).
    pub fn tracked_flows(&self) -> Result<u64, String> {
        let text = run(
            "ip",
            &["netns", "exec", &self.router_ns, "cat", &sysctl_path(COUNT)],
        )?;
        text.parse().map_err(|e| format!("{COUNT}: {text:?}: {e}"))
    }

    /// `program`, to run in the client's namespace (`ip netns exec NS program`); add its
    /// arguments to the returned command.
    pub fn in_client(&self, program: impl AsRef<OsStr>) -> Command {
        in_ns(&self.client_ns, program)
    }

    /// `program`, to run in the server's namespace.
    pub fn in_server(&self, program: impl AsRef<OsStr>) -> Command {
        in_ns(&self.server_ns, program)
    }

    /// Sets a sysctl of the router's namespace and reads it back.
    fn sysctl(&self, name: &str, value: &str) -> Result<(), String> {
        let ns = &self.router_ns;
        run(
            "ip",
            &[
                "netns",
                "exec",
                ns,
                "sysctl",
                "-qw",
                &format!("{name}={value}"),
            ],
        )?;
        let read = run("ip", &["netns", "exec", ns, "sysctl", "-n", name])?;
        if read == value {
            Ok(())
        } else {
            Err(format!("{name}: set {value}, read back {read:?}"))
        }
    }
}

const TIMEOUT: &str = "net.netfilter.nf_conntrack_tcp_timeout_established";
const LOOSE: &str = "net.netfilter.nf_conntrack_tcp_loose";
const COUNT: &str = "net.netfilter.nf_conntrack_count";

/// `/proc/sys/net/…` of a sysctl name.
fn sysctl_path(name: &str) -> String {
    format!("/proc/sys/{}", name.replace('.', "/"))
}

fn in_ns(ns: &str, program: impl AsRef<OsStr>) -> Command {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", ns]).arg(program);
    cmd
}

impl Drop for Nat {
    fn drop(&mut self) {
        // Deleting a namespace deletes the veth ends inside it, the rules and the flows.
        for ns in self.created.drain(..).rev() {
            if let Err(e) = ip(&["netns", "del", &ns]) {
                eprintln!("cleanup: {e}");
            }
        }
    }
}
