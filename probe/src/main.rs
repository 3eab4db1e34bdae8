//! `keepalive-probe`: tells which keepalive stage an endpoint tolerates. See `--help`.

mod app;
mod cli;
mod connectors;
mod error;
mod family;
mod idle;
mod json;
mod model;
mod probe;
mod probe_loop;
mod progress;
mod report;
mod route;
mod settings;
mod table;
mod url;
mod verdict;
mod warmup;

fn main() -> std::process::ExitCode {
    app::main(std::env::args_os()).into()
}
