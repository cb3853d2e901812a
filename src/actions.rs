//! The GitHub Actions runtime: step outputs (`GITHUB_OUTPUT`), the job
//! summary (`GITHUB_STEP_SUMMARY`), annotations and masks. Outside Actions
//! none of it is written and nothing breaks.

use std::io::Write as _;
use std::path::PathBuf;

use crate::env::{var, Env};
use crate::render::term;

/// The runner's file commands, present only under Actions.
#[derive(Debug, Clone, Default)]
pub struct Actions {
    pub active: bool,
    output: Option<PathBuf>,
    summary: Option<PathBuf>,
    /// Workflow commands go to stderr, which the runner reads for them
    /// too, when stdout carries a JSON document.
    commands_on_stderr: bool,
}

impl Actions {
    pub fn from_env(env: &Env) -> Self {
        Self {
            active: var(env, "GITHUB_ACTIONS").as_deref() == Some("true"),
            output: var(env, "GITHUB_OUTPUT").map(PathBuf::from),
            summary: var(env, "GITHUB_STEP_SUMMARY").map(PathBuf::from),
            commands_on_stderr: false,
        }
    }

    /// Keeps stdout for one JSON document: workflow commands go to stderr.
    pub fn commands_on_stderr(&mut self) {
        self.commands_on_stderr = true;
    }

    fn command(&self, s: &str) {
        if self.commands_on_stderr {
            let _ = writeln!(std::io::stderr().lock(), "{s}");
        } else {
            command_line(s);
        }
    }

    /// Hides `value` in every later log line. Must come before the value
    /// could be printed.
    pub fn mask(&self, value: &str) {
        if !self.active {
            return;
        }
        for line in value.lines().map(str::trim).filter(|l| l.len() >= 4) {
            self.command(&format!("::add-mask::{}", escape_data(line)));
        }
    }

    pub fn error(&self, msg: &str) {
        if self.active {
            self.command(&format!(
                "::error title=alchemy-ci::{}",
                escape_data(&term(msg))
            ));
        }
    }

    pub fn warning(&self, msg: &str) {
        if self.active {
            self.command(&format!(
                "::warning title=alchemy-ci::{}",
                escape_data(&term(msg))
            ));
        }
    }

    pub fn notice(&self, msg: &str) {
        if self.active {
            self.command(&format!(
                "::notice title=alchemy-ci::{}",
                escape_data(&term(msg))
            ));
        }
    }

    /// Appends step outputs, each in the multi-line form with a delimiter
    /// that does not occur in the value. Values are single lines with no
    /// unsafe character: whatever a later step does with them (a shell, a
    /// comment of its own), they arrive as shown in the log.
    pub fn set_outputs(&self, outputs: &[(&str, String)]) -> std::io::Result<()> {
        let Some(path) = &self.output else {
            return Ok(());
        };
        let mut text = String::new();
        for (name, value) in outputs {
            let value = term(value);
            let mut delim = format!("ghadelimiter_{:016x}", fastrand::u64(..));
            while value.contains(&delim) {
                delim = format!("ghadelimiter_{:016x}", fastrand::u64(..));
            }
            text.push_str(&format!("{name}<<{delim}\n{value}\n{delim}\n"));
        }
        append(path, &text)
    }

    /// Appends Markdown to the job summary.
    pub fn summary(&self, markdown: &str) -> std::io::Result<()> {
        match &self.summary {
            Some(p) => append(p, markdown),
            None => Ok(()),
        }
    }
}

fn append(path: &PathBuf, text: &str) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    f.write_all(text.as_bytes())
}

fn command_line(s: &str) {
    let mut o = std::io::stdout().lock();
    let _ = writeln!(o, "{s}");
    let _ = o.flush();
}

/// Escaping of a workflow command's data, as the runner expects it.
pub fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_survive_newlines_and_delimiter_lookalikes() {
        let dir = tempfile::tempdir().expect("tmp");
        let out = dir.path().join("output");
        let a = Actions {
            active: true,
            output: Some(out.clone()),
            summary: None,
            commands_on_stderr: false,
        };
        a.set_outputs(&[
            ("urls", "[\"a\"]\nghadelimiter_x\u{202e}".into()),
            ("stage", "pr-1".into()),
        ])
        .expect("write");
        let text = std::fs::read_to_string(out).expect("read");
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("urls<<ghadelimiter_"), "{text}");
        assert_eq!(lines[1], "[\"a\"]\\nghadelimiter_x\\u{202e}");
        assert_eq!(lines[2], &lines[0][6..]);
        assert!(lines[3].starts_with("stage<<"), "{text}");
    }

    #[test]
    fn command_data_is_escaped() {
        assert_eq!(escape_data("50%\nnext"), "50%25%0Anext");
    }
}
