use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = spoor::Cli::parse();
    match spoor::main_with_args(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("spoor: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
