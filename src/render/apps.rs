//! The human form of a run over the apps of a monorepo: the event's
//! decision, which apps it acts on and why (the file and pattern that
//! matched), in which order, each app's own plan, and the comment.

use std::fmt::Write as _;

use super::{decision_lines, event_lines, steps_lines, term, term_clipped, SHOWN_CHARS};
use crate::apps::order::Direction;
use crate::apps::plan::{AppsPlan, Selection};
use crate::plan::Plan;

pub fn plan(p: &AppsPlan) -> String {
    let mut out = event_lines(&p.event);
    out.push('\n');
    out.push_str(&decision_lines(&p.event));
    out.push_str(&warnings(&p.event));
    if !p.event.unchecked.is_empty() {
        out.push_str("\nNot checked here\n");
        for u in &p.event.unchecked {
            let _ = writeln!(out, "  ? {}", term(u));
        }
    }
    if !p.notes.is_empty() {
        out.push_str("\nNotes\n");
        for n in &p.notes {
            let _ = writeln!(out, "  - {}", term_clipped(n, 4 * SHOWN_CHARS));
        }
    }
    if !p.selection.is_empty() {
        out.push_str(&selection_lines(p));
        out.push_str(&order_lines(p));
    }
    for app in &p.apps {
        out.push_str(&app_lines(app));
    }
    if let Some(body) = &p.comment_preview {
        out.push_str("\nComment preview (posted on the PR when the run starts)\n");
        for line in body.lines() {
            let _ = writeln!(out, "  │ {}", term(line));
        }
    }
    out
}

fn warnings(p: &Plan) -> String {
    let mut out = String::new();
    if !p.warnings.is_empty() {
        out.push_str("\nWarnings\n");
        for w in &p.warnings {
            let _ = writeln!(out, "  ! {}", term_clipped(w, 4 * SHOWN_CHARS));
        }
    }
    out
}

/// Every app, what the run does with it, and why.
fn selection_lines(p: &AppsPlan) -> String {
    let width = p
        .selection
        .iter()
        .map(|(a, _)| a.as_str().len())
        .max()
        .unwrap_or(0);
    let verb = match (p.direction, p.event.action) {
        (Direction::Destroy, _) => "destroy",
        (_, crate::plan::Action::Read) => "read",
        _ => "deploy",
    };
    let mut out = String::from("\nApps\n");
    for (app, s) in &p.selection {
        let (what, why) = match s {
            Selection::Acts { why } => (verb, why.as_str()),
            Selection::Kept { why } => ("keep", why.as_str()),
            Selection::NotAffected => ("–", "not affected"),
        };
        let _ = writeln!(
            out,
            "  {:<width$}  {what:<7}  {}",
            app.as_str(),
            term_clipped(why, SHOWN_CHARS)
        );
    }
    out
}

/// The order apps start in: levels, each waiting for the one before.
fn order_lines(p: &AppsPlan) -> String {
    if p.order.is_empty() {
        return "\nOrder    nothing to run\n".into();
    }
    let levels: Vec<String> = p
        .order
        .iter()
        .map(|level| {
            let names: Vec<&str> = level.iter().map(|a| a.as_str()).collect();
            names.join(" + ")
        })
        .collect();
    let how = match p.direction {
        Direction::Deploy => "dependencies first",
        Direction::Destroy => "dependants first",
    };
    format!(
        "\nOrder    {}\n         ({how}; apps joined by + run side by side, up to max-parallel)\n",
        levels.join(" → ")
    )
}

/// One app's own plan, indented under its name.
fn app_lines(p: &Plan) -> String {
    let Some(app) = &p.app else {
        return String::new();
    };
    let mut out = format!("\nApp {app}\n");
    let mut decision = decision_lines(p);
    decision = decision
        .lines()
        .map(|l| format!("  {l}\n"))
        .collect::<String>();
    out.push_str(&decision);
    if !p.unchecked.is_empty() {
        out.push_str("  Not checked here\n");
        for u in &p.unchecked {
            let _ = writeln!(out, "    ? {}", term(u));
        }
    }
    if let Some(a) = &p.alchemy {
        let _ = writeln!(out, "  Alchemy  {} ({})", a.flavor, term(&a.why));
    }
    let steps = steps_lines(p, "  ");
    out.push_str(steps.strip_prefix('\n').unwrap_or(&steps));
    out
}
