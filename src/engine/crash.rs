//! Test-only crash points at step boundaries (cargo feature `failpoints`): with
//! `FAILPOINTS=step-after-effect=return(STEP_ID)` the process kills itself with SIGKILL there,
//! as a power cut would (`return(A|B)`: at the first of these steps to get there, which it
//! names on stderr first). Without the feature these are no-ops.

/// Where in a step the process may be killed.
#[derive(Clone, Copy)]
pub enum Point {
    /// Before the step is checkpointed or does anything.
    Before,
    /// After the step's effect, before its result is saved.
    AfterEffect,
    /// After its result is saved.
    AfterCheckpoint,
}

#[cfg(feature = "failpoints")]
pub fn point(at: Point, step: &str) {
    let name = match at {
        Point::Before => "step-before",
        Point::AfterEffect => "step-after-effect",
        Point::AfterCheckpoint => "step-after-checkpoint",
    };
    fail::fail_point!(name, |target: Option<String>| {
        if target.is_some_and(|t| t.split('|').any(|t| t == step)) {
            eprintln!("failpoint: SIGKILL at {name} of `{step}`");
            // SAFETY: kill(2) on our own pid; nothing runs after it.
            unsafe {
                libc::kill(libc::getpid(), libc::SIGKILL);
            }
        }
    });
}

#[cfg(not(feature = "failpoints"))]
pub fn point(_at: Point, _step: &str) {}
