//! `--help` of the program and of every subcommand, as snapshots: the
//! input flags in them are made from the input table, so a change to an
//! input shows here as a reviewed diff of what users read.

use crate::support::Dir;

fn help(args: &[&str]) -> String {
    let dir = Dir::new();
    let mut all = args.to_vec();
    all.push("--help");
    let out = dir.run(&all);
    out.ok();
    assert!(out.stderr.is_empty(), "{}", out.context());
    out.stdout.clone()
}

#[test]
fn help_of_the_program() {
    insta::assert_snapshot!(help(&[]));
}

#[test]
fn help_of_simulate() {
    insta::assert_snapshot!(help(&["simulate"]));
}

#[test]
fn help_of_run() {
    insta::assert_snapshot!(help(&["run"]));
}

#[test]
fn help_of_cleanup() {
    insta::assert_snapshot!(help(&["cleanup"]));
}

#[test]
fn help_of_status() {
    insta::assert_snapshot!(help(&["status"]));
}

#[test]
fn help_of_state() {
    insta::assert_snapshot!(help(&["state"]));
}

#[test]
fn help_of_state_show() {
    insta::assert_snapshot!(help(&["state", "show"]));
}

#[test]
fn help_of_state_list() {
    insta::assert_snapshot!(help(&["state", "list"]));
}

#[test]
fn help_of_state_rm() {
    insta::assert_snapshot!(help(&["state", "rm"]));
}

#[test]
fn help_of_state_unlock() {
    insta::assert_snapshot!(help(&["state", "unlock"]));
}

#[test]
fn help_of_deploy() {
    insta::assert_snapshot!(help(&["deploy"]));
}

#[test]
fn help_of_destroy() {
    insta::assert_snapshot!(help(&["destroy"]));
}

#[test]
fn help_of_read() {
    insta::assert_snapshot!(help(&["read"]));
}

#[test]
fn help_of_docs_inputs() {
    insta::assert_snapshot!(help(&["docs", "inputs"]));
}

/// Every subcommand has its snapshot above: a new one must be added.
#[test]
fn every_subcommand_has_a_help_snapshot() {
    use clap::CommandFactory as _;
    let names: Vec<String> = alchemy_ci::cli::Cli::command()
        .get_subcommands()
        .map(|c| c.get_name().to_owned())
        .collect();
    assert_eq!(
        names,
        ["simulate", "run", "cleanup", "status", "state", "deploy", "destroy", "read", "docs"]
    );
}
