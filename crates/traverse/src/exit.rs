//! How a command ends, as the one number a CI job reads: the last step of
//! the data flow, after the matrix is printed and the files are written.
//! Every command returns an [`Exit`]; `traverse --help` lists them from
//! here, so the help cannot drift from the codes.

use std::process::ExitCode;

/// The exit codes. What each means is said once, in [`Exit::meaning`],
/// which `--help` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    AsExpected = 0,
    NotAsExpected = 1,
    /// Clap's own errors (a bad flag) exit with this code too.
    InvalidInput = 2,
    Interrupted = 130,
}

impl Exit {
    const ALL: [Exit; 4] = [
        Exit::AsExpected,
        Exit::NotAsExpected,
        Exit::InvalidInput,
        Exit::Interrupted,
    ];

    /// The code for results that are, or are not, as expected.
    pub fn judged(as_expected: bool) -> Exit {
        if as_expected {
            Exit::AsExpected
        } else {
            Exit::NotAsExpected
        }
    }

    fn meaning(self) -> &'static str {
        match self {
            Exit::AsExpected => "every cell met its expectation (compare: no regression)",
            Exit::NotAsExpected => "a cell did not meet its expectation (compare: a regression)",
            Exit::InvalidInput => {
                "invalid input, nothing ran; or a file could not be written after the run"
            }
            Exit::Interrupted => {
                "run was interrupted (Ctrl-C, SIGTERM); the finished cells are written, marked incomplete"
            }
        }
    }

    /// The exit codes section of `traverse --help`.
    pub fn help() -> String {
        let mut help = String::from("Exit codes:\n");
        for exit in Exit::ALL {
            help += &format!("  {:>3}  {}\n", exit as u8, exit.meaning());
        }
        help
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        ExitCode::from(exit as u8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_help_lists_every_code() {
        let help = Exit::help();
        for code in ["0", "1", "2", "130"] {
            assert!(
                help.lines().any(|line| line.trim_start().starts_with(code)),
                "{help}"
            );
        }
    }
}
