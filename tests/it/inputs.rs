//! Every input has one name as a flag, an `INPUT_*` variable and a config
//! file key; this keeps the three lists from drifting apart.

use alchemy_ci::cli::Cli;
use alchemy_ci::config::INPUTS;
use clap::{CommandFactory, Parser};

#[test]
fn every_input_is_a_flag_of_every_subcommand_that_reads_inputs() {
    let cli = Cli::command();
    for sub in ["simulate", "run"] {
        let cmd = cli.find_subcommand(sub).expect("subcommand");
        let flags: Vec<String> = cmd
            .get_arguments()
            .filter_map(|a| a.get_long().map(str::to_owned))
            .collect();
        for input in INPUTS {
            assert!(flags.iter().any(|f| f == input), "{sub} lacks --{input}");
        }
    }
}

#[test]
fn every_input_flag_reaches_the_configuration() {
    // A flag that is parsed but never handed to config::resolve would be
    // silently ignored; pass each one a value and check it arrives.
    for input in INPUTS {
        let cli = Cli::try_parse_from(["alchemy-ci", "simulate", &format!("--{input}"), "x"])
            .expect("parses");
        let alchemy_ci::cli::Cmd::Simulate(args) = cli.command else {
            panic!("simulate")
        };
        let values = args.config.flag_values();
        assert_eq!(
            values.0.get(input).map(String::as_str),
            Some("x"),
            "--{input} is dropped"
        );
    }
}
