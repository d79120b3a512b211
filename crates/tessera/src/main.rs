//! The `tessera` command line.

mod keys;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Tessera: an identity provider with device-bound tokens and continuous access evaluation.
#[derive(Debug, Parser)]
#[command(name = "tessera", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create and inspect signing keys and device keys.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Keys(cmd) => keys::run(cmd),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
