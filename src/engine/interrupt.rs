//! Ctrl-C: the first lets the running step finish and stops; the second exits at once.

use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Notify;

#[derive(Debug, Default)]
pub struct Interrupt {
    requested: AtomicBool,
    notify: Notify,
}

impl Interrupt {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn request(&self) {
        self.requested.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    pub fn is_requested(&self) -> bool {
        self.requested.load(Ordering::SeqCst)
    }

    /// Sleeps for `d` unless interrupted first; true when interrupted.
    pub async fn sleep(&self, d: std::time::Duration) -> bool {
        if self.is_requested() {
            return true;
        }
        tokio::select! {
            () = tokio::time::sleep(d) => self.is_requested(),
            () = self.notify.notified() => true,
        }
    }
}
