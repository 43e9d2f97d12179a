//! Integration tests of the simulator: real listeners on loopback, a raw HTTP/1.1 client.

mod client;
mod fleet;
mod kinds;
mod proxy;
mod run;
mod stacks;
