//! Ctrl-C: the first lets the running step finish and stops; the second stops the steps'
//! processes and exits. It knows which steps are under way, so the first can name them.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Notify;

#[derive(Debug, Default)]
pub struct Interrupt {
    requested: AtomicBool,
    /// The second Ctrl-C: the process exits from its handler.
    forced: AtomicBool,
    notify: Notify,
    /// The steps under way (their attempts running or waiting), in the order they started.
    running: Mutex<Vec<String>>,
}

/// A step under way, until dropped.
pub struct Running<'a> {
    interrupt: &'a Interrupt,
    id: String,
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        let mut running = self.interrupt.lock_running();
        if let Some(i) = running.iter().position(|r| *r == self.id) {
            running.remove(i);
        }
    }
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

    /// Marks step `id` under way until the returned guard is dropped.
    pub fn running(&self, id: &str) -> Running<'_> {
        self.lock_running().push(id.to_owned());
        Running {
            interrupt: self,
            id: id.to_owned(),
        }
    }

    /// The steps under way now.
    pub fn under_way(&self) -> Vec<String> {
        self.lock_running().clone()
    }

    fn lock_running(&self) -> std::sync::MutexGuard<'_, Vec<String>> {
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Returns once the first Ctrl-C has come (at once if it has).
    pub async fn requested(&self) {
        // Registered before the flag is read: a request in between still wakes it.
        let notified = self.notify.notified();
        if self.is_requested() {
            return;
        }
        notified.await;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn it_names_the_steps_under_way_when_asked_to_stop() {
        let interrupt = Interrupt::new();
        let a = interrupt.running("a");
        {
            let _b = interrupt.running("b");
            assert_eq!(interrupt.under_way(), vec!["a", "b"]);
        }
        interrupt.request();
        interrupt.requested().await;
        assert_eq!(interrupt.under_way(), vec!["a"]);
        drop(a);
        assert!(interrupt.under_way().is_empty());
    }
}
