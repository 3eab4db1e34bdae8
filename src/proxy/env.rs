//! The proxy settings of the environment (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`,
//! `NO_PROXY`) and, on macOS and Windows, of the system, read once when a connector is built.
//!
//! The variables are read here rather than only through hyper-util's `Matcher::from_env`
//! because its matcher drops a URL it cannot parse without a word, and the connection then
//! goes direct: exactly the silent change of route this crate exists to prevent. Reading them
//! here lets `build()` name the variable instead. Where the two differ on purpose: the CGI
//! guard ignores only `HTTP_PROXY` (hyper-util ignores every variable under CGI), and `*` in
//! `NO_PROXY` also covers IP addresses (see `NoList`).
//!
//! Windows' environment is case-insensitive: `HTTPS_PROXY` and `https_proxy` name one
//! variable, whichever spelling set it (the last one set wins). There each variable is read
//! once, by its upper-case name (which is also the name errors and [`ProxySource::Env`] give),
//! and under CGI neither spelling of `HTTP_PROXY` is read: a request's `Proxy:` header sets
//! the one variable both spellings name.

use std::env::{self, VarError};
use std::ffi::{OsStr, OsString};
use std::sync::Arc;

#[cfg(system_proxy)]
use hyper_util::client::proxy::matcher::Matcher;

use super::rules::{Dst, NoList};
use super::url::redacted;
use super::{ProxySource, ProxyTarget};
use crate::error::{ConfigError, ConfigErrorReason, ConfigField};

/// What the environment (and the system) say, for each origin scheme.
#[derive(Debug)]
pub(crate) struct EnvProxies {
    http: Option<Arc<ProxyTarget>>,
    https: Option<Arc<ProxyTarget>>,
    no: Option<NoList>,
    /// Boxed: hyper-util's system matcher is large, and a `Rule` holds this inline.
    #[cfg(system_proxy)]
    system: Box<System>,
}

impl EnvProxies {
    /// Reads the variables (and the system settings); `extra_no` adds to `NO_PROXY`.
    pub(crate) fn read(extra_no: Option<NoList>) -> Result<EnvProxies, ConfigError> {
        // httpoxy: under CGI, the `Proxy:` request header arrives as `HTTP_PROXY`.
        let cgi = env::var_os("REQUEST_METHOD").is_some();
        let http_names = if cgi {
            names::HTTP_UNDER_CGI
        } else {
            names::HTTP
        };
        let all = proxy_var(names::ALL)?;
        let http = proxy_var(http_names)?.or_else(|| all.clone());
        let https = proxy_var(names::HTTPS)?.or(all);
        let no = match first_set(names::NO) {
            None => None,
            Some((_, Ok(list))) => NoList::new(&list),
            // Refused like a proxy variable that is not UTF-8: dropping it would send the hosts
            // it exempts through the proxy.
            Some((name, Err(value))) => {
                return Err(ConfigError::new(
                    ConfigField::Proxy,
                    format_args!("{name}={}", not_utf8(&value)),
                    ConfigErrorReason::InvalidProxy(super::InvalidProxy::NotUtf8),
                ))
            }
        };
        Ok(EnvProxies {
            http,
            https,
            no: NoList::join(no, extra_no),
            #[cfg(system_proxy)]
            system: Box::new(System::read()),
        })
    }

    /// `true` when neither the environment nor the system names any proxy.
    pub(crate) fn is_empty(&self) -> bool {
        #[cfg(system_proxy)]
        let system_empty = self.system.http.is_none() && self.system.https.is_none();
        #[cfg(not(system_proxy))]
        let system_empty = true;
        self.http.is_none() && self.https.is_none() && system_empty
    }

    /// The proxy for `dst`'s scheme, before the no-proxy list: the environment's, else the
    /// system's (which hyper-util's matcher asks with its own bypass list).
    pub(crate) fn target_for(&self, dst: &Dst<'_>) -> Option<&Arc<ProxyTarget>> {
        let env = if dst.origin.is_tls() {
            self.https.as_ref()
        } else {
            self.http.as_ref()
        };
        #[cfg(system_proxy)]
        if env.is_none() {
            return self.system.target_for(dst);
        }
        env
    }

    pub(crate) fn no(&self) -> Option<&NoList> {
        self.no.as_ref()
    }
}

