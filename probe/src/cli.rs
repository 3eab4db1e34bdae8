//! The command line: clap's derive API, with the library's own parsers for `--stage` and
//! `--resolve`.

use std::path::PathBuf;
use std::str::FromStr;

use clap::{Parser, ValueEnum};
use http::Method;
use keepalive_connector::{
    Availability, Family, Keepalive, OptionSupport, Proxy, ResolveEntry, Stage, Trust,
};
pub(crate) use keepalive_probe::{Header, Seconds};

use crate::model::Mode;

const AFTER_HELP: &str = "\
Examples:
  keepalive-probe
      Probe an embedded local HTTPS server (works on a machine with no network).
  keepalive-probe https://api.example.com/health
      Compare every keepalive stage against one endpoint and get a verdict.
  keepalive-probe https://api.example.com/ --repeat 50
      50 connections per stage, with p50/p90/p99 per phase.
  keepalive-probe https://api.example.com/ --resolve api.example.com:443:10.0.0.7
      Probe one backend by address, keeping the host name for SNI and Host.
  keepalive-probe https://api.example.com/ --stage before-connect --keepalive-idle 15 --json
      One stage, custom keepalive values, one JSON document on stdout.
  keepalive-probe https://intranet.example/ --trust webpki
      Whether the endpoint works with Mozilla's roots only, without the system's own CAs.
  HTTPS_PROXY=http://proxy.corp:3128 keepalive-probe https://api.example.com/
      Every stage through the proxy, then direct: does this network need the proxy?
  keepalive-probe https://api.example.com/ --proxy http://proxy.corp:3128 --route proxy
      Through this proxy only, whatever the environment says.
  keepalive-probe https://api.example.com/ --idle 300 --keepalive-idle 20
      How long the server and the path keep an idle connection (up to 5 minutes), and whether
      keepalive after 20 s idle keeps one.

Routes and families:
  With a proxy for the URL (HTTPS_PROXY, HTTP_PROXY, ALL_PROXY, the system's, or --proxy) the
  stages are probed through it and then direct, unless --route says otherwise. With --family
  both (the default) and a host name with IPv4 and IPv6 addresses, the stage (after-handshake
  when all are probed) is also tried over each family alone, direct. Through a proxy, the
  proxy picks the origin's family; --family 4|6 then applies to the hop to the proxy.

Idle connections (--idle [MAX]):
  Held in parallel for up to MAX seconds (default 120), on one route (the proxy when one
  applies, or --route) and --family: a watch with keepalive every 2 s (the server's close: FIN,
  RST or GOAWAY); connections without keepalive idle 1 s ... MAX, then used (the path's silent
  drop: a request unanswered and, per the kernel, unacknowledged where a shorter idle worked);
  one with the keepalive asked for, idle MAX, then used. Ctrl-C reports what was learned.

Exit status:
  0  every probed row got an HTTP response (a 4xx or 5xx counts: the connection worked);
     with --idle: keepalive as asked kept a connection alive past the path's limit (for MAX,
     or until the server's own close)
  1  at least one connection failed or got no response, on any route or family; with --idle:
     keepalive did not keep the connection, or the run was interrupted
  2  usage error (bad URL, bad option value, a --route that no proxy applies to)";

/// `keepalive-probe`: connects to one URL once per keepalive stage, with everything else
/// equal, and says which stage to configure.
#[derive(Debug, Parser)]
#[command(
    name = "keepalive-probe",
    version,
    about = "Tells which TCP keepalive stage an HTTP(S) endpoint tolerates, phase by phase.",
    long_about = "Tells which TCP keepalive stage an HTTP(S) endpoint tolerates, phase by phase.\n\n\
        Connects to URL with keepalive applied before connect, after connect, after the TLS \
        handshake, and with keepalive off; sends one request each time; prints per phase what \
        happened (DNS, connect, TLS, time to first byte, total), the keepalive values read back \
        from the kernel (or, where this OS cannot report one, as set), and a verdict. Every \
        connection uses a fresh connector, so every TLS handshake is a full one and the stages \
        are compared on equal terms.",
    after_help = AFTER_HELP
)]
pub(crate) struct Cli {
    /// The http:// or https:// URL to probe. Without one, an embedded local HTTPS server
    /// (HTTP/2 and HTTP/1.1, certificate made for this run) is started and probed. User info
    /// (user:password@) is neither sent nor shown.
    // Checked after parsing (`crate::url`), not by clap, whose error would repeat the value
    // with any password in it.
    #[arg(value_name = "URL")]
    pub(crate) url: Option<String>,

