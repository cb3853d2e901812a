//! `alchemy-ci`: parse the command line, run it, exit with its code.

use std::io::IsTerminal as _;
use std::process::ExitCode;

fn main() -> ExitCode {
    init_logging();
    alchemy_ci::cli::main(std::env::args_os())
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("ALCHEMY_CI_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(alchemy_ci::env::colour(std::io::stderr().is_terminal()))
        .with_target(false)
        .init();
}
