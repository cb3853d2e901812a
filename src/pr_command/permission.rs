//! Who may give commands: a commenter's repository permission, as GitHub's
//! collaborators API reports it, against the level the configuration
//! requires.
//!
//! `GET /repos/{o}/{r}/collaborators/{user}/permission` answers two fields.
//! `permission` holds the legacy base roles only (`admin`, `write`, `read`,
//! `none`), with `maintain` reported as `write` and `triage` as `read`;
//! `role_name` names the role itself, custom roles included. So
//! `role_name` is used when it is a base role that agrees with
//! `permission`, and `permission` otherwise: a custom role counts as the
//! base role it maps to, and a `role_name` that claims more than
//! `permission` allows is not believed.

use std::fmt;

use serde::Serialize;

/// Repository permission, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Permission {
    None,
    Read,
    Triage,
    Write,
    Maintain,
    Admin,
}

/// The level commands need unless configured otherwise.
pub const DEFAULT_REQUIRED: Permission = Permission::Write;

impl Permission {
    /// One of GitHub's base role names.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "none" => Self::None,
            "read" => Self::Read,
            "triage" => Self::Triage,
            "write" => Self::Write,
            "maintain" => Self::Maintain,
            "admin" => Self::Admin,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Read => "read",
            Self::Triage => "triage",
            Self::Write => "write",
            Self::Maintain => "maintain",
            Self::Admin => "admin",
        }
    }

    /// What the legacy `permission` field reports for this role.
    fn legacy(self) -> Self {
        match self {
            Self::Maintain => Self::Write,
            Self::Triage => Self::Read,
            other => other,
        }
    }

    /// The permission in an API answer; anything unrecognised is `None`,
    /// so an answer this code does not understand never grants anything.
    pub fn from_api(permission: &str, role_name: Option<&str>) -> Self {
        let legacy = match Self::parse(permission) {
            Some(p) if p == p.legacy() => p,
            _ => return Self::None,
        };
        match role_name.and_then(Self::parse) {
            Some(role) if role.legacy() == legacy => role,
            _ => legacy,
        }
    }

    /// The `command-permission` setting. `none` and `read` are refused: on
    /// a public repository every GitHub account has `read`, and commands
    /// run with the workflow's secrets.
    pub fn parse_required(s: &str) -> Result<Self, String> {
        match Self::parse(s.trim()) {
            Some(p) if p >= Self::Triage => Ok(p),
            Some(p) => Err(format!(
                "command-permission {} would let anyone who can read the repository (every GitHub account, for a public one) run commands with the workflow's secrets; use triage, write, maintain or admin",
                p.as_str()
            )),
            None => Err(format!(
                "command-permission {s:?} is not one of triage, write, maintain, admin"
            )),
        }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_ordered() {
        use Permission::*;
        let all = [None, Read, Triage, Write, Maintain, Admin];
        for w in all.windows(2) {
            assert!(w[0] < w[1], "{:?} < {:?}", w[0], w[1]);
        }
        for p in all {
            assert_eq!(Permission::parse(p.as_str()), Some(p));
        }
    }

    /// (permission, role_name, what counts)
    #[test]
    fn the_api_answer_table() {
        use Permission::*;
        let table: &[(&str, Option<&str>, Permission)] = &[
            ("admin", Some("admin"), Admin),
            ("write", Some("maintain"), Maintain),
            ("write", Some("write"), Write),
            ("read", Some("triage"), Triage),
            ("read", Some("read"), Read),
            ("none", Some("none"), None),
            ("none", Some(""), None),
            // Without role_name (older GitHub Enterprise Server): legacy.
            ("admin", Option::None, Admin),
            ("write", Option::None, Write),
            ("read", Option::None, Read),
            ("none", Option::None, None),
            // A custom role counts as its base role.
            ("write", Some("security-reviewer"), Write),
            ("read", Some("docs-team"), Read),
            // A role_name claiming more than permission is not believed.
            ("read", Some("admin"), Read),
            ("read", Some("maintain"), Read),
            ("none", Some("triage"), None),
            ("write", Some("admin"), Write),
            // permission is only ever a legacy base role; anything else
            // (including the new names there) grants nothing.
            ("maintain", Some("maintain"), None),
            ("triage", Option::None, None),
            ("Admin", Some("admin"), None),
            ("", Option::None, None),
            ("owner", Some("admin"), None),
        ];
        for (permission, role, want) in table {
            assert_eq!(
                Permission::from_api(permission, *role),
                *want,
                "permission {permission:?}, role_name {role:?}"
            );
        }
    }

    #[test]
    fn the_required_level_is_at_least_triage() {
        assert_eq!(Permission::parse_required("write"), Ok(Permission::Write));
        assert_eq!(Permission::parse_required(" admin "), Ok(Permission::Admin));
        assert_eq!(Permission::parse_required("triage"), Ok(Permission::Triage));
        for bad in ["read", "none", "", "Write", "push", "owner"] {
            assert!(Permission::parse_required(bad).is_err(), "{bad:?}");
        }
        assert_eq!(DEFAULT_REQUIRED, Permission::Write);
    }
}
