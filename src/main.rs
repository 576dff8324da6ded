//! The `charte` binary: everything lives in the library.

fn main() -> std::process::ExitCode {
    charte::cli::main()
}
