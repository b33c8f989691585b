//! How the long-running commands (`run`, `proxy`, `tunnel`) hear that they
//! must stop: Ctrl-C, or SIGTERM from a CI job being cancelled. The
//! listener is registered when it is made, not when first polled, so a
//! signal that comes right after a command's first line of output ends it
//! cleanly instead of meeting the signal's default action.

use std::future::Future;

use tokio::signal::unix::{Signal, SignalKind, signal};

/// Resolves at the first SIGINT or SIGTERM after this call. A signal that
/// cannot be listened for is never awaited (its default action stays).
pub fn interrupted() -> impl Future<Output = ()> {
    let interrupt = signal(SignalKind::interrupt());
    let terminate = signal(SignalKind::terminate());
    async move {
        tokio::select! {
            () = heard(interrupt) => {}
            () = heard(terminate) => {}
        }
    }
}

async fn heard(listener: std::io::Result<Signal>) {
    match listener {
        Ok(mut signal) => {
            signal.recv().await;
        }
        Err(_) => std::future::pending().await,
    }
}
