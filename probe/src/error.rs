//! The probe's own errors: what stops it before or instead of a report, each with its exit
//! status. Failed connections are not errors here: they are results, reported with exit 1.

use std::fmt;
use std::io;
use std::path::PathBuf;

use keepalive_connector::ConfigError;

/// What the process exits with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exit {
    /// Every probed stage got an HTTP response.
    Ok = 0,
    /// At least one stage got no response, or the probe could not run.
    Failed = 1,
    /// A usage error: bad URL, bad option value.
    Usage = 2,
}

impl From<Exit> for std::process::ExitCode {
    fn from(exit: Exit) -> Self {
        std::process::ExitCode::from(exit as u8)
    }
}

/// Why the probe stopped without a report.
#[derive(Debug)]
pub(crate) enum ProbeError {
    /// The command line did not parse; clap's first line, naming the bad value.
    Usage(String),
    /// The connector refused a value; `flag` and `given` say which option and what was typed
    /// (no flag: a setting from the environment, which the connector's error names itself).
    Config {
        flag: &'static str,
        given: String,
        source: ConfigError,
    },
    /// `--cacert` could not be read.
    CaFile { path: PathBuf, source: io::Error },
    /// The tokio runtime or the embedded server could not start.
    Setup {
        what: &'static str,
        source: io::Error,
    },
}

impl ProbeError {
    /// The exit status for this error.
    pub(crate) fn exit(&self) -> Exit {
        match self {
            ProbeError::Usage(_) | ProbeError::Config { .. } | ProbeError::CaFile { .. } => {
                Exit::Usage
            }
            ProbeError::Setup { .. } => Exit::Failed,
        }
    }
}

impl fmt::Display for ProbeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProbeError::Usage(line) => f.write_str(line),
            ProbeError::Config {
                flag: "", source, ..
            } => write!(f, "error: {source}"),
            ProbeError::Config {
                flag,
                given,
                source,
            } => write!(f, "error: {flag} {given}: {source}"),
            ProbeError::CaFile { path, source } => {
                write!(f, "error: --cacert {}: {source}", path.display())
            }
            ProbeError::Setup { what, source } => write!(f, "error: {what}: {source}"),
        }
    }
}

impl std::error::Error for ProbeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ProbeError::Usage(_) => None,
            ProbeError::Config { source, .. } => Some(source),
            ProbeError::CaFile { source, .. } | ProbeError::Setup { source, .. } => Some(source),
        }
    }
}
