//! End-to-end tests of the `alchemy-ci` binary, compiled into one test binary.

mod git_server;
mod support;

mod action_contract;
mod alchemy_e2e;
mod alchemy_v2;
mod app_managed;
mod apps;
mod bad_input;
mod cleanup;
mod comment_commands;
mod decide;
mod fake_github;
mod fake_github_commands_selftest;
mod fake_github_selftest;
mod git_e2e;
mod git_store;
mod github;
mod help;
mod injection;
mod inputs;
mod layers;
mod leases;
mod lifecycle;
mod lifecycle_model;
mod lint_gates;
mod messages;
mod s3_server;
mod s3_store;
mod snapshots;
mod stage_model;
mod state_safety;
mod stdout;
mod store_contract;
mod trust;
mod webhooks;
