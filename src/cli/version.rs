//! What `--version` says: the build's version and the embedded runbook it runs, by name and
//! hash, so an operator can tell which runbook a binary carries.

use std::sync::LazyLock;

use crate::runbook::source;

/// `0.1.0 (runbook NAME sha256:0123456789ab)`: the hash is the first 12 hex digits of the
/// embedded runbook's fingerprint, which `validate --output json` prints whole (`sha256`).
pub static VERSION: LazyLock<String> = LazyLock::new(|| {
    let (name, digest) = source::embedded_identity();
    format!(
        "{} (runbook {name} sha256:{})",
        env!("CARGO_PKG_VERSION"),
        &digest[..12]
    )
});

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runbook::{self, RunbookSource};

    #[test]
    fn the_version_names_the_embedded_runbook_as_loading_it_does() {
        let loaded = runbook::load(&RunbookSource::Embedded).expect("the embedded runbook loads");
        let (name, digest) = source::embedded_identity();
        assert_eq!(name, loaded.name);
        assert_eq!(digest, loaded.digest);
        assert!(VERSION.contains(&format!("runbook {name} sha256:{}", &digest[..12])));
    }
}
