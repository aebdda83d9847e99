//! Process groups of running steps. A `shell` command and a stdio `mcp` server each run in a
//! group of their own; what a step started is stopped (SIGTERM, a grace period, SIGKILL) and
//! waited for at the end of each attempt, after a timeout, at the end of the run and on the
//! second Ctrl-C, so no attempt starts beside an earlier attempt's processes.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Between SIGTERM and SIGKILL: on SIGTERM terraform stops its providers, writes its state and
/// releases its lock, which takes seconds, not minutes.
pub const GRACE: Duration = Duration::from_secs(10);

/// How long a group may take to disappear after SIGKILL before it is reported stuck (a process
/// in uninterruptible sleep, or one that is not ours to signal).
const KILL_WAIT: Duration = Duration::from_secs(5);

/// How often a stopping group is looked at.
const POLL: Duration = Duration::from_millis(20);

/// The process groups the running steps started, by the step (plan id) that started them.
#[derive(Debug, Default)]
pub struct ProcessGroups {
    groups: Mutex<BTreeMap<String, Vec<i32>>>,
}

/// How a group ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// Nothing of it was left running.
    Gone,
    /// Its processes ended on SIGTERM within the grace period.
    Terminated,
    /// Its processes outlived the grace period and got SIGKILL.
    Killed,
    /// Something of it still runs after SIGKILL.
    Stuck,
}

impl ProcessGroups {
    /// Records the group a step's process leads (its pid is the group id: it was spawned with
    /// `process_group(0)`).
    pub fn register(&self, step: &str, leader: Option<u32>) {
        if let Some(pgid) = leader.and_then(|p| i32::try_from(p).ok()) {
            self.groups
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .entry(step.to_owned())
                .or_default()
                .push(pgid);
        }
    }

    /// Stops every group `step` started and waits until each is gone. `finished` says the
    /// step's process ended by itself: what it left behind in its group is stopped too, with
    /// a warning, since a next attempt or step must not run beside it. Returns a group that
    /// is still there after SIGKILL, if any.
    pub async fn stop_step(&self, step: &str, finished: bool) -> Option<i32> {
        let groups = self
            .groups
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(step)
            .cloned()
            .unwrap_or_default();
        let mut stuck = None;
        for pgid in groups {
            if self.stop(step, pgid, finished).await == Stopped::Stuck {
                stuck = Some(pgid);
            }
        }
        stuck
    }

    /// Stops every group still registered (the end of a run, the second Ctrl-C), all at once.
    pub async fn stop_all(&self) {
        let all = self
            .groups
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let stops = all.iter().flat_map(|(step, groups)| {
            groups.iter().map(move |pgid| self.stop(step, *pgid, false))
        });
        futures::future::join_all(stops).await;
    }

    /// Stops one group. It stays registered until it is gone: a stop cut short (the step's
    /// timeout expiring during the grace period) leaves it to the engine's own stop after the
    /// attempt, and a stuck group is seen again there (no retry starts beside it) and at the
    /// end of the run.
    async fn stop(&self, step: &str, pgid: i32, finished: bool) -> Stopped {
        let how = stop_group(pgid, GRACE).await;
        warn_about(step, pgid, how, finished);
        if how != Stopped::Stuck {
            let mut groups = self.groups.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(list) = groups.get_mut(step) {
                list.retain(|g| *g != pgid);
                if list.is_empty() {
                    groups.remove(step);
                }
            }
        }
        how
    }
}

fn warn_about(step: &str, pgid: i32, how: Stopped, finished: bool) {
    match how {
        Stopped::Gone => {}
        Stopped::Stuck => tracing::warn!(
            "step `{step}`: process group {pgid} still runs after SIGKILL; check it by hand"
        ),
        Stopped::Terminated | Stopped::Killed if finished => tracing::warn!(
            "step `{step}` left processes running in its process group {pgid}; they were stopped ({}). A daemon a step starts must detach with `setsid`",
            if how == Stopped::Killed {
                "SIGKILL"
            } else {
                "SIGTERM"
            }
        ),
        Stopped::Terminated | Stopped::Killed => {}
    }
}

/// Stops process group `pgid`: SIGTERM (and SIGCONT, so a stopped process sees it), up to
/// `grace` for it to end, then SIGKILL; returns once nothing of it runs (or it is stuck).
pub async fn stop_group(pgid: i32, grace: Duration) -> Stopped {
    if !group_alive(pgid) {
        return Stopped::Gone;
    }
    signal_group(pgid, libc::SIGTERM);
    signal_group(pgid, libc::SIGCONT);
    if gone_within(pgid, grace).await {
        return Stopped::Terminated;
    }
    signal_group(pgid, libc::SIGKILL);
    if gone_within(pgid, KILL_WAIT).await {
        Stopped::Killed
    } else {
        Stopped::Stuck
    }
}

