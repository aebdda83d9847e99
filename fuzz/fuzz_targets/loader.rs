//! Fuzzes the runbook loader, its templates and its JMESPath: the embedded runbook with one of
//! its files (chosen by the first byte) replaced by arbitrary bytes, then every step's templates
//! rendered with hostile values and its queries run; or, for a first byte past the files, the
//! bytes as a template and a JMESPath expression by themselves (see
//! `outpost_migrate::runbook::fuzz`). The answer is diagnostics or errors, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    outpost_migrate::runbook::fuzz::one_input(data);
});
