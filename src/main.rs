//! The `tessera` binary; the command line lives in [`tessera::cli`]. (The
//! allocator is chosen in the library: `tessera::memory`.)

fn main() -> std::process::ExitCode {
    tessera::cli::main()
}
