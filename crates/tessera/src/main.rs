//! The `tessera` command line.

mod admin;
mod apps;
mod db;
mod demo;
mod keys;
mod serve;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// A server's requests allocate and free many small objects across threads; mimalloc does this
/// with less contention and fragmentation than the system allocator (see docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Tessera: an identity provider with device-bound tokens and continuous access evaluation.
#[derive(Debug, Parser)]
#[command(name = "tessera", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the identity provider (embedded SQLite in the data directory unless
    /// --database-url says otherwise).
    Serve(serve::ServeArgs),
    /// Create and inspect signing keys and device keys.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Register and list applications (OAuth clients).
    #[command(subcommand)]
    Apps(apps::AppsCommand),
    /// Create users.
    #[command(subcommand)]
    Users(apps::UsersCommand),
    /// Change users, groups and devices; each change tells every subscribed API.
    Admin(admin::AdminArgs),
    /// Play both stories (token protection, continuous access evaluation) end to end on
    /// 127.0.0.1 with nothing set up; exits 0 only if every step behaved as expected.
    Demo(demo::DemoArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Keys(cmd) => keys::run(cmd),
        Command::Serve(args) => serve::run(args),
        Command::Apps(cmd) => apps::run_apps(cmd),
        Command::Users(cmd) => apps::run_users(cmd),
        Command::Admin(args) => admin::run(args),
        Command::Demo(args) => match demo::run(args) {
            Ok(code) => return code,
            Err(e) => Err(e),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
