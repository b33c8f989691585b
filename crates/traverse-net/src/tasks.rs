//! Task groups tied to a cell: every accept loop, connection and relay of a
//! node is spawned through one, and dropping the node's handle ends them all,
//! so a finished or timed-out cell leaves no task or socket behind.

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

#[derive(Debug, Clone, Default)]
pub struct Tasks {
    cancel: CancellationToken,
    tracker: TaskTracker,
}

impl Tasks {
    pub fn new() -> Tasks {
        Tasks::default()
    }

    /// Runs `work` until it finishes or the group is cancelled.
    pub fn spawn<F>(&self, work: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let cancel = self.cancel.clone();
        self.tracker.spawn(async move {
            tokio::select! {
                () = cancel.cancelled() => {}
                () = work => {}
            }
        });
    }

    /// Cancels every task and waits, at most `deadline`, until all have
    /// dropped their sockets. Returns whether they all did.
    pub async fn shutdown(&self, deadline: Duration) -> bool {
        self.cancel.cancel();
        self.tracker.close();
        tokio::time::timeout(deadline, self.tracker.wait())
            .await
            .is_ok()
    }

    pub fn is_empty(&self) -> bool {
        self.tracker.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn shutdown_ends_tasks_that_would_run_forever() {
        let tasks = Tasks::new();
        tasks.spawn(std::future::pending());
        tasks.spawn(std::future::pending());
        assert!(tasks.shutdown(Duration::from_secs(5)).await);
        assert!(tasks.is_empty());
    }
}
