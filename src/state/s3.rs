//! The team state backend on S3 (`--state s3://bucket/prefix`): under the prefix,
//! `state.json` (written with `If-Match` on the version read, so a stale writer overwrites
//! nothing), `lock.json` (created with `If-None-Match: *`, a lease renewed by its holder, see
//! `s3_lease.rs`), `audit/` (one object per record, keys in time order, never overwritten)
//! and `backups/`. Every object is encrypted server-side. Nothing is written locally.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};

use super::audit::AuditRecord;
use super::backups::{Backups, MAX_BACKUP_BYTES};
use super::local::MAX_STATE_BYTES;
use super::lock::{LockGuard, LockInfo};
use super::model::State;
use super::s3_io::{Condition, Encryption, Lost, Place};
use super::s3_lease::{self, Held};
use super::s3_worker::Worker;
use super::store::{StateError, StateStore, Unlocked};
use crate::kinds::aws::{AwsConfig, AwsContext};

/// The largest lock object read: a few hundred bytes are written.
pub const MAX_LOCK_BYTES: u64 = 64 * 1024;

/// The largest audit record read back.
const MAX_RECORD_BYTES: u64 = 1024 * 1024;

/// What an S3 backend is given by the settings.
#[derive(Debug, Clone)]
pub struct S3Options {
    pub bucket: String,
    pub prefix: String,
    pub encryption: Encryption,
    /// How long a lock's lease holds without renewal.
    pub lease: Duration,
    /// How the migration's clients reach AWS: the store's client is built the same way.
    pub aws: AwsConfig,
}

pub struct S3Store {
    reach: Arc<Reach>,
    url: String,
    /// The serial and ETag of the state object as this process last read or wrote it.
    known: Mutex<Option<Known>>,
    /// The lock this store took, while it is still this run's (see `s3_lease.rs`).
    held: Mutex<Option<Held>>,
}

/// The worker the calls run on, and where the state is.
type Reached = (Arc<Worker>, Place);

/// How the store reaches its bucket: set up on first use (`status` of a local state never
/// starts a thread), shared with its backups.
struct Reach {
    options: S3Options,
    url: String,
    reached: OnceLock<Result<Reached, (String, String)>>,
}

#[derive(Debug, Clone)]
struct Known {
    serial: u64,
    /// `None`: there was no state object.
    etag: Option<String>,
}

/// What the lock object holds.
pub(super) enum LockObject {
    Held(LockInfo, String),
    Unreadable(String, String),
}

impl Reach {
    fn get(&self) -> Result<Reached, StateError> {
        let reached = self.reached.get_or_init(|| {
            let worker = Worker::start(&self.url).map_err(|e| (e.to_string(), String::new()))?;
            let aws = self.options.aws.clone();
            let client = worker
                .run(async move {
                    let ctx = AwsContext::new(aws);
                    Ok(ctx.clients().await.map(|c| (*c.s3).clone()))
                })
                .map_err(|e| (e.to_string(), String::new()))?
                .map_err(|why| {
                    (
                        why,
                        "configure AWS as for the migration's own calls (--profile, --region, AWS_PROFILE, AWS_REGION)".to_owned(),
                    )
                })?;
            let place = Place {
                client,
                bucket: self.options.bucket.clone(),
                prefix: self.options.prefix.clone(),
                encryption: self.options.encryption.clone(),
                url: self.url.clone(),
            };
            Ok((Arc::new(worker), place))
        });
        reached
            .clone()
            .map_err(|(problem, hint)| StateError::Unreachable {
                url: self.url.clone(),
                problem,
                hint: if hint.is_empty() {
                    "run the command again".into()
                } else {
                    hint
                },
            })
    }
}

impl S3Store {
    pub fn new(options: S3Options) -> Self {
        let url = if options.prefix.is_empty() {
            format!("s3://{}", options.bucket)
        } else {
            format!("s3://{}/{}", options.bucket, options.prefix)
        };
        S3Store {
            reach: Arc::new(Reach {
                options,
                url: url.clone(),
                reached: OnceLock::new(),
            }),
            url,
            known: Mutex::new(None),
            held: Mutex::new(None),
        }
    }

    fn reach(&self) -> Result<Reached, StateError> {
        self.reach.get()
    }

    fn path(&self, name: &str) -> PathBuf {
        PathBuf::from(format!("{}/{name}", self.url))
    }

    fn remember(&self, known: Known) {
        *self.known.lock().unwrap_or_else(|e| e.into_inner()) = Some(known);
    }

