//! Picking the command line style for an app from what it has installed or
//! declares. Reads at most two small files; never runs anything.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{AlchemyCommand, Flavor};

/// The flavor to use and, in words, why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Detected {
    pub flavor: Flavor,
    pub why: String,
}

#[derive(Deserialize, Default)]
struct PackageJson {
    version: Option<String>,
    #[serde(default)]
    dependencies: std::collections::BTreeMap<String, String>,
    #[serde(default, rename = "devDependencies")]
    dev_dependencies: std::collections::BTreeMap<String, String>,
}

/// Resolves `alchemy-command` for the app in `app_dir`. An explicit choice
/// wins; `auto` prefers the installed package's version over the range in
/// `package.json`, because the range may allow either major.
pub fn detect(cmd: &AlchemyCommand, app_dir: &Path) -> Detected {
    let explicit = |flavor, what: &str| Detected {
        flavor,
        why: format!("alchemy-command is {what}"),
    };
    match cmd {
        AlchemyCommand::V1 => return explicit(Flavor::V1, "v1"),
        AlchemyCommand::V2 => return explicit(Flavor::V2, "v2"),
        AlchemyCommand::V1Script(entry) => {
            let entry = entry.clone().unwrap_or_else(|| "alchemy.run.ts".to_owned());
            return explicit(Flavor::V1Script(entry), "v1-script");
        }
        AlchemyCommand::Custom(words) => return explicit(Flavor::Custom(words.clone()), "custom"),
        AlchemyCommand::Auto => {}
    }

    let installed = app_dir.join("node_modules/alchemy/package.json");
    if let Some(version) = read_package(&installed).and_then(|p| p.version) {
        return by_major(&version, "installed alchemy");
    }
    let manifest = app_dir.join("package.json");
    match read_package(&manifest) {
        Some(p) => match p
            .dependencies
            .get("alchemy")
            .or_else(|| p.dev_dependencies.get("alchemy"))
        {
            Some(range) => by_major(range, "package.json depends on alchemy"),
            None => Detected {
                flavor: Flavor::V1,
                why: "package.json does not depend on alchemy; assuming v1".into(),
            },
        },
        None => Detected {
            flavor: Flavor::V1,
            why: format!(
                "no readable package.json in {}; assuming v1",
                app_dir.display()
            ),
        },
    }
}

fn read_package(path: &Path) -> Option<PackageJson> {
    let text = std::fs::read(path).ok()?;
    serde_json::from_slice(&text).ok()
}

fn by_major(version: &str, what: &str) -> Detected {
    let digits: String = version
        .trim_start_matches(|c: char| !c.is_ascii_digit())
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let major: u32 = digits.parse().unwrap_or(0);
    let flavor = if major >= 2 { Flavor::V2 } else { Flavor::V1 };
    Detected {
        why: format!("{what} {version}"),
        flavor,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("temp dir");
        for (path, body) in files {
            let p = dir.path().join(path);
            std::fs::create_dir_all(p.parent().expect("has parent")).expect("mkdir");
            std::fs::write(p, body).expect("write");
        }
        dir
    }

    #[test]
    fn installed_version_wins_over_declared_range() {
        let dir = app(&[
            ("package.json", r#"{"dependencies":{"alchemy":"*"}}"#),
            (
                "node_modules/alchemy/package.json",
                r#"{"version":"2.0.0-beta.79"}"#,
            ),
        ]);
        assert_eq!(detect(&AlchemyCommand::Auto, dir.path()).flavor, Flavor::V2);
    }

    #[test]
    fn declared_range_decides_without_node_modules() {
        let v1 = app(&[(
            "package.json",
            r#"{"devDependencies":{"alchemy":"^0.94.0"}}"#,
        )]);
        let v2 = app(&[(
            "package.json",
            r#"{"dependencies":{"alchemy":"2.0.0-beta.79"}}"#,
        )]);
        assert_eq!(detect(&AlchemyCommand::Auto, v1.path()).flavor, Flavor::V1);
        assert_eq!(detect(&AlchemyCommand::Auto, v2.path()).flavor, Flavor::V2);
    }

    #[test]
    fn nothing_to_read_means_v1_and_says_so() {
        let dir = app(&[]);
        let d = detect(&AlchemyCommand::Auto, dir.path());
        assert_eq!(d.flavor, Flavor::V1);
        assert!(d.why.contains("assuming v1"), "{}", d.why);
    }
}
