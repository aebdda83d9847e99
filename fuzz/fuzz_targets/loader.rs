//! Fuzzes the runbook loader: the embedded runbook with one of its files (chosen by the first
//! byte) replaced by arbitrary bytes. The loader must answer with diagnostics, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use outpost_migrate::runbook::{self, RunbookSource};

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else { return };
    let mut files: Vec<(String, Vec<u8>)> =
        runbook::source::embedded_files().map(|(n, t)| (n.to_owned(), t.as_bytes().to_vec())).collect();
    let i = usize::from(pick) % files.len();
    files[i].1 = body.to_vec();
    let _ = runbook::load(&RunbookSource::Memory(files));
});
