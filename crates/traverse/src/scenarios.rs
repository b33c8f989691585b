//! The bundled scenarios built into the binary, the first step of the data
//! flow when no scenario file is given: `traverse run` with no path reads
//! `./scenarios` where it exists (in the repository, so edits there are
//! picked up), and otherwise parses the copies built in, each named
//! `<built-in>/NAME.toml` so an error still says which file it is in.
//! `traverse scenarios export DIR` writes the copies out for editing, and
//! `traverse scenarios list` names them.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use traverse_runner::TunnelSpec;
// A description with an escape sequence must not drive the terminal.
use traverse_scenario::{Scenario, printable};

use crate::exit::Exit;
use crate::{expecting, files, load};

/// File name and text of each bundled scenario, sorted by name; generated
/// by build.rs from the repository's `scenarios/` folder.
const BUILT_IN: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/bundled_scenarios.rs"));

/// The folder built-in scenarios seem to come from: not one on disk, so
/// no path of a user's can be mistaken for it.
const BUILT_IN_FOLDER: &str = "<built-in>";

/// What `run` reads when it is given no path, where it exists.
const LOCAL_FOLDER: &str = "scenarios";

#[derive(Debug, clap::Subcommand)]
pub enum ScenariosCommand {
    /// Name each built-in scenario with its description.
    List,
    /// Write the built-in scenarios out as TOML files, to edit and run.
    Export {
        /// Folder to write into; created if missing.
        dir: PathBuf,
        /// Overwrite files of the same names already in DIR.
        #[arg(long)]
        force: bool,
    },
}

pub fn run(command: ScenariosCommand, known: &[TunnelSpec]) -> anyhow::Result<Exit> {
    match command {
        ScenariosCommand::List => {
            let scenarios = match built_in(known) {
                Ok(scenarios) => scenarios,
                Err(exit) => return Ok(exit),
            };
            print!("{}", listing(&scenarios));
            Ok(Exit::AsExpected)
        }
        ScenariosCommand::Export { dir, force } => {
            for path in export(&dir, force)? {
                println!("{}", path.display());
            }
            Ok(Exit::AsExpected)
        }
    }
}

/// The scenarios of a run: those under `paths`, or with none given,
/// `./scenarios`, or failing that the built-in ones, which it says on
/// stderr (a user outside the repository should know what ran and how to
/// change it).
pub fn for_run(paths: &[PathBuf], known: &[TunnelSpec]) -> Result<Vec<Scenario>, Exit> {
    if !paths.is_empty() {
        return load(paths, known);
    }
    if Path::new(LOCAL_FOLDER).is_dir() {
        return load(&[PathBuf::from(LOCAL_FOLDER)], known);
    }
    let scenarios = built_in(known)?;
    eprintln!(
        "running the {} built-in scenarios; `traverse scenarios export DIR` writes them out",
        scenarios.len()
    );
    Ok(scenarios)
}

/// Parses every built-in scenario, reporting each one that is invalid
/// under its `<built-in>/NAME.toml` path. Their names are unique: the
/// set is fixed at build time, and a unit test holds it to that.
fn built_in(known: &[TunnelSpec]) -> Result<Vec<Scenario>, Exit> {
    let mut scenarios = Vec::new();
    let mut errors = Vec::new();
    for (name, source) in BUILT_IN {
        match traverse_scenario::parse(&Path::new(BUILT_IN_FOLDER).join(name), source) {
            Ok(scenario) => scenarios.push(scenario),
            Err(error) => errors.push(error),
        }
    }
    expecting(
        if errors.is_empty() {
            Ok(scenarios)
        } else {
            Err(errors)
        },
        known,
    )
}

/// Writes every built-in scenario into `dir` under its bundled file
/// name, each file whole. Without `force`, nothing is written when any
/// of them is already there, so an edited copy is never lost to a
/// half-done export.
fn export(dir: &Path, force: bool) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let paths: Vec<PathBuf> = BUILT_IN.iter().map(|(name, _)| dir.join(name)).collect();
    if !force {
        let mut taken = paths.iter().filter(|path| path.symlink_metadata().is_ok());
        if let Some(first) = taken.next() {
            let others = match taken.count() {
                0 => String::new(),
                1 => " and 1 other scenario file".to_string(),
                count => format!(" and {count} other scenario files"),
            };
            bail!(
                "{}{others} already there; nothing was written (`--force` overwrites)",
                first.display()
            );
        }
    }
    for (path, (_, source)) in paths.iter().zip(BUILT_IN) {
        files::write_whole(path, source)?;
    }
    Ok(paths)
}

/// One line per scenario: its name, then its description.
fn listing(scenarios: &[Scenario]) -> String {
    let width = scenarios
        .iter()
        .map(|scenario| scenario.name.chars().count())
        .max()
        .unwrap_or(0);
    scenarios
        .iter()
        .map(|scenario| {
            format!(
                "{:<width$}  {}\n",
                printable(&scenario.name),
                printable(&scenario.description)
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The built-in copies are the repository's folder, file for file:
    /// one added there and not built in would be missed outside it.
    #[test]
    fn every_file_of_the_scenarios_folder_is_built_in() {
        let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios");
        let mut on_disk: Vec<(String, String)> = std::fs::read_dir(&folder)
            .expect("the scenarios folder")
            .map(|entry| entry.expect("entry").path())
            .filter(|path| {
                path.extension()
                    .is_some_and(|extension| extension == "toml")
            })
            .map(|path| {
                let name = path.file_name().expect("a name").to_string_lossy().into();
                (name, std::fs::read_to_string(&path).expect("read"))
            })
            .collect();
        on_disk.sort();
        let built_in: Vec<(String, String)> = BUILT_IN
            .iter()
            .map(|(name, source)| (name.to_string(), source.to_string()))
            .collect();
        assert_eq!(built_in, on_disk);
        assert_eq!(BUILT_IN.len(), 30, "the 30 bundled scenarios");
    }

    #[test]
    fn built_in_scenarios_are_valid_with_unique_names_and_paths_that_say_so() {
        let scenarios = built_in(&crate::builtin()).expect("valid built-in scenarios");
        let mut names: Vec<&str> = scenarios.iter().map(|s| s.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), BUILT_IN.len(), "unique names");
        assert_eq!(
            scenarios[0].path,
            Path::new("<built-in>/aws-alb-idle-timeout.toml")
        );
    }

    #[test]
    fn export_refuses_to_overwrite_and_writes_nothing_then() {
        let dir = tempfile::tempdir().expect("tempdir");
        let edited = dir.path().join("direct.toml");
        std::fs::write(&edited, "# mine").expect("write");
        let error = export(dir.path(), false).expect_err("refuses");
        assert_eq!(
            error.to_string(),
            format!(
                "{} already there; nothing was written (`--force` overwrites)",
                edited.display()
            )
        );
        assert_eq!(std::fs::read_dir(dir.path()).expect("read").count(), 1);
        assert_eq!(std::fs::read_to_string(&edited).expect("read"), "# mine");

        let written = export(dir.path(), true).expect("forced");
        assert_eq!(written.len(), BUILT_IN.len());
        assert_eq!(
            std::fs::read_to_string(&edited).expect("read"),
            BUILT_IN
                .iter()
                .find(|(name, _)| *name == "direct.toml")
                .expect("direct.toml is bundled")
                .1
        );
    }

    #[test]
    fn control_characters_are_escaped_for_the_terminal() {
        assert_eq!(printable("F5\u{1b}[31m red"), "F5\\u{1b}[31m red");
    }
}
