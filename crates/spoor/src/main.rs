use clap::Parser;

// mimalloc instead of glibc malloc: see docs/adr/0012-allocator.md.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc reads its options from the environment once, when the process
/// starts. Its default purge delay (1 s) keeps freed pages resident long
/// enough that, under an ingest flood, RSS reaches several times the memory
/// budget (ADR 0012, "Purge delay"). Unless the operator chose a value, the
/// binary re-executes itself once with `MIMALLOC_PURGE_DELAY=0` (same PID,
/// same arguments), so freed pages are returned to the OS at once.
#[cfg(unix)]
fn set_allocator_options() {
    use std::os::unix::process::CommandExt as _;
    const PURGE_DELAY: &str = "MIMALLOC_PURGE_DELAY";
    if std::env::var_os(PURGE_DELAY).is_some() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let err = std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env(PURGE_DELAY, "0")
        .exec();
    // Only reached when the exec failed: run on with mimalloc's defaults.
    eprintln!(
        "spoor: cannot re-execute with {PURGE_DELAY}=0 ({err}); freed memory is returned to the OS after mimalloc's default delay"
    );
}

#[cfg(not(unix))]
fn set_allocator_options() {}

fn main() -> std::process::ExitCode {
    set_allocator_options();
    let cli = spoor::Cli::parse();
    match spoor::main_with_args(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("spoor: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
