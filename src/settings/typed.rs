//! Which words of the command line are options, read from clap's own definition (every
//! subcommand's arguments included), so the typed command is understood as clap understood it.

use std::collections::BTreeMap;

use clap::CommandFactory;

use crate::cli::Cli;
use crate::command_line::{OptionShape, TypedCommand};

/// Every option of the command line: `--long` and `-s`, each with its long name and whether it
/// takes a value.
struct ClapShape {
    options: BTreeMap<String, (String, bool)>,
}

impl ClapShape {
    fn new() -> Self {
        // Built, so every argument's action is final (a flag's is `SetTrue`, not the default).
        let mut root = Cli::command();
        root.build();
        let mut options = BTreeMap::new();
        let commands = std::iter::once(&root).chain(root.get_subcommands());
        for arg in commands.flat_map(|c| c.get_arguments()) {
            let Some(long) = arg.get_long() else {
                continue;
            };
            let shape = (long.to_owned(), arg.get_action().takes_values());
            options.insert(format!("--{long}"), shape.clone());
            if let Some(short) = arg.get_short() {
                options.insert(format!("-{short}"), shape);
            }
        }
        ClapShape { options }
    }
}

impl OptionShape for ClapShape {
    fn shape(&self, word: &str) -> Option<(String, bool)> {
        if let Some(shape) = self.options.get(word) {
            return Some(shape.clone());
        }
        // Short options together (`-vv`, `-vy`): named by the first; a value would be attached.
        let first = word
            .strip_prefix('-')
            .filter(|rest| !rest.starts_with('-'))?;
        let c = first.chars().next()?;
        self.options
            .get(&format!("-{c}"))
            .map(|(long, _)| (long.clone(), false))
    }
}

/// The command line as typed (the program name first).
pub(super) fn typed(args: &[String]) -> TypedCommand {
    TypedCommand::parse(args, &ClapShape::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_options_are_clap_s_own() {
        let shape = ClapShape::new();
        assert_eq!(shape.shape("--var"), Some(("var".into(), true)));
        assert_eq!(shape.shape("--state-dir"), Some(("state-dir".into(), true)));
        assert_eq!(shape.shape("--yes"), Some(("yes".into(), false)));
        assert_eq!(shape.shape("-vv"), Some(("verbose".into(), false)));
        assert_eq!(shape.shape("phase"), None);
    }
}
