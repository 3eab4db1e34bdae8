//! The proxy settings of the environment (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`,
//! `NO_PROXY`) and, on macOS and Windows, of the system, read once when a connector is built.
//!
//! The variables are read here rather than only through hyper-util's `Matcher::from_env`
//! because its matcher drops a URL it cannot parse without a word, and the connection then
//! goes direct: exactly the silent change of route this crate exists to prevent. Reading them
//! here lets `build()` name the variable instead. Where the two differ on purpose: the CGI
//! guard ignores only `HTTP_PROXY` (hyper-util ignores every variable under CGI), and `*` in
//! `NO_PROXY` also covers IP addresses (see `NoList`).

use std::env::{self, VarError};
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
        let http_names: &[&'static str] = if cgi {
            &["http_proxy"]
        } else {
            &["HTTP_PROXY", "http_proxy"]
        };
        let all = proxy_var(&["ALL_PROXY", "all_proxy"])?;
        let http = proxy_var(http_names)?.or_else(|| all.clone());
        let https = proxy_var(&["HTTPS_PROXY", "https_proxy"])?.or(all);
        let no = first_set(&["NO_PROXY", "no_proxy"])
            .and_then(|(_, value)| value.ok())
            .and_then(|list| NoList::new(&list));
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

/// The first of `names` that is set, with its value (`Err` when it is not UTF-8). A set but
/// empty variable counts as set, as in hyper-util: `HTTPS_PROXY=` hides `https_proxy`.
fn first_set(names: &[&'static str]) -> Option<(&'static str, Result<String, VarError>)> {
    names.iter().find_map(|&name| match env::var(name) {
        Err(VarError::NotPresent) => None,
        value => Some((name, value)),
    })
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
    let value =
        value.map_err(|_| refuse("<not UTF-8>".into(), super::InvalidProxy::Unparseable))?;
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
#[derive(Debug)]
struct System {
    matcher: Matcher,
    http: Option<Arc<ProxyTarget>>,
    https: Option<Arc<ProxyTarget>>,
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
