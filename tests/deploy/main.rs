//! The ways users install proxyhealth, each run for real with Docker: the
//! container image built from the repository's `Dockerfile` ([`image`]) and
//! the Compose deployment of `deploy/compose/` ([`compose`]). No image can be
//! pulled here, so the public base images are stood in for by images made
//! from Debian's packages (`scripts/docker-bases`), passed to the very files
//! users build and start. The image holds the binary `cargo build --release`
//! made (build it first; `scripts/test` does).
//!
//! Without Docker the tests skip with a message; with `CI=true` they fail.

mod compose;
mod image;
mod support;