    // The help of the next four options names what this OS has (see `platform_help`).
    #[arg(
        long,
        value_name = "STAGE",
        default_value = "all",
        value_parser = parse_stages,
        help = stage_help()
    )]
    pub(crate) stage: StageChoice,

    #[arg(long, value_name = "SECONDS", help = value_help(
        "Keepalive idle time before the first probe",
        ", in whole seconds (the kernel's unit; 0.5 is refused, not rounded). Default: 30.",
        Keepalive::platform_support().idle(),
    ))]
    pub(crate) keepalive_idle: Option<Seconds>,

    #[arg(long, value_name = "SECONDS", help = value_help(
        "Time between keepalive probes",
        ", in whole seconds. Default: 10.",
        Keepalive::platform_support().interval(),
    ))]
    pub(crate) keepalive_interval: Option<Seconds>,

    #[arg(long, value_name = "N", help = value_help(
        "Unanswered keepalive probes before the connection is dropped",
        ". Default: 3.",
        Keepalive::platform_support().retries(),
    ))]
    pub(crate) keepalive_retries: Option<u32>,

    /// Connect N times per stage and print p50/p90/p99 per phase.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 1,
        value_parser = clap::value_parser!(u32).range(1..=100_000)
    )]
    pub(crate) repeat: u32,

    /// Connect to ADDR for HOST:PORT, keeping HOST for SNI and the Host header (curl's meaning;
    /// other names still use the system resolver). Repeatable. ADDR may be a comma list.
    #[arg(long, value_name = "HOST:PORT:ADDR")]
    pub(crate) resolve: Vec<ResolveEntry>,

    /// Where trust in certificates comes from: platform (what the operating system trusts;
    /// on Linux the system's CA bundle, SSL_CERT_FILE and SSL_CERT_DIR) or webpki (Mozilla's
    /// roots compiled in). Default: platform, or with --cacert only that file.
    #[arg(long, value_name = "TRUST", value_parser = parse_trust)]
    pub(crate) trust: Option<Trust>,

    /// Trust the CA certificates in this PEM file: alone (curl's meaning), or on top of
    /// --trust when it is given.
    #[arg(long, value_name = "FILE")]
    pub(crate) cacert: Option<PathBuf>,

    /// Offer only HTTP/1.1 through ALPN.
    #[arg(long, conflicts_with = "http2")]
    pub(crate) http1: bool,

    /// Offer only HTTP/2 through ALPN (the TLS phase fails if the server does not agree).
    #[arg(long)]
    pub(crate) http2: bool,

    /// The request method.
    #[arg(
        short = 'X',
        long = "request",
        value_name = "METHOD",
        default_value = "GET"
    )]
    pub(crate) method: Method,

    /// An extra request header, 'Name: value'. Repeatable; replaces a default header of the
    /// same name (user-agent, accept).
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE")]
    pub(crate) headers: Vec<Header>,

    /// Time allowed for DNS and the TCP connect together, in seconds. Default: 10.
    #[arg(long, value_name = "SECONDS")]
    pub(crate) connect_timeout: Option<Seconds>,

    /// Time allowed for the TLS handshake, in seconds. Default: 10.
    #[arg(long, value_name = "SECONDS")]
    pub(crate) handshake_timeout: Option<Seconds>,

    /// Time allowed from sending the request to the end of the response body, in seconds.
    #[arg(long, value_name = "SECONDS", default_value = "30")]
    pub(crate) request_timeout: Seconds,

    /// Probe through this proxy instead of the environment's (http://, https://, socks5://,
    /// socks5h://, optionally with user:password@, which is never shown). The environment's
    /// proxy settings, NO_PROXY included, are then ignored.
    #[arg(long, value_name = "URL", value_parser = parse_proxy, conflicts_with = "no_proxy")]
    pub(crate) proxy: Option<Proxy>,

    /// Ignore the environment's and the system's proxy settings: direct only.
    #[arg(long)]
    pub(crate) no_proxy: bool,

    /// Which routes to probe: proxy, direct or both. Default: both when a proxy applies to the
    /// URL, else direct (a proxy or both then is a usage error naming why none applies).
    #[arg(long, value_name = "ROUTE", value_enum)]
    pub(crate) route: Option<RouteChoice>,

    /// 4 or 6: every connection over that address family only (curl's -4/-6). both: as the
    /// connector does by default (happy eyeballs), plus the stage tried over each family
    /// alone when the host name has addresses of both.
    #[arg(long, value_name = "FAMILY", value_enum, default_value = "both")]
    pub(crate) family: FamilyChoice,

    /// Measure how long an idle connection lives here, up to MAX seconds (default 120, at
    /// most 3600): when and how the server closes it (FIN, RST, HTTP/2 GOAWAY; what
    /// Keep-Alive: timeout= announced), between which idle times the path drops a flow
    /// silently (connections without keepalive held idle 1 s … MAX in parallel, then used),
    /// and whether the keepalive asked for keeps one alive for MAX. Takes about MAX; Ctrl-C
    /// reports what was learned so far. Exit 0 when keepalive kept the connection, else 1.
    #[arg(
        long,
        value_name = "MAX",
        num_args = 0..=1,
        default_missing_value = crate::idle::ladder::DEFAULT_MAX
    )]
    pub(crate) idle: Option<String>,

    /// Print one JSON document (stable field names) instead of the table.
    #[arg(long)]
    pub(crate) json: bool,

    /// Print the connector's debug events (each phase) to stderr.
    #[arg(short, long)]
    pub(crate) verbose: bool,
}

