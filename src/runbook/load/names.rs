//! What a step id, var or capture may be called: the characters of an id, and the names
//! templates already use.

use super::parse::FileCx;
use crate::runbook::diagnostic::{Diagnostic, Loc};

/// Names every template already has (`env.NAME`, `item`, `attempt`, `run`): a var or capture
/// of one of these names would be silently hidden by, or hide, the engine's own value.
pub(super) const RESERVED_NAMES: [&str; 4] = ["env", "item", "attempt", "run"];

/// A var or capture named like one of the engine's own template values.
pub(super) fn reserved_name(cx: &FileCx, loc: Loc, what: &str, name: &str) -> Option<Diagnostic> {
    RESERVED_NAMES.contains(&name).then(|| {
        cx.diag(
            loc,
            format!("{what} `{name}` has a name templates already use"),
        )
        .hint(format!(
            "`env`, `item`, `attempt` and `run` are the engine's own values; rename the {what}"
        ))
    })
}

/// Ids (and capture names) use ASCII letters, digits, `-` and `_`.
pub(super) fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_ascii_letters_digits_dashes_and_underscores() {
        assert!(valid_id("scale-down_2"));
        for bad in ["", "a b", "a.b", "é", "{{ x }}"] {
            assert!(!valid_id(bad), "`{bad}` passed");
        }
    }
}
