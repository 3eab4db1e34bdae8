//! `keepalive-probe`: tells which keepalive stage an endpoint tolerates. See `--help`.

mod app;
mod cli;
mod error;
mod family;
mod json;
mod model;
mod probe;
mod progress;
mod report;
mod route;
mod table;
mod verdict;
mod warmup;

use std::process::ExitCode;

fn main() -> ExitCode {
    match app::run(std::env::args_os()) {
        Ok(exit) => exit.into(),
        Err(err) => {
            eprintln!("keepalive-probe: {err}");
            err.exit().into()
        }
    }
}
