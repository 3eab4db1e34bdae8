//! Address families. `--family 4|6` forces one family on every connection
//! (`Builder::ip_family`). With `both`, a host name that resolves to IPv4 and IPv6 addresses
//! gets one extra row per family, direct, at the stage probed (after-handshake when all are),
//! so the report shows which family works: happy eyeballs hides a dead family from the stage
//! rows, but not from a client without it. Through a proxy the proxy picks the origin's
//! family, so family rows are direct only.

use std::net::IpAddr;
use std::time::Duration;

use keepalive_connector::{Family, Origin, Resolve, StaticResolver};

use crate::cli::FamilyChoice;
use crate::model::{family_name, family_str};

/// What the host's name says about families, and which family rows follow from it.
#[derive(Debug, Clone)]
pub(crate) struct FamilyPlan {
    /// `--family`.
    pub(crate) choice: FamilyChoice,
    /// What the host is or resolved to.
    pub(crate) lookup: Lookup,
    /// The families of the family rows, in connection order; empty for none.
    pub(crate) rows: Vec<Family>,
}

/// What the host is or resolved to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Lookup {
    /// Not looked up: one family is forced.
    Forced,
    /// Not looked up: the direct route is not probed.
    NoDirect,
    /// An IP literal.
    Literal(IpAddr),
    /// The addresses the name resolved to.
    Resolved(Vec<IpAddr>),
    /// Why the name did not resolve.
    Failed(String),
}

impl FamilyPlan {
    /// Looks the host of `origin` up with the probe's resolver (its `--resolve` entries, else
    /// the system's) when families are to be compared, within `timeout`.
    pub(crate) async fn decide(
        choice: FamilyChoice,
        origin: &Origin,
        resolver: &StaticResolver,
        direct_probed: bool,
        timeout: Duration,
    ) -> FamilyPlan {
        let lookup = if choice.forced().is_some() {
            Lookup::Forced
        } else if !direct_probed {
            Lookup::NoDirect
        } else if let Ok(ip) = origin.host().parse::<IpAddr>() {
            Lookup::Literal(ip)
        } else {
            let resolving = resolver.resolve(origin.host(), origin.port());
            match tokio::time::timeout(timeout, resolving).await {
                Ok(Ok(addrs)) => Lookup::Resolved(addrs.iter().map(|a| a.ip()).collect()),
                Ok(Err(err)) => Lookup::Failed(err.to_string()),
                Err(_elapsed) => Lookup::Failed(format!("no answer within {timeout:?}")),
            }
        };
        let families = families(&lookup);
        let rows = if families.len() == 2 {
            families
        } else {
            Vec::new()
        };
        FamilyPlan {
            choice,
            lookup,
            rows,
        }
    }

    /// The families the host has (IPv4 first), when it was looked up or is a literal.
    pub(crate) fn resolved(&self) -> Option<Vec<&'static str>> {
        match self.lookup {
            Lookup::Literal(_) | Lookup::Resolved(_) => {
                Some(families(&self.lookup).into_iter().map(family_str).collect())
            }
            _ => None,
        }
    }

    /// The header's `families:` line, without the label; `mode` is the family rows' mode.
    pub(crate) fn line(&self, host: &str, mode: &str) -> String {
        match (&self.lookup, self.choice.forced()) {
            (_, Some(family)) => format!(
                "{} only (--family {}), on every connection (through a proxy: to the proxy)",
                family_name(family),
                if family == Family::V4 { 4 } else { 6 }
            ),
            (Lookup::NoDirect, _) => "not compared: the direct route is not probed (through a \
                                      proxy, the proxy picks the origin's family)"
                .to_owned(),
            (Lookup::Literal(ip), _) => format!(
                "not compared: {ip} is an {} address",
                family_name(family_of(*ip))
            ),
            (Lookup::Failed(err), _) => format!("not compared: {host} did not resolve ({err})"),
            (Lookup::Resolved(addrs), _) if self.rows.is_empty() => format!(
                "not compared: {host} has {} addresses only ({})",
                families(&self.lookup)
                    .first()
                    .map_or("no", |f| family_name(*f)),
                list(addrs)
            ),
            (Lookup::Resolved(addrs), _) => format!(
                "{host} has IPv4 and IPv6 addresses ({}): {mode} also tried over each alone, \
                 direct",
                list(addrs)
            ),
            (Lookup::Forced, None) => String::new(),
        }
    }
}

