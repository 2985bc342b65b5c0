//! The `tessera` binary; the command line lives in [`tessera::cli`].

fn main() -> std::process::ExitCode {
    tessera::cli::main()
}
