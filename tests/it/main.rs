//! Integration tests against real local servers (rustls + rcgen), real sockets and the real
//! kernel. One test binary with a module per area keeps link time down on a 2-core machine.

// Modules are private to this binary; `pub` marks what sibling modules use.
#![allow(unreachable_pub)]

mod support;

// The connector (issue: connect path, stages, errors, hyper integration).
mod client;
mod direct;
mod errors;
mod resumption;
mod stages;

