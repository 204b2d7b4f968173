//! `warden`: the server (`warden serve`) and its command-line client in one binary.

// A command must reach its own handler or fail to compile: no match on an enum in this
// crate ends in a catch-all arm that would swallow a variant added later.
#![deny(clippy::wildcard_enum_match_arm)]

mod accounts;
mod audit;
mod breakglass;
mod cli;
mod client;
mod commands;
mod credentials;
mod directory;
mod grants;
mod ids;
mod operator;
mod policy;
mod requests;
mod serve;
mod session;
mod show;
mod ssh;
mod targets;
mod tokens;
mod users;
mod vendors;

use std::process::ExitCode;

use clap::Parser;

/// The exit status of a command whose output was cut off (128 + SIGPIPE), as a shell
/// reports one killed by the signal.
const BROKEN_PIPE_EXIT: i32 = 141;

/// `warden … | head` closes the pipe before the output ends; printing then fails, which
/// the print macros turn into a panic. Leave quietly instead, as a command killed by
/// SIGPIPE does; every other panic is reported as before.
fn leave_quietly_on_a_closed_pipe() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(BROKEN_PIPE_EXIT);
        }
        report(info);
    }));
}

fn main() -> ExitCode {
    leave_quietly_on_a_closed_pipe();
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