    /// The stored state and its version, without remembering them.
    fn fetch(&self) -> Result<(Option<State>, Option<String>), StateError> {
        let (worker, place) = self.reach()?;
        let got = worker.run(async move { place.get("state.json", MAX_STATE_BYTES).await })?;
        let Some(object) = got else {
            return Ok((None, None));
        };
        let state = State::parse(&object.bytes, &self.path("state.json"))?;
        Ok((Some(state), Some(object.etag)))
    }

    pub(super) fn read_lock(&self) -> Result<Option<LockObject>, StateError> {
        let (worker, place) = self.reach()?;
        let got = worker.run(async move { place.get("lock.json", MAX_LOCK_BYTES).await })?;
        Ok(got.map(
            |object| match serde_json::from_slice::<LockInfo>(&object.bytes) {
                Ok(info) => LockObject::Held(info, object.etag),
                Err(e) => LockObject::Unreadable(e.to_string(), object.etag),
            },
        ))
    }

    fn delete_lock(&self, etag: String) -> Result<Result<(), Lost>, StateError> {
        let (worker, place) = self.reach()?;
        worker.run(async move { place.delete_if("lock.json", &etag).await })
    }

    fn encode<T: serde::Serialize>(&self, name: &str, value: &T) -> Result<Vec<u8>, StateError> {
        serde_json::to_vec_pretty(value).map_err(|e| StateError::Corrupt {
            path: self.path(name),
            message: e.to_string(),
        })
    }
}

impl StateStore for S3Store {
    fn load(&self) -> Result<Option<State>, StateError> {
        let (state, etag) = self.fetch()?;
        self.remember(Known {
            serial: state.as_ref().map_or(0, |s| s.serial),
            etag,
        });
        Ok(state)
    }

    fn save(&self, state: &mut State) -> Result<(), StateError> {
        // A run whose lock was removed under it (its lease ran out while it was cut off from
        // S3, and someone ran `unlock`) stops at its next checkpoint.
        let held = self.held.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if held.is_some_and(|h| h.lock().unwrap_or_else(|e| e.into_inner()).is_none()) {
            return Err(StateError::LockLost {
                url: self.url.clone(),
            });
        }
        let remembered = self.known.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let known = match remembered {
            Some(k) => k,
            None => {
                self.load()?;
                self.known
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .clone()
                    .unwrap_or(Known {
                        serial: 0,
                        etag: None,
                    })
            }
        };
        if known.serial != state.serial {
            return Err(StateError::Stale {
                expected: state.serial,
                found: known.serial,
            });
        }
        let next = state
            .serial
            .checked_add(1)
            .ok_or_else(|| StateError::Corrupt {
                path: self.path("state.json"),
                message: format!("serial {} cannot be counted on from", state.serial),
            })?;
        let previous = (state.serial, state.updated_at);
        state.serial = next;
        state.updated_at = jiff::Timestamp::now();
        let bytes = self.encode("state.json", state);
        let condition = known.etag.map_or(Condition::Absent, Condition::Matches);
        let written = bytes.and_then(|bytes| {
            let (worker, place) = self.reach()?;
            worker.run(async move { place.put("state.json", bytes, condition).await })
        });
        match written {
            Ok(Ok(etag)) => {
                self.remember(Known {
                    serial: next,
                    etag: Some(etag),
                });
                Ok(())
            }
            Ok(Err(Lost)) => {
                (state.serial, state.updated_at) = previous;
                // Another writer saved since this run read the state: say what it holds now,
                // and leave it as it is.
                let found = self.fetch()?.0.map_or(0, |s| s.serial);
                Err(StateError::Stale {
                    expected: previous.0,
                    found,
                })
            }
            Err(e) => {
                (state.serial, state.updated_at) = previous;
                Err(e)
            }
        }
    }

    fn lock(&self, info: LockInfo, _warn: &mut dyn FnMut(String)) -> Result<LockGuard, StateError> {
        let (worker, place) = self.reach()?;
        let (guard, held) = s3_lease::take(self, worker, place, info, self.reach.options.lease)?;
        *self.held.lock().unwrap_or_else(|e| e.into_inner()) = Some(held);
        Ok(guard)
    }

