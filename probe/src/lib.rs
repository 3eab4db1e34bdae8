//! Parsers of `keepalive-probe`'s option values, as a library so the fuzz targets and their
//! replay tests call the same code as the command (`src/main.rs`).

mod values;

pub use values::{Header, ParseSecondsError, Seconds};
