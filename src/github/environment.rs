//! Which GitHub environment a stage's deployments go to, what each
//! deployment carries, and how one stage's deployments are told apart from
//! another's when they share an environment. Pure.
//!
//! Every environment name a deployment uses becomes an entry on the
//! repository's Environments page, and the Actions token cannot delete
//! environments, so one environment per pull request (`pr-<n>`) leaves
//! hundreds of dead entries behind. The default is one shared environment,
//! `preview`: each deployment names its stage in its payload
//! (`{"alchemy-ci": {"stage": "pr-7", "pr": 7}}`), its description and its
//! task (`deploy:pr-7`, which the list endpoint filters on, so finding a
//! stage's deployments reads only those). A template with `{stage}` (such
//! as `{stage}` or `preview-{stage}`) gives each stage its own environment
//! again, for teams that set protection rules per preview environment.
//!
//! Deployments are transient and never production: GitHub's `auto_inactive`
//! then leaves them alone (it only marks *non-transient* deployments of the
//! same environment inactive), so PR 8's success does not mark PR 7's
//! preview inactive in the shared environment. alchemy-ci marks a stage's
//! own older deployments inactive itself ([`superseded`]).

use serde::Serialize;
use serde_json::{json, Value};

use crate::event::CommitSha;
use crate::stage::PrNumber;
use crate::state::AsKey;

/// The environment when `deployment-environment` is not set.
pub const DEFAULT_ENVIRONMENT: &str = "preview";

/// Where a template puts the stage name.
pub const STAGE_PLACEHOLDER: &str = "{stage}";

/// GitHub's limit on an environment name.
pub const MAX_ENVIRONMENT_CHARS: usize = 255;

/// The key of alchemy-ci's part of a deployment's payload.
pub const PAYLOAD_KEY: &str = "alchemy-ci";

/// GitHub's limit on a deployment description.
const MAX_DESCRIPTION: usize = 140;

/// The `deployment-environment` setting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "mode", content = "name", rename_all = "snake_case")]
pub enum EnvironmentRule {
    /// Every stage deploys to this one environment.
    Shared(String),
    /// Each stage gets its own environment: the template with `{stage}`
    /// replaced.
    PerStage(String),
}

impl Default for EnvironmentRule {
    fn default() -> Self {
        Self::Shared(DEFAULT_ENVIRONMENT.to_owned())
    }
}

impl EnvironmentRule {
    /// A name of letters, digits, spaces, `.`, `_`, `-` and `/`, or a
    /// template holding `{stage}` once; at most 255 characters with the
    /// longest stage in it.
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let uses = s.matches(STAGE_PLACEHOLDER).count();
        let rest = s.replace(STAGE_PLACEHOLDER, "");
        let chars_ok = rest
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, ' ' | '.' | '_' | '-' | '/'));
        let longest = rest.len() + uses * crate::stage::MAX_STAGE_LEN;
        if s.is_empty() || !chars_ok || uses > 1 || longest > MAX_ENVIRONMENT_CHARS {
            return Err(format!(
                "deployment-environment {s:?} must be an environment name (letters, digits, spaces, . _ - /) such as {DEFAULT_ENVIRONMENT}, or a template holding {STAGE_PLACEHOLDER} once such as preview-{STAGE_PLACEHOLDER}"
            ));
        }
        Ok(if uses == 1 {
            Self::PerStage(s.to_owned())
        } else {
            Self::Shared(s.to_owned())
        })
    }

    /// The environment `stage` deploys to.
    pub fn environment(&self, stage: &dyn AsKey) -> String {
        match self {
            Self::Shared(name) => name.clone(),
            Self::PerStage(t) => t.replace(STAGE_PLACEHOLDER, &stage.as_key().to_string()),
        }
    }

    pub fn is_shared(&self) -> bool {
        matches!(self, Self::Shared(_))
    }

    /// The deployment's `task`: the stage's own in a shared environment,
    /// GitHub's default `deploy` when the environment is the stage's.
    pub fn task(&self, stage: &dyn AsKey) -> String {
        match self {
            Self::Shared(_) => format!("deploy:{}", stage.as_key()),
            Self::PerStage(_) => "deploy".to_owned(),
        }
    }

    /// The query of `GET …/deployments` that lists `stage`'s deployments
    /// (page by page; the answer still goes through [`is_stage_deployment`]).
    pub fn list_query(&self, stage: &dyn AsKey) -> String {
        let mut q = format!("environment={}", query_value(&self.environment(stage)));
        if self.is_shared() {
            q.push_str("&task=");
            q.push_str(&query_value(&self.task(stage)));
        }
        q.push_str("&per_page=100");
        q
    }
}