    fn unlock(&self, lock_id: Option<&str>) -> Result<Unlocked, StateError> {
        let removed = match self.read_lock()? {
            None => return Err(StateError::NotLocked(PathBuf::from(&self.url))),
            Some(LockObject::Unreadable(why, etag)) => (Unlocked::Unreadable(why), etag),
            Some(LockObject::Held(info, etag)) => {
                // Only the lock id the operator read names the lock to remove, and only once
                // its holder is known gone: its lease ran out, or it ran on this host and its
                // process is gone.
                if lock_id != Some(info.id.as_str()) {
                    return Err(StateError::LockIdMismatch(Box::new(info)));
                }
                let host = gethostname::gethostname().to_string_lossy().into_owned();
                if info.holder_alive(&host) {
                    return Err(StateError::LeaseLive(Box::new(info)));
                }
                (Unlocked::Lock(Box::new(info)), etag)
            }
        };
        match self.delete_lock(removed.1)? {
            Ok(()) => Ok(removed.0),
            Err(Lost) => Err(StateError::LockChanged {
                url: self.url.clone(),
            }),
        }
    }

    fn lock_info(&self) -> Result<Option<LockInfo>, StateError> {
        match self.read_lock()? {
            None => Ok(None),
            Some(LockObject::Held(info, _)) => Ok(Some(info)),
            Some(LockObject::Unreadable(message, _)) => Err(StateError::LockUnreadable {
                path: self.path("lock.json"),
                message,
            }),
        }
    }

    fn append_audit(&self, record: &AuditRecord) -> Result<(), StateError> {
        let bytes = self.encode("audit", record)?;
        let (worker, place) = self.reach()?;
        let stamp = jiff::Timestamp::now().as_nanosecond();
        let pid = std::process::id();
        worker.run(async move {
            // Keys sort as the records were written; a record is never overwritten: a key
            // taken already (the same nanosecond) moves on to the next.
            for n in 0..100u32 {
                let name = format!("audit/{stamp:020}-{pid:010}-{n:03}.json");
                if place
                    .put(&name, bytes.clone(), Condition::Absent)
                    .await?
                    .is_ok()
                {
                    return Ok(());
                }
            }
            Err(StateError::Unreachable {
                url: place.url.clone(),
                problem: "no free key for an audit record".into(),
                hint: "run the command again".into(),
            })
        })
    }

    fn read_audit(&self) -> Result<Vec<AuditRecord>, StateError> {
        let (worker, place) = self.reach()?;
        let url = self.url.clone();
        worker.run(async move {
            let names = place.list("audit").await?;
            futures::stream::iter(names)
                .map(|name| {
                    let place = place.clone();
                    let url = url.clone();
                    async move {
                        let object = place.get(&name, MAX_RECORD_BYTES).await?;
                        let bytes = object.map(|o| o.bytes).unwrap_or_default();
                        serde_json::from_slice(&bytes).map_err(|e| StateError::Corrupt {
                            path: PathBuf::from(format!("{url}/{name}")),
                            message: e.to_string(),
                        })
                    }
                })
                // In key order, a few reads at a time.
                .buffered(8)
                .try_collect()
                .await
        })
    }

    fn backups(&self) -> Arc<dyn Backups> {
        Arc::new(S3Backups {
            reach: self.reach.clone(),
        })
    }

    fn check_writable(&self) -> Result<(), StateError> {
        let (worker, place) = self.reach()?;
        worker.run(async move { place.check().await })
    }
}

/// `backups/` under the state's prefix: another operator's rollback restores them.
struct S3Backups {
    reach: Arc<Reach>,
}

impl Backups for S3Backups {
    fn read(&self, name: &str) -> Result<Option<Vec<u8>>, StateError> {
        let (worker, place) = self.reach.get()?;
        let name = format!("backups/{name}");
        let got = worker.run(async move { place.get(&name, MAX_BACKUP_BYTES).await })?;
        Ok(got.map(|object| object.bytes))
    }

    fn write(&self, name: &str, bytes: &[u8]) -> Result<(), StateError> {
        let (worker, place) = self.reach.get()?;
        let name = format!("backups/{name}");
        let bytes = bytes.to_vec();
        // Whole objects: a crash leaves the old one or the new. The `file` step writes the
        // original only while no record of it exists, as it does locally.
        worker.run(async move {
            place
                .put(&name, bytes, Condition::Any)
                .await?
                .map(|_| ())
                .map_err(|Lost| StateError::Unreachable {
                    url: place.url.clone(),
                    problem: format!("writing {name} was refused"),
                    hint: "check your access to the bucket, then run again".into(),
                })
        })
    }

    fn locate(&self, name: &str) -> String {
        format!("{}/backups/{name}", self.reach.url)
    }
}
