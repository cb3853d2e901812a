//! alchemy-ci: preview environments for Alchemy apps on GitHub.
//!
//! The flow runs one way: an event and the configuration go into
//! [`plan::decide`], a pure function that returns a [`plan::Plan`];
//! `simulate` renders that plan and `run` executes it.

pub mod actions;
pub mod alchemy;
pub mod apps;
pub mod cancel;
pub mod checkout;
pub mod cleanup;
pub mod cli;
pub mod commands;
pub mod config;
pub mod env;
pub mod event;
pub mod execute;
pub mod github;
pub mod input_file;
pub mod plan;
pub mod pr_command;
pub mod record;
pub mod render;
pub mod stage;
pub mod state;
pub mod status_check;
pub mod text;
pub mod time;
pub mod ttl;