/// The body of `POST …/deployments` for `stage` at `sha`.
pub fn deployment_request(
    rule: &EnvironmentRule,
    stage: &dyn AsKey,
    pr: Option<PrNumber>,
    sha: &CommitSha,
) -> Value {
    json!({
        "ref": sha.as_str(),
        "environment": rule.environment(stage),
        "task": rule.task(stage),
        "payload": payload(stage, pr),
        "description": description(stage, sha),
        // Transient: GitHub's auto_inactive leaves other stages' deployments
        // in a shared environment alone (see the module documentation).
        "transient_environment": true,
        "production_environment": false,
        "auto_merge": false,
        "required_contexts": [],
    })
}

/// alchemy-ci's part of a deployment's payload.
pub fn payload(stage: &dyn AsKey, pr: Option<PrNumber>) -> Value {
    let key = stage.as_key();
    let mut inner = json!({ "stage": key.stage.as_str() });
    if let Some(app) = &key.app {
        inner["app"] = json!(app.as_str());
    }
    if let Some(n) = pr {
        inner["pr"] = json!(n.get());
    }
    json!({ PAYLOAD_KEY: inner })
}

/// `preview pr-7 @ abc1234`, within GitHub's 140 characters (a stage name
/// is at most 63).
pub fn description(stage: &dyn AsKey, sha: &CommitSha) -> String {
    let d = format!("preview {} @ {}", stage.as_key(), sha.short());
    d.chars().take(MAX_DESCRIPTION).collect()
}

/// A deployment as `GET …/deployments` lists it, the fields that matter.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct ListedDeployment {
    pub id: u64,
    pub environment: String,
    #[serde(default)]
    pub task: String,
    #[serde(default)]
    pub payload: Value,
}

/// Whether `d` is one of `stage`'s deployments. In a shared environment
/// only the payload says so; in a stage's own environment every deployment
/// there is the stage's, those made before payloads existed included.
pub fn is_stage_deployment(
    rule: &EnvironmentRule,
    d: &ListedDeployment,
    stage: &dyn AsKey,
) -> bool {
    let env_matches = d.environment.eq_ignore_ascii_case(&rule.environment(stage));
    let key = stage.as_key();
    let field = |k: &str| {
        d.payload
            .get(PAYLOAD_KEY)
            .and_then(|p| p.get(k))
            .and_then(Value::as_str)
    };
    match rule {
        EnvironmentRule::PerStage(_) => env_matches,
        EnvironmentRule::Shared(_) => {
            env_matches
                && field("stage") == Some(key.stage.as_str())
                && field("app") == key.app.as_ref().map(|a| a.as_str())
        }
    }
}

/// The ids among `listed` to mark inactive for `stage`: all of its
/// deployments but `keep` (the one just made, if any), never another
/// stage's.
pub fn superseded(
    rule: &EnvironmentRule,
    listed: &[ListedDeployment],
    stage: &dyn AsKey,
    keep: Option<u64>,
) -> Vec<u64> {
    listed
        .iter()
        .filter(|d| Some(d.id) != keep && is_stage_deployment(rule, d, stage))
        .map(|d| d.id)
        .collect()
}

