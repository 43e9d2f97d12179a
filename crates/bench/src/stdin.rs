//! Lines of stdin as a channel, read on a plain thread (so no tokio `io-std`
//! feature is needed); the channel closes at EOF, when the parent closes the pipe.

use tokio::sync::mpsc;

/// Every line of stdin, in order; `None` from the receiver means EOF.
pub fn lines() -> mpsc::UnboundedReceiver<String> {
    let (tx, rx) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}
