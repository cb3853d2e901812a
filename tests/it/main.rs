//! End-to-end tests of the `alchemy-ci` binary, compiled into one test binary.

mod git_server;
mod support;

mod bad_input;
mod decide;
mod git_store;
mod injection;
mod snapshots;
mod store_contract;
mod webhooks;
