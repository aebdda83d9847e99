//! The one owner of stdout, stderr, colour, progress bars and prompts (uv's printer).

use std::io::{BufRead, Write};
use std::sync::atomic::{AtomicBool, Ordering};

use indicatif::{MultiProgress, ProgressDrawTarget};

use crate::prompt::Prompter;
use crate::settings::TerminalSettings;

pub struct Terminal {
    pub multi: MultiProgress,
    pub color: bool,
    /// Spinners are drawn (as the settings decided: stderr is a terminal, not `-q`).
    pub live: bool,
    pub quiet: bool,
    pub verbose: u8,
    /// The columns of stdout's terminal, `None` off a terminal.
    pub width: Option<usize>,
    /// Without spinners, how often at most a line says what the run waits for.
    pub heartbeat: std::time::Duration,
    can_prompt: bool,
    /// A question waits for its answer.
    asking: AtomicBool,
    /// Held while a question is asked.
    ask: std::sync::Mutex<()>,
}

impl Terminal {
    /// Takes the terminal as the settings resolved it; decides nothing itself.
    pub fn new(terminal: TerminalSettings, quiet: bool, verbose: u8) -> Self {
        let TerminalSettings {
            color,
            live,
            can_prompt,
            width,
            heartbeat,
            ..
        } = terminal;
        let target = if live {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        console::set_colors_enabled(color);
        console::set_colors_enabled_stderr(color);
        Terminal {
            multi: MultiProgress::with_draw_target(target),
            color,
            live,
            quiet,
            verbose,
            width,
            heartbeat,
            can_prompt,
            asking: AtomicBool::new(false),
            ask: std::sync::Mutex::new(()),
        }
    }

    /// A line on stdout, above any progress bars.
    pub fn out(&self, line: &str) {
        self.multi.suspend(|| {
            let mut stdout = std::io::stdout().lock();
            let _ = writeln!(stdout, "{line}");
            let _ = stdout.flush();
        });
    }

    /// A line on stderr, above any progress bars; while a question waits for its answer, at
    /// once, below it (a Ctrl-C's acknowledgement must not wait for the operator's answer).
    pub fn err(&self, line: &str) {
        if self.asking.load(Ordering::SeqCst) {
            eprintln!("\n{line}");
        } else {
            self.multi.suspend(|| eprintln!("{line}"));
        }
    }

    pub fn style(&self, text: &str, style: console::Style) -> String {
        if self.color {
            style.apply_to(text).to_string()
        } else {
            text.to_owned()
        }
    }
}

impl Prompter for Terminal {
    fn can_prompt(&self) -> bool {
        self.can_prompt
    }

    /// One question at a time. The progress bars are cleared and not drawn while it waits,
    /// rather than suspended: a suspension would hold every bar's update (a check starting, a
    /// retry) and with it the run, a Ctrl-C's acknowledgement included, until the answer.
    fn confirm(&self, question: &str) -> bool {
        let _one = self.ask.lock().unwrap_or_else(|e| e.into_inner());
        let _ = self.multi.clear();
        self.multi.set_draw_target(ProgressDrawTarget::hidden());
        eprint!("{question} [y/N] ");
        let _ = std::io::stderr().flush();
        let mut answer = String::new();
        self.asking.store(true, Ordering::SeqCst);
        let read = std::io::stdin().lock().read_line(&mut answer);
        self.asking.store(false, Ordering::SeqCst);
        if self.live {
            self.multi.set_draw_target(ProgressDrawTarget::stderr());
        }
        read.is_ok() && matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
    }
}
