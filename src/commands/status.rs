//! `alchemy-ci status`: every stage in the store (apps' stages too, as
//! `<stage>@<app>`), from its record.

use std::fmt::Write as _;

use serde_json::json;

use super::session::{say, Session};
use super::CommandError;
use crate::config::FlagValues;
use crate::render::term;
use crate::time::Timestamp;

/// `alchemy-ci status`.
#[derive(Debug, Clone, Default)]
pub struct StatusArgs {
    /// One JSON array on stdout.
    pub json: bool,
    /// Run every deployed stage's read phase first.
    pub refresh: bool,
    pub flags: FlagValues,
}

/// `alchemy-ci status [--refresh]`.
pub fn command(args: &StatusArgs, env: &super::Env) -> Result<u8, CommandError> {
    let config = super::load_config(&args.flags, env)?;
    super::existing_store(&config)?;
    let event = super::manual_event("status", env);
    let mut session = Session::open_with(config, env, &event, args.json)?;
    let refreshed = if args.refresh {
        refresh(&mut session, env)?
    } else {
        0
    };
    let code = show(&session, args.json)?;
    Ok(if refreshed > 0 { 1 } else { code })
}

/// Runs the read phase for every deployed stage, so the URLs shown are
/// current; returns how many could not be read.
fn refresh(session: &mut Session, env: &super::Env) -> Result<usize, CommandError> {
    let all = session.store.key_records()?;
    let mut failed = 0;
    // An app no longer in apps: has no folder to read it in: listed, not read.
    let configured = |app: &crate::apps::spec::AppName| {
        session
            .config
            .apps
            .as_ref()
            .is_some_and(|a| a.get(app).is_some())
    };
    let deployed_apps: Vec<_> = all
        .iter()
        .filter(|(k, r)| {
            k.app.as_ref().is_some_and(configured)
                && matches!(r, Ok(Some(r)) if r.status == crate::record::RecordStatus::Deployed)
        })
        .map(|(k, _)| k.clone())
        .collect();
    for key in deployed_apps {
        if !super::apps::read_app(&*session, env, &key) {
            failed += 1;
        }
    }
    let deployed: Vec<_> = crate::state::single_records(all)
        .into_iter()
        .filter_map(|(stage, r)| match r {
            Ok(Some(r)) if r.status == crate::record::RecordStatus::Deployed => Some(stage),
            _ => None,
        })
        .collect();
    for stage in deployed {
        session.config.command = crate::config::Command::Read;
        session.config.stage = Some(stage.clone());
        let event = super::manual_event("read", env);
        let mut facts = session.facts();
        facts.record = Some(crate::plan::RecordFacts::Present {
            status: crate::record::RecordStatus::Deployed,
            tombstone: false,
        });
        let plan = crate::plan::decide(&event, &session.config, &facts)?;
        session.say(&format!("\n→ READ stage {stage}\n"));
        let started = std::time::Instant::now();
        let report = session
            .preflight(&plan)
            .and_then(|()| session.execute(&plan, session.app_dir.clone()));
        // One line per stage as it ends, so a long refresh shows progress.
        let line = match &report {
            Ok(r) => super::run::result_line(r, started.elapsed()),
            Err(e) => format!(
                "✘ could not read stage {stage}: {}",
                crate::render::term(&e.to_string())
            ),
        };
        session.say(&format!("{line}\n"));
        if !report.is_ok_and(|r| r.result == crate::execute::Outcome::Success) {
            failed += 1;
        }
    }
    Ok(failed)
}

pub fn show(session: &Session, as_json: bool) -> Result<u8, CommandError> {
    let records = session.store.key_records()?;
    let now = Timestamp::now();
    if as_json {
        let rows: Vec<_> = records.iter().map(|(s, r)| json_row(s, r, now)).collect();
        say(&format!("{}\n", crate::render::json(&rows)));
        return Ok(0);
    }
    let mut out = format!(
        "{} stage(s) in {}\n",
        records.len(),
        session.store.describe()
    );
    let _ = writeln!(
        out,
        "  {:<24} {:<7} {:<15} {:<8} {:<9} URL",
        "STAGE", "PR", "STATUS", "COMMIT", "UPDATED"
    );
    for (stage, r) in &records {
        out.push_str(&table_row(stage, r, now));
    }
    say(&out);
    Ok(0)
}

type Row = Result<Option<crate::record::Record>, crate::state::StoreError>;

fn json_row(key: &crate::state::StateKey, r: &Row, now: Timestamp) -> serde_json::Value {
    let mut row = json_fields(&key.stage, r, now);
    if let (Some(app), Some(obj)) = (&key.app, row.as_object_mut()) {
        obj.insert("app".into(), json!(app));
    }
    row
}

fn json_fields(stage: &crate::stage::Stage, r: &Row, now: Timestamp) -> serde_json::Value {
    match r {
        Ok(Some(r)) => json!({
            "stage": stage,
            "pr": r.pr,
            "status": r.status,
            "head_sha": r.head_sha,
            "updated_at": r.updated_at,
            "age_seconds": now.since(r.updated_at).as_secs(),
            "urls": r.urls,
            "locked_by": r.lock.as_ref().map(|l| &l.holder),
            "error": r.error,
        }),
        Ok(None) => json!({ "stage": stage, "status": null, "error": "state without a record" }),
        Err(e) => json!({ "stage": stage, "status": null, "error": e.to_string() }),
    }
}

fn table_row(key: &crate::state::StateKey, r: &Row, now: Timestamp) -> String {
    let stage = key.to_string();
    let r = match r {
        Ok(Some(r)) => r,
        Ok(None) => return format!("  {stage:<24} state without a record\n"),
        Err(e) => return format!("  {stage:<24} unreadable: {}\n", term(&e.to_string())),
    };
    let pr = r.pr.map(|p| format!("#{p}")).unwrap_or_default();
    let sha = r
        .head_sha
        .as_ref()
        .map(|s| s.short().to_owned())
        .unwrap_or_default();
    let url = r.urls.first().map(|u| term(&u.url)).unwrap_or_default();
    let locked = r
        .lock
        .as_ref()
        .map(|l| format!("  (locked by {})", term(&l.holder)))
        .unwrap_or_default();
    format!(
        "  {stage:<24} {pr:<7} {:<15} {sha:<8} {:<9} {url}{locked}\n",
        r.status.as_str(),
        age(now.since(r.updated_at).as_secs())
    )
}

fn age(secs: u64) -> String {
    match secs {
        s if s < 120 => format!("{s}s ago"),
        s if s < 7_200 => format!("{}m ago", s / 60),
        s if s < 172_800 => format!("{}h ago", s / 3_600),
        s => format!("{}d ago", s / 86_400),
    }
}