/// Which modes `--stage` selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StageChoice {
    /// The three stages and keepalive off, in connection order.
    All,
    /// One of them.
    One(Mode),
}

impl StageChoice {
    /// The modes to probe, in the fixed order connections are made.
    pub(crate) fn modes(self) -> Vec<Mode> {
        match self {
            StageChoice::All => Mode::ALL.to_vec(),
            StageChoice::One(mode) => vec![mode],
        }
    }
}

/// `--stage`'s help, naming the options a keepalive stage sets on this OS.
fn stage_help() -> String {
    let support = Keepalive::platform_support();
    let mut set = vec!["SO_KEEPALIVE"];
    for option in [support.idle(), support.interval(), support.retries()] {
        if option.set() != Availability::No && !set.contains(&option.name()) {
            set.push(option.name());
        }
    }
    format!(
        "Which keepalive stage to probe: before-connect, after-connect, after-handshake, off \
         (keepalive not set), or all. At a stage the probe sets, on {}: {}.",
        support.os(),
        set.join(", ")
    )
}

/// The help of a keepalive value's option: the OS's name for it, and what happens where this
/// OS lacks it or only some versions have it.
fn value_help(what: &str, unit: &str, option: OptionSupport) -> String {
    let name = option.name();
    match option.set() {
        Availability::Yes => format!("{what} ({name}){unit}"),
        Availability::Since(version) => format!(
            "{what} ({name}){unit} {name} exists from {version}: where the OS refuses it, a \
             value given here fails every keepalive stage (the socket phase); without this \
             option the OS's own value is used there."
        ),
        _ => format!(
            "{what} ({name}). {} has no per-socket {name}: a value given here is refused (exit \
             2); the OS's own value applies.",
            std::env::consts::OS
        ),
    }
}

/// `--route`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum RouteChoice {
    /// Through the proxy only.
    Proxy,
    /// Direct only.
    Direct,
    /// Through the proxy, then direct.
    Both,
}

/// `--family`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum FamilyChoice {
    /// IPv4 only.
    #[value(name = "4", alias = "ipv4")]
    V4,
    /// IPv6 only.
    #[value(name = "6", alias = "ipv6")]
    V6,
    /// Both, compared when the name has both.
    Both,
}

impl FamilyChoice {
    /// The family every connection is forced to, if any.
    pub(crate) fn forced(self) -> Option<Family> {
        match self {
            FamilyChoice::V4 => Some(Family::V4),
            FamilyChoice::V6 => Some(Family::V6),
            FamilyChoice::Both => None,
        }
    }
}

/// `--proxy`: an explicit rule for every origin. The URL is checked when the connector is
/// built; [`Proxy`]'s `Debug` never shows credentials.
fn parse_proxy(s: &str) -> Result<Proxy, String> {
    Ok(Proxy::all(s))
}

/// `--stage`: the library's [`Stage`] parser, plus `off` and `all`.
fn parse_stages(s: &str) -> Result<StageChoice, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "all" => return Ok(StageChoice::All),
        "off" => return Ok(StageChoice::One(Mode::Off)),
        _ => {}
    }
    Stage::from_str(s)
        .map(|stage| StageChoice::One(Mode::At(stage)))
        .map_err(|_| {
            "expected before-connect, after-connect, after-handshake, off or all".to_owned()
        })
}