/// The distinct families of a lookup, IPv4 first.
fn families(lookup: &Lookup) -> Vec<Family> {
    let addrs: Vec<IpAddr> = match lookup {
        Lookup::Literal(ip) => vec![*ip],
        Lookup::Resolved(addrs) => addrs.clone(),
        _ => Vec::new(),
    };
    [Family::V4, Family::V6]
        .into_iter()
        .filter(|f| addrs.iter().any(|ip| family_of(*ip) == *f))
        .collect()
}

fn family_of(ip: IpAddr) -> Family {
    if ip.is_ipv4() {
        Family::V4
    } else {
        Family::V6
    }
}

/// `a, b, c` (at most four, then `…`).
fn list(addrs: &[IpAddr]) -> String {
    let mut shown: Vec<String> = addrs.iter().take(4).map(IpAddr::to_string).collect();
    if addrs.len() > 4 {
        shown.push("…".to_owned());
    }
    shown.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn plan(url: &str, resolver: StaticResolver, choice: FamilyChoice) -> FamilyPlan {
        let origin = Origin::from_uri(&url.parse().unwrap()).unwrap();
        FamilyPlan::decide(choice, &origin, &resolver, true, Duration::from_secs(5)).await
    }

    #[tokio::test]
    async fn a_name_with_both_families_gets_a_row_for_each() {
        let ips: [IpAddr; 2] = ["::1".parse().unwrap(), "127.0.0.1".parse().unwrap()];
        let resolver = StaticResolver::new()
            .add("dual.test", 443, ips)
            .no_fallback();
        let p = plan("https://dual.test/", resolver, FamilyChoice::Both).await;
        assert_eq!(p.rows, [Family::V4, Family::V6]);
        assert_eq!(p.resolved(), Some(vec!["ipv4", "ipv6"]));
        assert_eq!(
            p.line("dual.test", "after-handshake"),
            "dual.test has IPv4 and IPv6 addresses (::1, 127.0.0.1): after-handshake also tried \
             over each alone, direct"
        );
    }

    #[tokio::test]
    async fn literals_single_families_and_forced_families_get_none() {
        let none = StaticResolver::new().no_fallback();
        let p = plan("https://[::1]:8443/", none.clone(), FamilyChoice::Both).await;
        assert!(p.rows.is_empty());
        assert_eq!(p.resolved(), Some(vec!["ipv6"]));
        assert!(p.line("::1", "x").contains("::1 is an IPv6 address"));

        let v4 = StaticResolver::new()
            .add("one.test", 443, ["10.0.0.1".parse::<IpAddr>().unwrap()])
            .no_fallback();
        let p = plan("https://one.test/", v4, FamilyChoice::Both).await;
        assert!(p.rows.is_empty());
        assert!(p
            .line("one.test", "x")
            .contains("one.test has IPv4 addresses only (10.0.0.1)"));

        let p = plan("https://nowhere.test/", none.clone(), FamilyChoice::Both).await;
        assert!(matches!(p.lookup, Lookup::Failed(_)), "{:?}", p.lookup);
        assert!(p.rows.is_empty());

        let p = plan("https://dual.test/", none, FamilyChoice::V6).await;
        assert_eq!(p.lookup, Lookup::Forced);
        assert_eq!(p.resolved(), None);
        assert!(p
            .line("dual.test", "x")
            .starts_with("IPv6 only (--family 6)"));
    }
}
