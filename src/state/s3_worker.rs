//! The thread the S3 state backend does its calls on.
//!
//! `StateStore` is synchronous, and is called both outside any runtime (`status`, `unlock`)
//! and from the engine's tasks on the multi-threaded runtime `execute` builds. Calling
//! `block_on` from a runtime's own thread panics, and `block_in_place` panics outside a
//! multi-threaded runtime, so neither works for every caller. Instead the backend owns one
//! current-thread runtime, driven by a thread of its own: a call is spawned onto it and the
//! caller waits on a plain channel for the answer. The caller's thread is held for the call as
//! it is for a local file write; the lease renewal runs on the same runtime, between calls,
//! whatever the engine does.

use std::future::Future;
use std::sync::Mutex;
use std::thread::JoinHandle;

use tokio::runtime::Handle;
use tokio::sync::oneshot;

use super::store::StateError;

pub struct Worker {
    handle: Handle,
    stop: Mutex<Option<oneshot::Sender<()>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// The state's URL, as a failure of the worker itself names it.
    url: String,
}

impl Worker {
    pub fn start(url: &str) -> Result<Self, StateError> {
        let failed = |e: std::io::Error| StateError::Unreachable {
            url: url.to_owned(),
            problem: format!("cannot start the thread that talks to S3: {e}"),
            hint: "the machine is out of threads or memory; try again".into(),
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(failed)?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("state-s3".into())
            .spawn(move || {
                // Drives every spawned call and the lease renewal until the store is dropped.
                runtime.block_on(async {
                    let _ = stopped.await;
                });
            })
            .map_err(failed)?;
        Ok(Worker {
            handle,
            stop: Mutex::new(Some(stop)),
            thread: Mutex::new(Some(thread)),
            url: url.to_owned(),
        })
    }

    /// Runs `call` on the worker's runtime and waits for its answer.
    pub fn run<T: Send + 'static>(
        &self,
        call: impl Future<Output = Result<T, StateError>> + Send + 'static,
    ) -> Result<T, StateError> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.handle.spawn(async move {
            let _ = tx.send(call.await);
        });
        rx.recv().unwrap_or_else(|_| {
            Err(StateError::Unreachable {
                url: self.url.clone(),
                problem: "the thread that talks to S3 stopped".into(),
                hint: "this is a bug; run the command again".into(),
            })
        })
    }

    /// Spawns a task that runs beside the calls (the lease renewal).
    pub fn spawn<F>(&self, task: F) -> tokio::task::JoinHandle<()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.handle.spawn(task)
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let stop = self.stop.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(stop) = stop {
            let _ = stop.send(());
        }
        let thread = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_is_answered_from_inside_another_runtime_and_from_none() {
        let worker = Worker::start("s3://b").unwrap();
        assert_eq!(worker.run(async { Ok(1) }).unwrap(), 1);
        let outer = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .unwrap();
        let got = outer.block_on(async { worker.run(async { Ok(2) }) });
        assert_eq!(got.unwrap(), 2);
        let single = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        assert_eq!(
            single
                .block_on(async { worker.run(async { Ok(3) }) })
                .unwrap(),
            3
        );
    }
}
