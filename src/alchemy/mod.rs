//! Running the Alchemy program: which command line a stage's deploy,
//! destroy or read becomes, and how that choice is made for an app.
//!
//! Every command is an argument vector. Alchemy v1 itself pastes `--stage`
//! into a shell string, which is why stages are validated long before they
//! get here (see [`crate::stage`]).

mod detect;
pub mod layout;
pub mod process;
pub mod urls;
pub mod verify;

use std::fmt;

use serde::Serialize;

use crate::stage::Stage;

pub use detect::{detect, Detected};

/// What the user configured in `alchemy-command`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "args", rename_all = "kebab-case")]
pub enum AlchemyCommand {
    /// Choose from the app's installed `alchemy` version or `package.json`.
    Auto,
    V1,
    /// Run the app's entry script directly; the entry defaults to
    /// `alchemy.run.ts`.
    V1Script(Option<String>),
    V2,
    /// A user's own argument vector with `{stage}` and `{phase}` placeholders.
    Custom(Vec<String>),
}

impl AlchemyCommand {
    /// Splits the text form of the input: a JSON array of strings, or words
    /// separated by white space. Quotes are refused in the word form rather
    /// than half-honoured, since no shell ever sees this.
    pub fn split_words(text: &str) -> Result<Vec<String>, String> {
        let text = text.trim();
        if text.starts_with('[') {
            return serde_json::from_str::<Vec<String>>(text)
                .map_err(|e| format!("not a JSON array of strings: {e}"));
        }
        if text.contains(['"', '\'', '\\']) {
            return Err(
                "quotes and backslashes are not interpreted; write the command as a JSON array of strings"
                    .into(),
            );
        }
        Ok(text.split_whitespace().map(str::to_owned).collect())
    }

    pub fn from_words(words: &[String]) -> Result<Self, String> {
        let first = words.first().map(String::as_str);
        Ok(match (first, words.len()) {
            (None, _) => return Err("is empty".into()),
            (Some("auto"), 1) => Self::Auto,
            (Some("v1"), 1) => Self::V1,
            (Some("v2"), 1) => Self::V2,
            (Some("v1-script"), 1) => Self::V1Script(None),
            (Some("v1-script"), 2) => Self::V1Script(words.get(1).cloned()),
            _ => {
                // Without {phase} a destroy would run the deploy command.
                if !words.iter().any(|w| w.contains("{phase}")) {
                    return Err(
                        "a custom command must contain {phase} (deploy, destroy or read) so a destroy cannot run a deploy"
                            .into(),
                    );
                }
                Self::Custom(words.to_vec())
            }
        })
    }
}

/// The command line style actually used for a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "args", rename_all = "kebab-case")]
pub enum Flavor {
    /// `alchemy deploy|destroy|run --stage S`, run with bun so it works on
    /// Node versions that cannot strip TypeScript types.
    V1,
    /// `bun <entry> --stage S [--destroy|--read]`.
    V1Script(String),
    /// `alchemy deploy|destroy|plan --stage S --yes`.
    V2,
    Custom(Vec<String>),
}

impl fmt::Display for Flavor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::V1 => f.write_str("Alchemy v1 CLI"),
            Self::V1Script(entry) => write!(f, "Alchemy v1 script {entry}"),
            Self::V2 => f.write_str("Alchemy v2 CLI"),
            Self::Custom(_) => f.write_str("custom command"),
        }
    }
}

/// What a run does to a stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Deploy,
    Destroy,
    Read,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Deploy => "deploy",
            Self::Destroy => "destroy",
            Self::Read => "read",
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The CLI every flavor but the script form runs, relative to the app.
pub const ALCHEMY_BIN: &str = "node_modules/.bin/alchemy";

/// The argument vector for one phase of one stage. Pure. A profile is
/// passed as `--profile`, which the Alchemy CLIs and `alchemy()` itself
/// read; a custom command gets it through a `{profile}` placeholder.
pub fn argv(flavor: &Flavor, phase: Phase, stage: &Stage, profile: Option<&str>) -> Vec<String> {
    let mut words = base_argv(flavor, phase, stage, profile);
    if let (Some(p), false) = (profile, matches!(flavor, Flavor::Custom(_))) {
        words.push("--profile".into());
        words.push(p.to_owned());
    }
    words
}

