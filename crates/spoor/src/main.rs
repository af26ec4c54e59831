use clap::Parser;

// mimalloc instead of glibc malloc: see docs/adr/0012-allocator.md.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
