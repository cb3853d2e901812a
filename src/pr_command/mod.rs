//! Commands given in pull request comments (`/alchemy deploy`, `keep 7d`,
//! …): what a comment asks for, who may ask, what the answer looks like,
//! and the approval that lets a fork's code run. Pure: the comment, the
//! commenter's permission and the configuration come in, a decision and
//! text come out. The GitHub calls are in `github::commands_api`; reading
//! the checked-out commit is in `checkout`.

pub mod approval;
pub mod decide;
pub mod help;
pub mod parse;
pub mod permission;

use serde::Serialize;

/// The reactions alchemy-ci puts on a command's comment, as GitHub names
/// them in `POST …/issues/comments/{id}/reactions`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Reaction {
    /// 👎: refused, nothing else happens.
    #[serde(rename = "-1")]
    MinusOne,
    /// 👀: the run has started.
    #[serde(rename = "eyes")]
    Eyes,
    /// 🚀: done.
    #[serde(rename = "rocket")]
    Rocket,
    /// 😕: failed, or the command was not understood.
    #[serde(rename = "confused")]
    Confused,
}

impl Reaction {
    /// The `content` GitHub takes.
    pub fn content(self) -> &'static str {
        match self {
            Self::MinusOne => "-1",
            Self::Eyes => "eyes",
            Self::Rocket => "rocket",
            Self::Confused => "confused",
        }
    }
}
