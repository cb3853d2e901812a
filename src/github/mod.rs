//! Talking back on the pull request.

pub mod client;
pub mod comment;
pub mod files;
pub mod forge;
pub mod markdown;
pub mod names;