fn base_argv(flavor: &Flavor, phase: Phase, stage: &Stage, profile: Option<&str>) -> Vec<String> {
    let s = stage.as_str().to_owned();
    let words: Vec<&str> = match flavor {
        Flavor::V1 => {
            let verb = match phase {
                Phase::Deploy => "deploy",
                Phase::Destroy => "destroy",
                Phase::Read => "run",
            };
            vec!["bun", ALCHEMY_BIN, verb, "--stage", &s]
        }
        Flavor::V1Script(entry) => {
            let mut w = vec!["bun", entry.as_str(), "--stage", &s];
            match phase {
                Phase::Deploy => {}
                Phase::Destroy => w.push("--destroy"),
                Phase::Read => w.push("--read"),
            }
            w
        }
        Flavor::V2 => match phase {
            Phase::Deploy => vec!["bun", ALCHEMY_BIN, "deploy", "--stage", &s, "--yes"],
            Phase::Destroy => vec!["bun", ALCHEMY_BIN, "destroy", "--stage", &s, "--yes"],
            Phase::Read => vec!["bun", ALCHEMY_BIN, "plan", "--stage", &s],
        },
        Flavor::Custom(words) => {
            return words
                .iter()
                .map(|w| {
                    w.replace("{stage}", &s)
                        .replace("{phase}", phase.as_str())
                        .replace("{profile}", profile.unwrap_or(""))
                })
                .collect()
        }
    };
    words.into_iter().map(str::to_owned).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stage::StagePrefix;

    fn stage(s: &str) -> Stage {
        Stage::parse(s, &StagePrefix::default()).expect("valid stage")
    }

    fn words(s: &str) -> Vec<String> {
        AlchemyCommand::split_words(s).expect("splits")
    }

    #[test]
    fn each_flavor_builds_its_documented_vector() {
        let s = stage("pr-7");
        assert_eq!(
            argv(&Flavor::V1, Phase::Destroy, &s, None),
            [
                "bun",
                "node_modules/.bin/alchemy",
                "destroy",
                "--stage",
                "pr-7"
            ]
        );
        assert_eq!(
            argv(
                &Flavor::V1Script("alchemy.run.ts".into()),
                Phase::Read,
                &s,
                None
            ),
            ["bun", "alchemy.run.ts", "--stage", "pr-7", "--read"]
        );
        assert_eq!(
            argv(&Flavor::V2, Phase::Deploy, &s, Some("ci")),
            [
                "bun",
                "node_modules/.bin/alchemy",
                "deploy",
                "--stage",
                "pr-7",
                "--yes",
                "--profile",
                "ci"
            ]
        );
    }

    #[test]
    fn custom_placeholders_stay_inside_their_argument() {
        let cmd = AlchemyCommand::from_words(&words(
            r#"["npm", "run", "{phase}", "--", "--stage={stage}"]"#,
        ))
        .expect("valid custom command");
        let AlchemyCommand::Custom(w) = cmd else {
            panic!("expected a custom command, got {cmd:?}")
        };
        assert_eq!(
            argv(
                &Flavor::Custom(w),
                Phase::Destroy,
                &stage("pr-7"),
                Some("ci")
            ),
            ["npm", "run", "destroy", "--", "--stage=pr-7"]
        );
    }

    #[test]
    fn custom_command_without_phase_is_refused() {
        let err = AlchemyCommand::from_words(&words("bun deploy.ts --stage {stage}"));
        assert!(err.is_err_and(|e| e.contains("{phase}")));
    }

    #[test]
    fn quoted_word_form_is_refused() {
        assert!(AlchemyCommand::split_words("bun 'my app.ts' {phase}").is_err());
        assert_eq!(words("v1-script  app.ts"), ["v1-script", "app.ts"]);
    }
}
