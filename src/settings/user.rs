//! Who runs the tool when the environment does not say (no USER nor LOGNAME).

/// The login name of the current uid, for locks and the audit log when USER is unset (cron, CI).
pub(super) fn current_user() -> String {
    // SAFETY: getpwuid returns a pointer into static storage or null; it is read at once,
    // before any other call that could overwrite it.
    unsafe {
        let pw = libc::getpwuid(libc::getuid());
        if pw.is_null() || (*pw).pw_name.is_null() {
            return format!("uid-{}", libc::getuid());
        }
        std::ffi::CStr::from_ptr((*pw).pw_name)
            .to_string_lossy()
            .into_owned()
    }
}
