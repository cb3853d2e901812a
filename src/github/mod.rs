//! Talking back on the pull request.

pub mod comment;
pub mod markdown;
