//! Talking back on the pull request.

pub mod client;
pub mod commands_api;
pub mod comment;
pub mod environment;
pub mod files;
pub mod forge;
pub mod markdown;
pub mod names;
