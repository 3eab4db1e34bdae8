//! The connector factory: a fresh [`Connector`] for one row (a keepalive mode on a route, over
//! a family) from the run's [`Settings`], and the probe's own name for a value the library
//! refuses.

use keepalive_connector::{
    Builder, ConfigError, ConfigField, Connector, Family, Keepalive, Proxy, StaticResolver,
};

use crate::error::ProbeError;
use crate::idle::KeepaliveChoice;
use crate::model::{Mode, RouteKind};
use crate::route::Rules;
use crate::settings::{Http, Roots, Settings};

impl Settings {
    /// A fresh connector for `mode` on `route`, over `family` alone when given: its own TLS
    /// session cache, so every handshake is a full one and no stage profits from an earlier
    /// stage's session. The direct route goes direct whatever the environment says; the proxy
    /// route keeps the user's rules. The embedded server's rows are all direct: it listens on
    /// this host's loopback, which only direct reaches.
    pub(crate) fn connector(
        &self,
        mode: Mode,
        route: RouteKind,
        family: Option<Family>,
        roots: &Roots,
    ) -> Result<Connector, ProbeError> {
        self.connector_with(mode, route, family, roots, &self.resolver)
    }

    /// [`connector`](Settings::connector) with another resolver (the embedded server's).
    pub(crate) fn connector_with(
        &self,
        mode: Mode,
        route: RouteKind,
        family: Option<Family>,
        roots: &Roots,
        resolver: &StaticResolver,
    ) -> Result<Connector, ProbeError> {
        let keepalive = match mode {
            Mode::At(stage) => Some((self.keepalive, stage)),
            Mode::Off => None,
        };
        self.connector_keepalive(keepalive, route, family, roots, resolver)
    }

    /// [`connector_with`](Settings::connector_with) with keepalive values of its own (`None`:
    /// off), for `--idle`'s connections.
    pub(crate) fn connector_keepalive(
        &self,
        keepalive: KeepaliveChoice,
        route: RouteKind,
        family: Option<Family>,
        roots: &Roots,
        resolver: &StaticResolver,
    ) -> Result<Connector, ProbeError> {
        let mut builder: Builder = Connector::builder().dns_resolver(resolver.clone());
        let rule = match route {
            RouteKind::Direct => Some(Proxy::none()),
            RouteKind::Proxy => self.rules.proxy_rule(),
        };
        if let Some(rule) = rule {
            builder = builder.proxy(rule);
        }
        if let Some(family) = family {
            builder = builder.ip_family(family);
        }
        builder = match keepalive {
            Some((values, stage)) => builder.keepalive(values).keepalive_at(stage),
            None => builder.keepalive(Keepalive::off()),
        };
        if let Some(timeout) = self.connect_timeout {
            builder = builder.connect_timeout(timeout);
        }
        if let Some(timeout) = self.handshake_timeout {
            builder = builder.handshake_timeout(timeout);
        }
        builder = match self.http {
            Http::Both => builder,
            Http::Http1 => builder.http1_only(),
            Http::Http2 => builder.http2_only(),
        };
        builder = builder.trust(roots.trust);
        for pem in &roots.pems {
            builder = builder.add_root_certificates_pem(pem);
        }
        builder.build().map_err(|e| self.config_error(e))
    }

    /// Names the option behind a value the connector refused, with what the user typed.
    fn config_error(&self, source: ConfigError) -> ProbeError {
        let g = &self.given;
        let (flag, given) = match source.field() {
            ConfigField::KeepaliveIdle => ("--keepalive-idle", g.idle.clone()),
            ConfigField::KeepaliveInterval => ("--keepalive-interval", g.interval.clone()),
            ConfigField::KeepaliveRetries => ("--keepalive-retries", g.retries.clone()),
            ConfigField::ConnectTimeout => ("--connect-timeout", g.connect_timeout.clone()),
            ConfigField::HandshakeTimeout => ("--handshake-timeout", g.handshake_timeout.clone()),
            ConfigField::RootCertificates => ("--cacert", g.cacert.clone()),
            ConfigField::Trust => ("--trust", g.trust.clone()),
            // --proxy, or a proxy variable of the environment (the value names it); the
            // library's value has the credentials redacted, so it is what is shown.
            ConfigField::Proxy if matches!(self.rules, Rules::Explicit(_)) => {
                ("--proxy", Some(source.value().trim_matches('"').to_owned()))
            }
            ConfigField::Proxy => ("", None),
            // The CA store variables: the connector's error names the variable itself.
            ConfigField::SslCertFile | ConfigField::SslCertDir => ("", None),
            _ => ("option", None),
        };
        ProbeError::Config {
            flag,
            given: given.unwrap_or_else(|| source.value().to_owned()),
            source,
        }
    }
}
