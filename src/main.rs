//! The `artifact-gate` binary: parse arguments, run, map the outcome to an exit code.

use std::process::ExitCode;

fn main() -> ExitCode {
    ExitCode::from(artifact_gate::cli::main())
}