/// Percent-encodes a query value: everything but unreserved characters.
fn query_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stage::{Stage, StagePrefix};

    fn stage(s: &str) -> Stage {
        Stage::parse(s, &StagePrefix::default()).expect("stage")
    }

    fn listed(id: u64, env: &str, payload: Value) -> ListedDeployment {
        ListedDeployment {
            id,
            environment: env.into(),
            task: String::new(),
            payload,
        }
    }

    #[test]
    fn the_setting() {
        let pr7 = stage("pr-7");
        let table: &[(&str, &str, bool)] = &[
            ("preview", "preview", true),
            ("Preview apps", "Preview apps", true),
            ("{stage}", "pr-7", false),
            ("preview-{stage}", "preview-pr-7", false),
            ("previews/{stage}", "previews/pr-7", false),
        ];
        for (input, env, shared) in table {
            let rule = EnvironmentRule::parse(input).expect(input);
            assert_eq!(rule.environment(&pr7), *env, "{input}");
            assert_eq!(rule.is_shared(), *shared, "{input}");
        }
        for bad in [
            "",
            "{stage}-{stage}",
            "a,b",
            "x\ny",
            "{pr}",
            "<b>",
            &"x".repeat(256),
            &format!("{}{{stage}}", "x".repeat(200)),
        ] {
            assert!(EnvironmentRule::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            EnvironmentRule::default(),
            EnvironmentRule::Shared("preview".into())
        );
    }

    #[test]
    fn a_shared_environment_tells_stages_apart_by_payload() {
        let rule = EnvironmentRule::default();
        let (pr7, pr8) = (stage("pr-7"), stage("pr-8"));
        let sha = CommitSha::parse(&"a".repeat(40)).expect("sha");
        let req = deployment_request(&rule, &pr7, PrNumber::new(7), &sha);
        assert_eq!(req["environment"], "preview");
        assert_eq!(req["task"], "deploy:pr-7");
        assert_eq!(
            req["payload"],
            json!({"alchemy-ci": {"stage": "pr-7", "pr": 7}})
        );
        assert_eq!(req["description"], "preview pr-7 @ aaaaaaa");
        assert_eq!(req["transient_environment"], true);
        assert_eq!(req["production_environment"], false);

        let all = vec![
            listed(1, "preview", payload(&pr7, PrNumber::new(7))),
            listed(2, "preview", payload(&pr8, PrNumber::new(8))),
            listed(3, "preview", payload(&pr7, PrNumber::new(7))),
            listed(4, "preview", json!({})),
            listed(5, "pr-7", payload(&pr7, PrNumber::new(7))),
            listed(6, "Preview", json!({"alchemy-ci": {"stage": "pr-7"}})),
        ];
        assert_eq!(superseded(&rule, &all, &pr7, Some(3)), vec![1, 6]);
        assert_eq!(superseded(&rule, &all, &pr8, None), vec![2]);
        assert_eq!(
            rule.list_query(&pr7),
            "environment=preview&task=deploy%3Apr-7&per_page=100"
        );
    }

    /// The apps of one pull request share its stage name: in a shared
    /// environment their deployments are told apart by the app in the
    /// payload, so one app's deploy never marks another's inactive.
    #[test]
    fn apps_of_one_stage_keep_their_own_deployments() {
        use crate::apps::spec::AppName;
        use crate::state::StateKey;
        let rule = EnvironmentRule::default();
        let pr7 = stage("pr-7");
        let app = |a: &str| StateKey::app(pr7.clone(), AppName::parse(a).expect("app"));
        let (api, web) = (app("api"), app("web"));
        let sha = CommitSha::parse(&"a".repeat(40)).expect("sha");
        let req = deployment_request(&rule, &api, PrNumber::new(7), &sha);
        assert_eq!(
            req["payload"],
            json!({"alchemy-ci": {"stage": "pr-7", "app": "api", "pr": 7}})
        );
        assert_eq!(req["task"], "deploy:pr-7@api");
        assert_eq!(req["description"], "preview pr-7@api @ aaaaaaa");
        let all = vec![
            listed(1, "preview", payload(&api, PrNumber::new(7))),
            listed(2, "preview", payload(&web, PrNumber::new(7))),
            listed(3, "preview", payload(&pr7, PrNumber::new(7))),
        ];
        assert_eq!(superseded(&rule, &all, &api, None), vec![1]);
        assert_eq!(superseded(&rule, &all, &pr7, None), vec![3]);
        let per = EnvironmentRule::parse("preview-{stage}").expect("rule");
        assert_eq!(per.environment(&web), "preview-pr-7@web");
    }

    #[test]
    fn a_stage_environment_is_the_stages_whatever_the_payload() {
        let rule = EnvironmentRule::parse("{stage}").expect("rule");
        let pr7 = stage("pr-7");
        let all = vec![
            listed(1, "pr-7", json!({})),
            listed(2, "pr-70", json!({})),
            listed(3, "pr-7", payload(&pr7, None)),
        ];
        assert_eq!(superseded(&rule, &all, &pr7, Some(3)), vec![1]);
        assert_eq!(rule.task(&pr7), "deploy");
        assert_eq!(rule.list_query(&pr7), "environment=pr-7&per_page=100");
        let spaced = EnvironmentRule::parse("preview apps/{stage}").expect("rule");
        assert_eq!(
            spaced.list_query(&pr7),
            "environment=preview%20apps%2Fpr-7&per_page=100"
        );
    }
}
