//! Integration tests against real local servers (rustls + rcgen), real sockets and the real
//! kernel. One test binary with a module per area keeps link time down on a 2-core machine.

// Modules are private to this binary; `pub` marks what sibling modules use.
#![allow(unreachable_pub)]

mod support;

// The connector (issue: connect path, stages, errors, hyper integration).
mod client;
mod client_cert;
mod config_validation;
mod dialing;
mod direct;
mod errors;
mod first_program;
mod liveness;
mod platform;
mod pool;
mod pool_netns;
mod proxy;
mod proxy_credentials;
mod proxy_tunnel;
mod resend_edges;
mod resumption;
mod stages;
mod tcp_stats;
mod trust;

// Reliability: dead peers in network namespaces, hostile servers, leaks, load, bad input.
#[cfg(target_os = "linux")]
mod backpressure;
mod bad_input;
mod dead_peer;
mod happy_eyeballs;
mod hostile;
mod leaks;
mod liveness_netns;
mod load;

// Fuzz corpora replayed through the fuzz targets' entry functions.
mod fuzz_replay;
