//! The command's top level: parse the command line, turn it into [`Settings`], probe (or hold
//! connections, with `--idle`), print the report, and say how to exit. The pieces live next
//! door: `settings` (command line → checked settings), `connectors` (a fresh connector per
//! connection from those settings), `probe_loop` (the rows × rounds of connections, and
//! `--idle`'s plan).

use std::ffi::OsString;
use std::io::{IsTerminal, Write};

use clap::Parser;

use crate::cli::Cli;
use crate::error::{Exit, ProbeError};
use crate::json;
use crate::probe_loop::{idle_all, probe_all};
use crate::report;
use crate::settings::Settings;
use crate::table::Palette;

/// Runs the probe on `args` and says how to exit. An error is one line on stderr and, with
/// `--json`, also a JSON document on stdout, so a script reading stdout always gets one.
pub(crate) fn main<I, T>(args: I) -> Exit
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    // Known before parsing, which may be what fails: `--json` anywhere before a `--`.
    let json = args
        .iter()
        .skip(1)
        .take_while(|a| *a != "--")
        .any(|a| a == "--json");
    match run(args) {
        Ok(exit) => exit,
        Err(err) => {
            eprintln!("keepalive-probe: {err}");
            if json {
                let _ = std::io::stdout()
                    .lock()
                    .write_all(json::render_error(&err).as_bytes());
            }
            err.exit()
        }
    }
}

/// Parses `args`, probes, prints the report and says how to exit.
pub(crate) fn run<I, T>(args: I) -> Result<Exit, ProbeError>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(err) => return clap_outcome(&err),
    };
    if cli.verbose {
        init_tracing();
    }
    let settings = Settings::from_cli(cli)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| ProbeError::Setup {
            what: "cannot start the tokio runtime",
            source,
        })?;
    if settings.idle.is_some() {
        let report = runtime.block_on(idle_all(&settings))?;
        let text = if settings.json {
            crate::idle::render_json(&report)
        } else {
            crate::idle::render_text(&report, Palette { enabled: colour() })
        };
        let _ = std::io::stdout().lock().write_all(text.as_bytes());
        return Ok(report.exit());
    }
    let report = runtime.block_on(probe_all(&settings))?;
    let text = if settings.json {
        json::render(&report)
    } else {
        report::render(&report, Palette { enabled: colour() })
    };
    // A closed stdout (`| head`) is not worth a panic; the exit status still tells.
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    Ok(if report.all_ok() {
        Exit::Ok
    } else {
        Exit::Failed
    })
}

/// Colour on a terminal, unless `NO_COLOR` says otherwise.
fn colour() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// `--help` and `--version` print and succeed; anything else is a usage error, reported on one
/// line (clap's first line names the option and the bad value).
fn clap_outcome(err: &clap::Error) -> Result<Exit, ProbeError> {
    use clap::error::ErrorKind;
    match err.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = err.print();
            Ok(Exit::Ok)
        }
        _ => {
            let text = err.to_string();
            let first = text.lines().next().unwrap_or("error: bad command line");
            Err(ProbeError::Usage(format!("{first} (see --help)")))
        }
    }
}

/// `-v`: the connector's and the probe's debug events on stderr.
fn init_tracing() {
    use tracing::Level;
    use tracing_subscriber::filter::Targets;
    use tracing_subscriber::prelude::*;
    let filter = Targets::new()
        .with_target("keepalive_connector", Level::DEBUG)
        .with_target("keepalive_probe", Level::DEBUG);
    tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
        .with(filter)
        .init();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(args: &[&str]) -> String {
        let mut all = vec!["keepalive-probe"];
        all.extend(args);
        let err = run(all).unwrap_err();
        assert_eq!(err.exit(), Exit::Usage, "{err}");
        err.to_string()
    }

    #[test]
    fn refused_values_name_the_option_and_the_value() {
        let msg = usage(&["https://127.0.0.1:1/", "--keepalive-idle", "0.5"]);
        assert!(msg.starts_with("error: --keepalive-idle 0.5: "), "{msg}");
        let msg = usage(&["https://127.0.0.1:1/", "--keepalive-interval", "1.5"]);
        assert!(
            msg.starts_with("error: --keepalive-interval 1.5: "),
            "{msg}"
        );
        let msg = usage(&["https://127.0.0.1:1/", "--keepalive-retries", "0"]);
        assert!(msg.starts_with("error: --keepalive-retries 0: "), "{msg}");
        let msg = usage(&["https://127.0.0.1:1/", "--connect-timeout", "0"]);
        assert!(msg.starts_with("error: --connect-timeout 0: "), "{msg}");
        let msg = usage(&["https://127.0.0.1:1/", "--cacert", "/nonexistent/ca.pem"]);
        assert!(
            msg.starts_with("error: --cacert /nonexistent/ca.pem: "),
            "{msg}"
        );
        let msg = usage(&["not a url"]);
        assert!(msg.contains("not a url"), "{msg}");
        assert_eq!(msg.lines().count(), 1);
    }

    #[test]
    fn help_and_version_succeed() {
        assert_eq!(run(["keepalive-probe", "--version"]).unwrap(), Exit::Ok);
    }
}