/// `--trust`: the library's [`Trust`] parser (`platform`, `webpki`, `webpki-roots`,
/// `added-roots-only`).
fn parse_trust(s: &str) -> Result<Trust, String> {
    s.parse::<Trust>()
        .map_err(|_| "expected platform or webpki".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;
    use keepalive_probe::ParseSecondsError;
    use std::time::Duration;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn seconds_are_exact() {
        let s = |t: &str| t.parse::<Seconds>().map(|s| s.duration());
        assert_eq!(s("30"), Ok(Duration::from_secs(30)));
        assert_eq!(s("1.5"), Ok(Duration::from_millis(1500)));
        assert_eq!(s("0.1"), Ok(Duration::from_millis(100)));
        assert_eq!(s(".5"), Ok(Duration::from_millis(500)));
        for bad in ["", ".", "1.", "-1", "1s", "1e3", "0.1234567891", " 1"] {
            assert_eq!(s(bad), Err(ParseSecondsError), "{bad:?}");
        }
    }

    #[test]
    fn stage_choice_uses_the_library_names() {
        assert_eq!(parse_stages("all"), Ok(StageChoice::All));
        assert_eq!(parse_stages("off"), Ok(StageChoice::One(Mode::Off)));
        assert_eq!(
            parse_stages("after_handshake"),
            Ok(StageChoice::One(Mode::At(Stage::AfterHandshake)))
        );
        assert!(parse_stages("during-handshake").is_err());
        assert_eq!(StageChoice::All.modes().len(), 4);
    }

    #[test]
    fn trust_uses_the_library_names() {
        assert_eq!(parse_trust("platform"), Ok(Trust::Platform));
        assert_eq!(parse_trust("webpki"), Ok(Trust::WebpkiRoots));
        assert_eq!(parse_trust("webpki-roots"), Ok(Trust::WebpkiRoots));
        assert!(parse_trust("system").is_err());
        let cli = Cli::try_parse_from(["keepalive-probe", "--trust", "webpki"]).unwrap();
        assert_eq!(cli.trust, Some(Trust::WebpkiRoots));
        assert_eq!(
            Cli::try_parse_from(["keepalive-probe"]).unwrap().trust,
            None
        );
    }

    #[test]
    fn headers_parse() {
        let h: Header = "X-Trace:  abc ".parse().unwrap();
        assert_eq!(h.name, "x-trace");
        assert_eq!(h.value, "abc");
        assert!("no colon".parse::<Header>().is_err());
        assert!("bad name: v".parse::<Header>().is_err());
    }

    #[test]
    fn urls_are_checked_by_the_library() {
        let parse = crate::url::parse;
        assert!(parse("https://example.com/").is_ok());
        assert!(parse("example.com").is_err());
        assert!(parse("ftp://example.com/").is_err());
        assert!(parse("https://example.com:0/").is_err());
        assert!(parse("https://a..b/").is_err());
    }

    #[test]
    fn options_parse() {
        let cli = Cli::try_parse_from([
            "keepalive-probe",
            "https://example.com/",
            "--stage",
            "before-connect",
            "--resolve",
            "example.com:443:127.0.0.1",
            "-X",
            "HEAD",
            "-H",
            "a: b",
            "--keepalive-idle",
            "0.5",
            "--repeat",
            "3",
        ])
        .unwrap();
        assert_eq!(cli.stage, StageChoice::One(Mode::At(Stage::BeforeConnect)));
        assert_eq!(cli.resolve.len(), 1);
        assert_eq!(cli.method, Method::HEAD);
        assert_eq!(cli.headers.len(), 1);
        assert_eq!(cli.keepalive_idle.unwrap().raw(), "0.5");
        assert_eq!(cli.repeat, 3);
        assert!(Cli::try_parse_from(["keepalive-probe", "--repeat", "0"]).is_err());
        assert!(Cli::try_parse_from(["keepalive-probe", "--http1", "--http2"]).is_err());
    }

    #[test]
    fn route_and_family_options_parse() {
        let cli = Cli::try_parse_from(["keepalive-probe"]).unwrap();
        assert_eq!(cli.route, None);
        assert_eq!(cli.family, FamilyChoice::Both);
        assert!(cli.proxy.is_none() && !cli.no_proxy);
        let cli = Cli::try_parse_from([
            "keepalive-probe",
            "--proxy",
            "http://me:hunter2@127.0.0.1:3128",
            "--route",
            "proxy",
            "--family",
            "6",
        ])
        .unwrap();
        assert_eq!(cli.route, Some(RouteChoice::Proxy));
        assert_eq!(cli.family.forced(), Some(Family::V6));
        assert!(!format!("{cli:?}").contains("hunter2"), "{cli:?}");
        let parse = |f: &str| Cli::try_parse_from(["keepalive-probe", "--family", f]);
        assert_eq!(parse("ipv4").unwrap().family, FamilyChoice::V4);
        assert!(parse("5").is_err());
        let both = ["keepalive-probe", "--proxy", "http://p:1", "--no-proxy"];
        assert!(Cli::try_parse_from(both).is_err());
    }
}
