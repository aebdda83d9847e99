//! The S3 backend's run lock: `lock.json`, created only where none is (`If-None-Match: *`),
//! holding who runs what, and a lease its holder renews in the background while the run goes
//! on (each renewal conditional on the lock's ETag, so it never rewrites a lock that is not
//! its own). A lock whose lease ran out is reported with its owner and never taken over: its
//! holder may be alive on a machine cut off from S3. Dropping the guard stops the renewal and
//! deletes the lock, conditionally too.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::Timestamp;
use tokio::sync::oneshot;

use super::lock::{Lease, LockGuard, LockInfo};
use super::s3::{LockObject, S3Store};
use super::s3_io::{Condition, Place};
use super::s3_worker::Worker;
use super::store::StateError;

/// The lock's current ETag while this run holds it; `None` once it was lost (removed or
/// replaced by someone else), when renewal and release leave it alone.
pub(super) type Held = Arc<Mutex<Option<String>>>;

/// How many times a lock freed between the refused create and the read is tried again.
const TRIES: u32 = 3;

/// Takes the lock, or says who holds it (and whether their lease ran out); with the guard,
/// what says whether the lock is still this run's.
pub fn take(
    store: &S3Store,
    worker: Arc<Worker>,
    place: Place,
    mut info: LockInfo,
    term: Duration,
) -> Result<(LockGuard, Held), StateError> {
    let term_seconds = term.as_secs().max(1);
    info.lease = Some(Lease {
        renewed_at: Timestamp::now(),
        term_seconds,
    });
    for _ in 0..TRIES {
        let bytes = encode(&info, &place)?;
        let target = place.clone();
        let created =
            worker.run(async move { target.put("lock.json", bytes, Condition::Absent).await })?;
        if let Ok(etag) = created {
            return Ok(hold(worker, place, info, etag, term));
        }
        match store.read_lock()? {
            // Released between the two calls: try again.
            None => continue,
            Some(LockObject::Unreadable(message, _)) => {
                return Err(StateError::LockUnreadable {
                    path: format!("{}/lock.json", place.url).into(),
                    message,
                });
            }
            Some(LockObject::Held(holder, _)) => {
                return Err(match holder.lease_expired(Timestamp::now()) {
                    Some(idle) => StateError::LeaseExpired {
                        holder: Box::new(holder),
                        idle: humantime::format_duration(Duration::from_secs(idle.as_secs()))
                            .to_string(),
                    },
                    None => StateError::LockHeld(Box::new(holder)),
                });
            }
        }
    }
    Err(StateError::LockChanged { url: place.url })
}

fn encode(info: &LockInfo, place: &Place) -> Result<Vec<u8>, StateError> {
    serde_json::to_vec_pretty(info).map_err(|e| StateError::Corrupt {
        path: format!("{}/lock.json", place.url).into(),
        message: e.to_string(),
    })
}

/// Starts renewing the lock just taken; the guard stops that and deletes it.
fn hold(
    worker: Arc<Worker>,
    place: Place,
    info: LockInfo,
    etag: String,
    term: Duration,
) -> (LockGuard, Held) {
    let held: Held = Arc::new(Mutex::new(Some(etag)));
    let (stop, stopped) = oneshot::channel();
    // A few renewals per term: one delayed or failed call does not let the lease run out.
    let every = (term / 4).max(Duration::from_millis(100));
    let renewal = worker.spawn(renew(place.clone(), info, held.clone(), every, stopped));
    let ours = held.clone();
    let guard = LockGuard::remote(move || {
        let _ = worker.run(async move {
            let _ = stop.send(());
            // A renewal under way finishes first, so its new ETag is the one deleted.
            let _ = renewal.await;
            let etag = held.lock().unwrap_or_else(|e| e.into_inner()).take();
            if let Some(etag) = etag {
                // Not ours any more (Lost) means there is nothing of ours to delete.
                let _ = place.delete_if("lock.json", &etag).await?;
            }
            Ok(())
        });
    });
    (guard, ours)
}

async fn renew(
    place: Place,
    mut info: LockInfo,
    held: Held,
    every: Duration,
    mut stopped: oneshot::Receiver<()>,
) {
    loop {
        tokio::select! {
            _ = &mut stopped => return,
            () = tokio::time::sleep(every) => {}
        }
        let Some(etag) = held.lock().unwrap_or_else(|e| e.into_inner()).clone() else {
            return;
        };
        if let Some(lease) = &mut info.lease {
            lease.renewed_at = Timestamp::now();
        }
        let Ok(bytes) = encode(&info, &place) else {
            return;
        };
        match place
            .put("lock.json", bytes, Condition::Matches(etag))
            .await
        {
            Ok(Ok(next)) => *held.lock().unwrap_or_else(|e| e.into_inner()) = Some(next),
            // Removed (`unlock`) or replaced: the lock is not this run's any more. The state
            // object's own precondition still refuses a save over another run's.
            Ok(Err(_)) => {
                *held.lock().unwrap_or_else(|e| e.into_inner()) = None;
                tracing::warn!(
                    "this run lost its lock at {}: it was removed or taken over by someone else; the run stops at its next checkpoint",
                    place.url
                );
                return;
            }
            // S3 unreachable for a moment: the next renewal tries again.
            Err(e) => tracing::info!("renewing the lock's lease failed, tried again soon: {e}"),
        }
    }
}
