//! `warden`: the server (`warden serve`) and its command-line client in one binary.

mod audit;
mod cli;
mod client;
mod commands;
mod credentials;
mod directory;
mod grants;
mod requests;
mod targets;
mod vault;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("warden: error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("warden: error: {e:#}");
            ExitCode::from(commands::exit_code(&e))
        }
    }
}
