//! Ctrl-C: the first lets the running step finish and stops; the second stops the steps'
//! processes and exits.

use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Notify;

#[derive(Debug, Default)]
pub struct Interrupt {
    requested: AtomicBool,
    /// The second Ctrl-C: the process exits from its handler.
    forced: AtomicBool,
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

    /// The second Ctrl-C: said before the handler stops the steps' processes and exits.
    pub fn force(&self) {
        self.forced.store(true, Ordering::SeqCst);
    }

    /// After the second Ctrl-C, never returns: a step whose processes the handler stopped
    /// records nothing (it stays in doubt) while the handler finishes and exits 130.
    pub async fn park_if_forced(&self) {
        if self.forced.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
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
