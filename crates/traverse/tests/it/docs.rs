//! The documentation's links: every relative link in the Markdown files a
//! user reads goes to a file that exists, and every `#anchor` to a heading
//! there, so moving a section cannot leave a dead link behind.

use std::path::{Path, PathBuf};

use crate::support::repo_root;

/// The Markdown a user reads, from the repository's root.
fn documents() -> Vec<PathBuf> {
    let root = repo_root();
    let mut files: Vec<PathBuf> = [
        "README.md",
        "CONTRIBUTING.md",
        "tunnels/README.md",
        "certs/README.md",
    ]
    .iter()
    .map(|file| root.join(file))
    .collect();
    let docs = std::fs::read_dir(root.join("docs")).expect("a docs/ folder");
    files.extend(docs.map(|entry| entry.expect("docs/ entry").path()));
    files.sort();
    files
}

/// GitHub's anchor for a heading: lower case, punctuation dropped, spaces
/// as hyphens.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | ' '))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

fn anchors(text: &str) -> Vec<String> {
    prose(text)
        .lines()
        .filter_map(|line| {
            line.trim_start_matches('#')
                .strip_prefix(' ')
                .filter(|_| line.starts_with('#'))
        })
        .map(anchor)
        .collect()
}

/// The text outside code blocks, where links and headings are.
fn prose(text: &str) -> String {
    text.split("```").step_by(2).collect::<Vec<_>>().join("\n")
}

/// The targets of `[text](target)` links.
fn links(text: &str) -> Vec<String> {
    let prose = prose(text);
    let mut found = Vec::new();
    let mut rest = prose.as_str();
    while let Some(at) = rest.find("](") {
        rest = &rest[at + 2..];
        let end = rest.find([')', ' ', '\n']).unwrap_or(rest.len());
        found.push(rest[..end].to_string());
    }
    found
}

#[test]
fn every_link_in_the_docs_goes_somewhere() {
    let mut dead = Vec::new();
    for document in documents() {
        let text = std::fs::read_to_string(&document).expect("readable");
        let folder = document.parent().expect("in a folder");
        for link in links(&text) {
            if link.contains("://") || link.starts_with("mailto:") {
                continue;
            }
            let (file, fragment) = link.split_once('#').unwrap_or((&link, ""));
            let target: PathBuf = if file.is_empty() {
                document.clone()
            } else {
                folder.join(file)
            };
            let shown = format!(
                "{}: {link}",
                document
                    .strip_prefix(repo_root())
                    .unwrap_or(&document)
                    .display()
            );
            if !target.exists() {
                dead.push(format!("{shown} (no such file)"));
            } else if !fragment.is_empty() && is_markdown(&target) {
                let heading_text = std::fs::read_to_string(&target).expect("readable");
                if !anchors(&heading_text)
                    .iter()
                    .any(|anchor| anchor == fragment)
                {
                    dead.push(format!("{shown} (no such heading)"));
                }
            }
        }
    }
    assert!(dead.is_empty(), "dead links:\n{}", dead.join("\n"));
}

fn is_markdown(path: &Path) -> bool {
    path.extension().is_some_and(|extension| extension == "md")
}

/// The checker finds what it is for: a link to a heading that is not there.
#[test]
fn a_dead_anchor_is_seen() {
    let text = "# Title\n\n## Idle timers\n\nsee [x](#idle-timers) and [y](#gone)\n";
    assert_eq!(anchors(text), ["title", "idle-timers"]);
    assert_eq!(links(text), ["#idle-timers", "#gone"]);
    assert_eq!(
        anchor("`[[hops]]`, `kind = \"external\"`"),
        "hops-kind--external"
    );
}
