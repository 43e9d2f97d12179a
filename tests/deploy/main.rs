//! The ways users install proxyhealth, each run for real: the container
//! image built from the repository's `Dockerfile` ([`image`]) and the Compose
//! deployment of `deploy/compose/` ([`compose`]) on Docker, and the Debian
//! package ([`debian`]) installed with `dpkg -i` into a Debian booted with
//! systemd (`systemd-nspawn`), where its unit is started, restarted and rated.
//! And vantages as production has them ([`vantages`]): the service and two
//! agents on hosts of their own (containers of the image), each reaching a
//! proxy over its own network, one link cut at a time.
//! No image can be pulled here, so the public base images are stood in for by
//! images made from Debian's packages (`scripts/docker-bases`), passed to the
//! very files users build and start. The image and the package hold the binary
//! `cargo build --release` made (build it first; `scripts/test` does).
//!
//! Without Docker, or what booting a container needs, the tests skip with a
//! message; with `CI=true` they fail.

mod compose;
mod debian;
mod image;
mod support;
mod vantages;
