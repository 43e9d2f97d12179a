//! `proxyhealth`: health checker for a fleet of regional reverse proxies.
//!
//! This file only installs the allocator and runs the command line
//! ([`proxyhealth::run`]); each subcommand lives in the library's `commands`.

use std::process::ExitCode;

/// The process's allocator. With glibc's malloc every thread that allocates
/// under contention gets an arena of its own (up to eight per core), and what
/// a thread frees stays in its arena: `serve`'s threads (the API's, the
/// checker's, one per SQLite connection) held about 200 MiB of arenas for
/// about 40 MiB in use, more after each burst, so its resident memory grew
/// under a steady load (bench/RESULTS.md, section 11). mimalloc keeps
/// per-thread pages too, but gives the freed ones back to the system.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    proxyhealth::run()
}
