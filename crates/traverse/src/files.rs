//! Files written whole or not at all: every report file and log file a
//! command writes, the last step of the data flow. Before anything runs,
//! each destination is checked by creating a temporary file beside it, in
//! the same folder; the document is written there once it is complete and
//! renamed over the destination. A run that is interrupted, or a write
//! that fails, leaves no file behind, or the one that was there before,
//! untouched, so a reader never finds a report cut short.

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use tempfile::NamedTempFile;
use traverse_report::Output;

use crate::exit::Exit;

/// A file to be written, checked writable: its temporary file exists.
#[derive(Debug)]
pub struct Destination {
    path: PathBuf,
    /// Removed when dropped: an interrupted run leaves nothing.
    temporary: NamedTempFile<std::fs::File>,
}

impl Destination {
    /// Creates the temporary file beside `path`, so one that cannot be
    /// written is found before anything runs.
    pub fn prepare(path: &Path) -> anyhow::Result<Destination> {
        let cannot = || format!("cannot write {}", path.display());
        if path.is_dir() {
            bail!("{}: it is a folder", cannot());
        }
        let folder = match path.parent() {
            Some(folder) if !folder.as_os_str().is_empty() => folder,
            _ => Path::new("."),
        };
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let temporary = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".tmp")
            // Opened here rather than by tempfile, whose errors name the
            // temporary file, which means nothing to the user. The mode is
            // what File::create gives, less the umask: reports are read by
            // other users (the merge job of a CI pipeline).
            .make_in(folder, |temporary| {
                std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o666)
                    .open(temporary)
            })
            .with_context(cannot)?;
        Ok(Destination {
            path: path.to_path_buf(),
            temporary,
        })
    }

    /// Writes `contents` whole, then puts it in the destination's place.
    pub fn write(mut self, contents: &str) -> anyhow::Result<()> {
        let cannot = || format!("cannot write {}", self.path.display());
        let file = self.temporary.as_file_mut();
        file.write_all(contents.as_bytes())
            .and_then(|()| file.sync_all())
            .with_context(cannot)?;
        let path = self.path.clone();
        self.temporary
            .persist(&path)
            .map_err(|error| error.error)
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(())
    }
}

/// Writes one file whole, checking it only now.
pub fn write_whole(path: &Path, contents: &str) -> anyhow::Result<()> {
    Destination::prepare(path)?.write(contents)
}

/// Whether files can be written in `folder`, checked by creating one.
pub fn check_folder(folder: &Path) -> anyhow::Result<()> {
    tempfile::tempfile_in(folder)
        .with_context(|| format!("cannot write in the folder {}", folder.display()))?;
    Ok(())
}

/// The files a command will write, checked before it runs.
#[derive(Debug, Default)]
pub struct Destinations(Vec<Destination>);

impl Destinations {
    pub fn prepare<'a>(
        paths: impl IntoIterator<Item = &'a PathBuf>,
    ) -> anyhow::Result<Destinations> {
        paths
            .into_iter()
            .map(|path| Destination::prepare(path))
            .collect::<anyhow::Result<_>>()
            .map(Destinations)
    }

    /// Prints the output's text, then writes each of its files whole, and
    /// says how the command ends.
    pub fn emit(mut self, output: Output) -> anyhow::Result<Exit> {
        print!("{}", output.text);
        for (path, contents) in &output.files {
            let prepared = self
                .0
                .iter()
                .position(|destination| destination.path == *path);
            let destination = match prepared {
                Some(at) => self.0.swap_remove(at),
                None => Destination::prepare(path)?,
            };
            destination.write(contents)?;
        }
        Ok(Exit::judged(output.as_expected))
    }
}

/// Checks every file of `output`, then prints and writes it.
pub fn emit(output: Output) -> anyhow::Result<Exit> {
    Destinations::prepare(output.files.iter().map(|(path, _)| path))?.emit(output)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_written_whole_in_place_of_the_old_one() {
        let folder = tempfile::tempdir().expect("tempdir");
        let path = folder.path().join("results.json");
        std::fs::write(&path, "old").expect("write");
        let destination = Destination::prepare(&path).expect("writable");
        assert_eq!(
            std::fs::read_to_string(&path).expect("read"),
            "old",
            "untouched until the new one is complete"
        );
        destination.write("new").expect("written");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "new");
        let names: Vec<_> = std::fs::read_dir(folder.path())
            .expect("list")
            .map(|entry| entry.expect("entry").file_name())
            .collect();
        assert_eq!(names, ["results.json"], "no temporary file is left");
    }

    #[test]
    fn a_destination_dropped_unwritten_leaves_nothing() {
        let folder = tempfile::tempdir().expect("tempdir");
        let kept = folder.path().join("kept.json");
        std::fs::write(&kept, "before").expect("write");
        drop(Destination::prepare(&kept).expect("writable"));
        drop(Destination::prepare(&folder.path().join("new.json")).expect("writable"));
        let names: Vec<_> = std::fs::read_dir(folder.path())
            .expect("list")
            .map(|entry| entry.expect("entry").file_name())
            .collect();
        assert_eq!(names, ["kept.json"]);
        assert_eq!(std::fs::read_to_string(&kept).expect("read"), "before");
    }

    #[test]
    fn an_unwritable_destination_is_named_with_the_reason() {
        let folder = tempfile::tempdir().expect("tempdir");
        let nowhere = folder.path().join("missing/report.html");
        let error = Destination::prepare(&nowhere).expect_err("no such folder");
        assert_eq!(
            format!("{error:#}"),
            format!(
                "cannot write {}: No such file or directory (os error 2)",
                nowhere.display()
            )
        );
        let error = Destination::prepare(folder.path()).expect_err("a folder");
        assert!(
            format!("{error:#}").ends_with("it is a folder"),
            "{error:#}"
        );
    }
}
