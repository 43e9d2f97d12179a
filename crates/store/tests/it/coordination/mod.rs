//! How replicas coordinate: one conformance suite (`conformance`) run on
//! `MemoryCoordination` (`memory`, with paused time) and on `PgCoordination`
//! (`postgres`, with what only PostgreSQL shows beside it).

pub(crate) mod conformance;
mod memory;
mod postgres;