async fn gone_within(pgid: i32, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if !group_alive(pgid) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(POLL).await;
    }
}

fn signal_group(pgid: i32, signal: libc::c_int) {
    // SAFETY: kill(2) has no memory-safety preconditions; a negative pid names a process
    // group, and pgid > 1 here, so it never means "every process" (-1).
    if pgid > 1 {
        unsafe {
            libc::kill(-pgid, signal);
        }
    }
}

/// True while a process of group `pgid` runs. Zombies do not count: an orphan whose reaper
/// never reaps it (pid 1 in some containers) is dead, and `kill(-pgid, 0)` would call it alive
/// for ever.
pub fn group_alive(pgid: i32) -> bool {
    if pgid <= 1 {
        return false;
    }
    // SAFETY: signal 0 only checks that the group exists and may be signalled.
    let r = unsafe { libc::kill(-pgid, 0) };
    let exists = r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
    // A group that does not exist has no zombies either: the scan of /proc (a read per
    // process on the machine) is only for a group that still does.
    exists && running_members(pgid).is_none_or(|n| n > 0)
}

/// How many processes of group `pgid` are not zombies, from /proc; None without /proc.
fn running_members(pgid: i32) -> Option<usize> {
    let entries = std::fs::read_dir("/proc").ok()?;
    let mut n = 0;
    let mut any = false;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        any = true;
        // A process may end between the listing and the read: it is simply not counted.
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        if let Some((state, pgrp)) = state_and_group(&stat)
            && pgrp == pgid
            && state != 'Z'
            && state != 'X'
        {
            n += 1;
        }
    }
    any.then_some(n)
}

/// The state and process group of a /proc/PID/stat line: `pid (comm) state ppid pgrp ...`,
/// where comm may itself hold spaces and parentheses, so fields count from the last `)`.
fn state_and_group(stat: &str) -> Option<(char, i32)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let _ppid = fields.next()?;
    let pgrp = fields.next()?.parse().ok()?;
    Some((state, pgrp))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;
    use std::process::Command;

    #[test]
    fn stat_fields_count_from_the_last_parenthesis() {
        assert_eq!(
            state_and_group("42 (a) b) (c) S 1 4242 4242 0"),
            Some(('S', 4242))
        );
        assert_eq!(state_and_group("garbage"), None);
    }

    fn spawn_group(script: &str) -> (std::process::Child, i32) {
        let child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .process_group(0)
            .spawn()
            .unwrap();
        let pgid = i32::try_from(child.id()).unwrap();
        (child, pgid)
    }

    #[tokio::test]
    async fn sigterm_stops_a_group_whose_leader_already_exited() {
        let (mut child, pgid) = spawn_group("sleep 30 & sleep 30 & exit 0");
        child.wait().unwrap();
        assert!(group_alive(pgid), "the background sleeps outlive sh");
        assert_eq!(stop_group(pgid, GRACE).await, Stopped::Terminated);
        assert!(!group_alive(pgid));
    }

    #[tokio::test]
    async fn a_group_that_ignores_sigterm_gets_sigkill_after_the_grace_period() {
        let (mut child, pgid) = spawn_group("trap '' TERM; sleep 30 & wait");
        // The trap is set once sh runs `sleep`: wait until it does.
        let deadline = Instant::now() + Duration::from_secs(10);
        while running_members(pgid).unwrap_or(2) < 2 && Instant::now() < deadline {
            std::thread::sleep(POLL);
        }
        let reaper = std::thread::spawn(move || child.wait());
        assert_eq!(
            stop_group(pgid, Duration::from_millis(200)).await,
            Stopped::Killed
        );
        reaper.join().unwrap().unwrap();
        assert!(!group_alive(pgid));
    }

    #[tokio::test]
    async fn a_step_stop_ends_and_forgets_its_groups() {
        let groups = ProcessGroups::default();
        let (mut child, pgid) = spawn_group("sleep 30 & exit 0");
        child.wait().unwrap();
        groups.register("s", u32::try_from(pgid).ok());
        assert_eq!(groups.stop_step("s", true).await, None);
        assert!(!group_alive(pgid));
        assert!(groups.groups.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_group_that_is_gone_is_left_alone() {
        let (mut child, pgid) = spawn_group("exit 0");
        child.wait().unwrap();
        assert_eq!(stop_group(pgid, GRACE).await, Stopped::Gone);
    }
}
