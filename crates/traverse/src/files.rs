//! Files written whole or not at all: every report file and log file a
//! command writes, the last step of the data flow. Before anything runs,
//! each destination is checked by creating a temporary file beside it, in
//! the same folder, and removing it again; the document is written to a
//! new temporary file once it is complete, and renamed over the
//! destination. A run that is interrupted, or a write that fails, leaves
//! no file behind, or the one that was there before, untouched, so a
//! reader never finds a report cut short. Temporary files exist only
//! while a document is being written, so even a SIGKILL leaves none
//! behind unless it lands in those few milliseconds.
//!
//! The one file written as it goes is the results stream beside `--json`
//! ([`ResultStream`]): a line per finished cell, so a killed run keeps
//! what it had done.

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tempfile::NamedTempFile;
use traverse_report::Output;

use crate::exit::Exit;

/// A file to be written, checked writable.
#[derive(Debug)]
pub struct Destination {
    path: PathBuf,
}

impl Destination {
    /// Creates a temporary file beside `path` and removes it, so one that
    /// cannot be written is found before anything runs, and a run killed
    /// before it writes leaves nothing.
    pub fn prepare(path: &Path) -> anyhow::Result<Destination> {
        drop(temporary_beside(path)?);
        Ok(Destination {
            path: path.to_path_buf(),
        })
    }

    /// Writes `contents` whole, then puts it in the destination's place.
    pub fn write(self, contents: &str) -> anyhow::Result<()> {
        let cannot = || format!("cannot write {}", self.path.display());
        let mut temporary = temporary_beside(&self.path)?;
        let file = temporary.as_file_mut();
        file.write_all(contents.as_bytes())
            .and_then(|()| file.sync_all())
            .with_context(cannot)?;
        temporary
            .persist(&self.path)
            .map_err(|error| error.error)
            .with_context(cannot)?;
        Ok(())
    }
}

/// A new temporary file in `path`'s folder (a rename stays on one file
/// system), removed when dropped unless persisted.
fn temporary_beside(path: &Path) -> anyhow::Result<NamedTempFile<std::fs::File>> {
    let cannot = || format!("cannot write {}", path.display());
    if path.is_dir() {
        bail!("{}: it is a folder", cannot());
    }
    let folder = match path.parent() {
        Some(folder) if !folder.as_os_str().is_empty() => folder,
        _ => Path::new("."),
    };
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    tempfile::Builder::new()
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
        .with_context(cannot)
}

/// The stream beside `--json FILE`: `FILE.partial.jsonl`.
pub fn stream_path(json: &Path) -> PathBuf {
    let mut name = json.as_os_str().to_owned();
    name.push(".partial.jsonl");
    PathBuf::from(name)
}

/// How often the stream is flushed to the disk itself. Each line reaches
/// the kernel as its cell finishes, which a killed process cannot undo;
/// syncing is only for the machine going down, and a sync per cell would
/// cost a run of hundreds of cells more than its cells do.
const SYNC_EVERY: Duration = Duration::from_secs(1);

/// The results of a run as its cells finish, one JSON line each after a
/// header (see `traverse_report::load_results`), for whatever ends the
/// run before its report files are written. Removed once they are.
#[derive(Debug)]
pub struct ResultStream {
    path: PathBuf,
    file: std::fs::File,
    synced: Instant,
}

impl ResultStream {
    /// Starts the stream at `path` with its header, whole: the file
    /// appears with the header in it, never empty.
    pub fn create(path: &Path, header: &str) -> anyhow::Result<ResultStream> {
        let cannot = || format!("cannot write {}", path.display());
        let mut temporary = temporary_beside(path)?;
        temporary
            .as_file_mut()
            .write_all(header.as_bytes())
            .with_context(cannot)?;
        let file = temporary
            .persist(path)
            .map_err(|error| error.error)
            .with_context(cannot)?;
        Ok(ResultStream {
            path: path.to_path_buf(),
            file,
            synced: Instant::now(),
        })
    }

    /// Appends one line in one write, so a reader sees it whole or, if
    /// the process is killed inside the write, cut short at the end.
    pub fn append(&mut self, line: &str) -> anyhow::Result<()> {
        let cannot = || format!("cannot write {}", self.path.display());
        self.file.write_all(line.as_bytes()).with_context(cannot)?;
        if self.synced.elapsed() >= SYNC_EVERY {
            self.file.sync_data().with_context(cannot)?;
            self.synced = Instant::now();
        }
        Ok(())
    }

    /// Removes the stream: the report files it stood in for are written.
    pub fn remove(self) -> anyhow::Result<()> {
        std::fs::remove_file(&self.path)
            .with_context(|| format!("cannot remove {}", self.path.display()))
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

    /// A run killed between checking its files and writing them must not
    /// leave temporary files to pile up run after run.
    #[test]
    fn a_checked_destination_leaves_no_temporary_file_while_it_waits() {
        let folder = tempfile::tempdir().expect("tempdir");
        let destination = Destination::prepare(&folder.path().join("r.json")).expect("writable");
        assert_eq!(std::fs::read_dir(folder.path()).expect("list").count(), 0);
        destination.write("{}").expect("written");
    }

    #[test]
    fn a_stream_appears_with_its_header_and_grows_by_whole_lines() {
        let folder = tempfile::tempdir().expect("tempdir");
        let path = stream_path(&folder.path().join("r.json"));
        assert!(path.ends_with("r.json.partial.jsonl"), "{}", path.display());
        let mut stream = ResultStream::create(&path, "header\n").expect("created");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "header\n");
        stream.append("one\n").expect("appended");
        assert_eq!(
            std::fs::read_to_string(&path).expect("read"),
            "header\none\n"
        );
        let names: Vec<_> = std::fs::read_dir(folder.path())
            .expect("list")
            .map(|entry| entry.expect("entry").file_name())
            .collect();
        assert_eq!(names, ["r.json.partial.jsonl"], "no temporary file");
        stream.remove().expect("removed");
        assert!(!path.exists());
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
