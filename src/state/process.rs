//! Whether the process a lock names is still the one that wrote it: a pid alone is not
//! enough, since pids are reused; the pair (pid, start time) and the boot are.

use std::fs;

/// What a lock's holder is now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liveness {
    /// The process is running, and is the one the lock names as far as can be told.
    Alive,
    /// No process has that pid.
    Gone,
    /// A process has that pid, but it started at another time (or before another boot): the
    /// pid was reused.
    Reused,
}

/// This process's start time, to record in a lock.
pub fn own_start_time() -> Option<u64> {
    start_time(std::process::id())
}

/// The kernel's boot id, to tell a lock written before a reboot.
pub fn boot_id() -> Option<String> {
    fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

/// A process's start time in clock ticks since boot (field 22 of `/proc/PID/stat`).
pub fn start_time(pid: u32) -> Option<u64> {
    parse_start_time(&fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

fn parse_start_time(stat: &str) -> Option<u64> {
    // The command name (field 2) is in parentheses and may itself hold spaces and `)`: the
    // fields after it start after the last `)`.
    let rest = &stat[stat.rfind(')')? + 1..];
    // `rest` starts at field 3 (state); field 22 is the 20th of them.
    rest.split_whitespace().nth(19)?.parse().ok()
}

fn pid_exists(pid: u32) -> bool {
    // pid 0 and negative pids address process groups for kill(2): never ask about them.
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    // SAFETY: signal 0 only checks that the process exists and may be signalled.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Whether the process `pid` that started at `started` (when recorded) during boot `boot`
/// (when recorded) is still running. Without a recorded start time, a running pid counts as
/// alive: it cannot be told from the lock's holder, and calling it gone would break a live lock.
pub fn liveness(pid: u32, started: Option<u64>, boot: Option<&str>) -> Liveness {
    if pid == std::process::id() {
        // The lock is being taken by this very process: whoever wrote it with our pid is gone.
        return Liveness::Reused;
    }
    if !pid_exists(pid) {
        return Liveness::Gone;
    }
    if let (Some(then), Some(now)) = (boot, boot_id())
        && then != now
    {
        return Liveness::Reused;
    }
    match (started, start_time(pid)) {
        (Some(then), Some(now)) if then != now => Liveness::Reused,
        _ => Liveness::Alive,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_start_time_is_read_after_a_command_name_with_parentheses() {
        let stat =
            "4242 (we ird) ) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 100";
        assert_eq!(parse_start_time(stat), Some(987_654));
        assert_eq!(parse_start_time("garbage"), None);
    }

    #[test]
    fn a_running_pid_with_its_own_start_time_is_alive_and_with_another_reused() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = child.id();
        let started = start_time(pid);
        assert!(started.is_some());
        let boot = boot_id();
        assert_eq!(liveness(pid, started, boot.as_deref()), Liveness::Alive);
        assert_eq!(
            liveness(pid, started.map(|s| s + 1), boot.as_deref()),
            Liveness::Reused
        );
        assert_eq!(liveness(pid, None, None), Liveness::Alive);
        assert_eq!(
            liveness(pid, started, Some("another-boot")),
            Liveness::Reused
        );
        child.kill().unwrap();
        child.wait().unwrap();
        // Gone, or (should the pid be taken again at once) reused: never alive.
        assert_ne!(liveness(pid, started, boot.as_deref()), Liveness::Alive);
        assert_eq!(liveness(0, None, None), Liveness::Gone);
        assert_eq!(liveness(u32::MAX, None, None), Liveness::Gone);
    }
}
