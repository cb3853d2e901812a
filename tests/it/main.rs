//! End-to-end tests of the `alchemy-ci` binary, compiled into one test binary.

mod support;

mod action_contract;
mod alchemy_e2e;
mod bad_input;
mod decide;
mod injection;
mod inputs;
mod lint_gates;
mod snapshots;
mod store_contract;
mod webhooks;
