//! The ways users install proxyhealth, each run for real: the Debian package
//! ([`debian`]) installed with `dpkg -i` into a Debian booted with systemd
//! (`systemd-nspawn`), where its unit is started, restarted and rated.
//!
//! The package is the one `cargo deb` made from the release build (make it
//! first; `scripts/test` does). Without what booting a container needs the
//! tests skip with a message; with `CI=true` they fail.

mod debian;