/// The names each variable is read by, upper case first (it wins when both are set, as in
/// hyper-util and reqwest).
#[cfg(not(windows))]
mod names {
    pub(super) const HTTPS: &[&str] = &["HTTPS_PROXY", "https_proxy"];
    pub(super) const HTTP: &[&str] = &["HTTP_PROXY", "http_proxy"];
    /// Under CGI a request's `Proxy:` header arrives as `HTTP_PROXY`; no header can set the
    /// lower-case variable.
    pub(super) const HTTP_UNDER_CGI: &[&str] = &["http_proxy"];
    pub(super) const ALL: &[&str] = &["ALL_PROXY", "all_proxy"];
    pub(super) const NO: &[&str] = &["NO_PROXY", "no_proxy"];
}

/// Windows: one variable per name whatever its case, read by its upper-case name.
#[cfg(windows)]
mod names {
    pub(super) const HTTPS: &[&str] = &["HTTPS_PROXY"];
    pub(super) const HTTP: &[&str] = &["HTTP_PROXY"];
    /// Under CGI a request's `Proxy:` header arrives as `HTTP_PROXY`, which on Windows is also
    /// `http_proxy`: neither spelling can be trusted, so none is read.
    pub(super) const HTTP_UNDER_CGI: &[&str] = &[];
    pub(super) const ALL: &[&str] = &["ALL_PROXY"];
    pub(super) const NO: &[&str] = &["NO_PROXY"];
}

/// The first of `names` that is set, with its value (`Err` with the raw value when it is not
/// UTF-8). A set but empty variable counts as set, as in hyper-util: `HTTPS_PROXY=` hides
/// `https_proxy`.
fn first_set(names: &[&'static str]) -> Option<(&'static str, Result<String, OsString>)> {
    names.iter().find_map(|&name| match env::var(name) {
        Err(VarError::NotPresent) => None,
        Err(VarError::NotUnicode(raw)) => Some((name, Err(raw))),
        Ok(value) => Some((name, Ok(value))),
    })
}

/// What an error shows of a value that is not UTF-8: its length only (it may hold
/// credentials, and there is no parse to find them by).
fn not_utf8(value: &OsStr) -> String {
    format!("<not UTF-8, {} bytes, not shown>", value.len())
}

/// The proxy named by the first set variable of `names`; `None` when none is set or it is
/// empty; a [`ConfigError`] naming the variable when its value cannot be used.
fn proxy_var(names: &[&'static str]) -> Result<Option<Arc<ProxyTarget>>, ConfigError> {
    let Some((name, value)) = first_set(names) else {
        return Ok(None);
    };
    let refuse = |shown: String, reason| {
        ConfigError::new(
            ConfigField::Proxy,
            format_args!("{name}={shown}"),
            ConfigErrorReason::InvalidProxy(reason),
        )
    };
    let value = value.map_err(|raw| refuse(not_utf8(&raw), super::InvalidProxy::NotUtf8))?;
    if value.trim().is_empty() {
        return Ok(None);
    }
    ProxyTarget::parse(&value, ProxySource::Env(name))
        .map(|target| Some(Arc::new(target)))
        .map_err(|e| refuse(redacted(&value), e))
}

/// The system proxy settings, through hyper-util's matcher (macOS: the HTTP and HTTPS proxy
/// of the network settings; Windows: the Internet Settings of the registry, with its bypass
/// list).
#[cfg(system_proxy)]
struct System {
    matcher: Matcher,
    http: Option<Arc<ProxyTarget>>,
    https: Option<Arc<ProxyTarget>>,
}

/// Without the matcher: hyper-util's starts from the proxy variables, split its own way, and
/// its `Debug` prints them (`HTTPS_PROXY=http://bob:s3cr#t@h` shows as `http://bob:s3cr/`).
#[cfg(system_proxy)]
impl std::fmt::Debug for System {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("System")
            .field("http", &self.http)
            .field("https", &self.https)
            .finish_non_exhaustive()
    }
}

#[cfg(system_proxy)]
impl System {
    fn read() -> System {
        let matcher = Matcher::from_system();
        // Which proxy the system names for each scheme, checked once; a setting we cannot use
        // is dropped here as hyper-util drops it (the system, unlike a variable, is not the
        // user's own words to this program).
        let target = |probe: &'static str| {
            let intercept = matcher.intercept(&http::Uri::from_static(probe))?;
            ProxyTarget::from_intercept(&intercept).ok().map(Arc::new)
        };
        System {
            http: target("http://system-proxy-check.invalid/"),
            https: target("https://system-proxy-check.invalid/"),
            matcher,
        }
    }

    fn target_for(&self, dst: &Dst<'_>) -> Option<&Arc<ProxyTarget>> {
        let target = if dst.origin.is_tls() {
            self.https.as_ref()
        } else {
            self.http.as_ref()
        }?;
        // The matcher applies the system's own bypass list (and NO_PROXY).
        self.matcher.intercept(dst.uri()).map(|_| target)
    }
}
