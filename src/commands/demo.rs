//! `proxyhealth demo`: a placeholder until the demo lands (issue 5).

/// Prints that the demo is not there yet.
pub fn run() {
    println!("the demo lands with issue 5");
}
