//! The command as the operator typed it, for the hints that repeat it: "resume with" gives it
//! back whole, "to undo" gives a rollback with its options. Each word is redacted before it is
//! shell-quoted, so a copied hint runs the same command, no value in it becomes a shell word
//! of its own, and no secret is shown.

/// The program as hints name it, whatever path it was started by.
const PROGRAM: &str = "outpost-migrate";

/// Options a rollback hint keeps: where the state and runbook are, the vars, the AWS profile
/// and region, and how output looks. Approvals (`--yes`, `--approve`) and the guards'
/// overrides were given for the steps of the command that failed, not for the rollback, and
/// `--jobs` and `--dry-run` belong to other commands.
const KEPT_FOR_ROLLBACK: &[&str] = &[
    "runbook",
    "state-dir",
    "var",
    "profile",
    "region",
    "output",
    "no-color",
    "verbose",
    "quiet",
];

/// One option of the command line: its long name and the words it took.
#[derive(Debug, Clone)]
struct Flag {
    long: String,
    words: Vec<String>,
}

/// The words after the program name, as typed, with the options among them.
#[derive(Debug, Clone, Default)]
pub struct TypedCommand {
    words: Vec<String>,
    options: Vec<Flag>,
}

/// What the settings know of the options: for an option word (`--var`, `-v`), its long name
/// and whether it takes a value.
pub trait OptionShape {
    fn shape(&self, word: &str) -> Option<(String, bool)>;
}

impl TypedCommand {
    /// Reads `args` (the program name first, as `std::env::args_os` gives them) with `shape`
    /// telling which words are options and which of those take the next word as their value.
    pub fn parse(args: &[String], shape: &dyn OptionShape) -> Self {
        let words: Vec<String> = args.iter().skip(1).cloned().collect();
        let mut options = Vec::new();
        let mut i = 0;
        while i < words.len() {
            let word = &words[i];
            if word == "--" {
                break;
            }
            let (name, inline) = match word.split_once('=') {
                Some((name, _)) if word.starts_with("--") => (name, true),
                _ => (word.as_str(), false),
            };
            let taken = if name.starts_with('-') {
                shape.shape(name)
            } else {
                None
            };
            match taken {
                Some((long, takes_value)) => {
                    let n = if takes_value && !inline { 2 } else { 1 };
                    let end = (i + n).min(words.len());
                    options.push(Flag {
                        long,
                        words: words[i..end].to_vec(),
                    });
                    i = end;
                }
                None => i += 1,
            }
        }
        TypedCommand { words, options }
    }

    /// Redacts every word (a `--var key=$SECRET`), before any quoting can split a secret.
    pub fn redact(&mut self, redact: impl Fn(&str) -> String) {
        for w in &mut self.words {
            *w = redact(w);
        }
        for o in &mut self.options {
            for w in &mut o.words {
                *w = redact(w);
            }
        }
    }

    /// The command as typed: what "resume with" says.
    pub fn resume(&self) -> String {
        line(std::iter::once(PROGRAM.to_owned()).chain(self.words.iter().cloned()))
    }

    /// `rollback --level N` with the options that say where and how the run ran.
    pub fn rollback(&self, level: u8) -> String {
        let head = [PROGRAM, "rollback", "--level"].map(str::to_owned);
        let kept = self
            .options
            .iter()
            .filter(|o| KEPT_FOR_ROLLBACK.contains(&o.long.as_str()))
            .flat_map(|o| o.words.iter().cloned());
        line(head.into_iter().chain([level.to_string()]).chain(kept))
    }
}

/// The command line as one line for the lock and the audit log (plain words bare, others
/// single-quoted).
pub fn shell_words(args: &[String]) -> String {
    let mut words = vec!["outpost-migrate".to_string()];
    words.extend(args.iter().skip(1).map(|a| {
        if a.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:".contains(c))
        {
            a.clone()
        } else {
            format!("'{}'", a.replace('\'', "'\\''"))
        }
    }));
    words.join(" ")
}

/// Words joined into one shell line, each quoted as a POSIX shell needs it.
fn line(words: impl Iterator<Item = String>) -> String {
    words.map(|w| quote(&w)).collect::<Vec<_>>().join(" ")
}

fn quote(word: &str) -> String {
    // Command-line words hold no NUL byte (the OS cannot pass one), so quoting never fails;
    // should it, the word is still single-quoted whole.
    shlex::try_quote(word).map_or_else(
        |_| format!("'{}'", word.replace('\'', "'\\''")),
        |q| q.into_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Shape;

    impl OptionShape for Shape {
        fn shape(&self, word: &str) -> Option<(String, bool)> {
            match word {
                "--state-dir" | "--var" | "--approve" | "--profile" | "--runbook" => {
                    Some((word.trim_start_matches('-').to_owned(), true))
                }
                "--yes" | "-y" => Some(("yes".into(), false)),
                "-v" | "-vv" => Some(("verbose".into(), false)),
                "--force" => Some(("force".into(), false)),
                _ => None,
            }
        }
    }

    fn typed(words: &[&str]) -> TypedCommand {
        let args: Vec<String> = std::iter::once("/usr/bin/outpost-migrate")
            .chain(words.iter().copied())
            .map(str::to_owned)
            .collect();
        TypedCommand::parse(&args, &Shape)
    }

    fn words(line: &str) -> Vec<String> {
        shlex::split(line).expect("a shell line")
    }

    #[test]
    fn resume_repeats_every_word_and_a_hostile_value_stays_one_word() {
        let typed_words = [
            "--state-dir",
            "my state",
            "phase",
            "3",
            "--var",
            "domain=x; rm -rf ~",
            "--approve=alb-terraform-apply",
            "-y",
        ];
        let line = typed(&typed_words).resume();
        assert!(
            line.starts_with("outpost-migrate --state-dir 'my state' phase 3 --var "),
            "{line}"
        );
        let mut want = vec!["outpost-migrate"];
        want.extend(typed_words);
        assert_eq!(words(&line), want, "{line}");
    }

    #[test]
    fn rollback_keeps_where_and_how_but_not_approvals_or_overrides() {
        let t = typed(&[
            "--runbook=rb",
            "--state-dir",
            "s",
            "run",
            "--approve",
            "x",
            "--yes",
            "--force",
            "--var",
            "a=b",
            "-vv",
            "--profile",
            "ops",
        ]);
        assert_eq!(
            words(&t.rollback(2)),
            [
                "outpost-migrate",
                "rollback",
                "--level",
                "2",
                "--runbook=rb",
                "--state-dir",
                "s",
                "--var",
                "a=b",
                "-vv",
                "--profile",
                "ops"
            ]
        );
    }

    #[test]
    fn a_secret_is_redacted_word_by_word_before_quoting() {
        let mut t = typed(&["run", "--var", "key=it's-s3cret-value"]);
        t.redact(|w| w.replace("it's-s3cret-value", crate::secrets::MASK));
        assert_eq!(
            words(&t.resume()),
            ["outpost-migrate", "run", "--var", "key=***"]
        );
        assert!(!t.resume().contains("s3cret"));
        assert_eq!(
            words(&t.rollback(1)),
            [
                "outpost-migrate",
                "rollback",
                "--level",
                "1",
                "--var",
                "key=***"
            ]
        );
    }
}
