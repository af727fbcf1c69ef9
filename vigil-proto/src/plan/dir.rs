//! Reading a layers directory (spec layers.md §2): which entries are layers,
//! their labels and their order.
//!
//! This and the CA-file check are the only I/O in vigil-proto: plain reads,
//! done by vigild at boot and at replan.

use std::collections::BTreeMap;
use std::io;
use std::path::Path;

use super::Layer;
use super::decode::{Source, Tainted, decode_layer};
use super::error::{Place, Problem};
use crate::reason::io_reason;

/// The largest layer file read. Real layers are a few kilobytes; the bound
/// keeps a stray log file named `x.yaml` from being read into memory.
pub const MAX_LAYER_BYTES: u64 = 4 * 1024 * 1024;

/// What [`read_layers`] found.
#[derive(Default)]
pub(crate) struct Read {
    /// The layers in order, including those with problems in their values.
    pub layers: Vec<Layer>,
    /// Every problem found.
    pub problems: Vec<Problem>,
    /// False when some file could not be read or was not YAML at all (its
    /// layer is then missing from `layers`).
    pub complete: bool,
    /// Entries with a problem in some layer.
    pub tainted: Tainted,
}

/// Reads every layer in `dir`, in order.
pub(crate) fn read_layers(dir: &Path) -> Read {
    let mut read = Read {
        complete: true,
        ..Read::default()
    };
    let entries = match list(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return read,
        Err(error) => {
            read.problems.push(entry_problem(
                dir,
                format!("cannot read layers directory: {}", io_reason(&error)),
            ));
            read.complete = false;
            return read;
        }
    };
    // Label → display path of the file that has it, for duplicates.
    let mut labels: BTreeMap<String, String> = BTreeMap::new();
    for entry in entries {
        let path = dir.join(&entry.name);
        match entry.kind {
            EntryKind::File => {
                let label = label_of(&entry.name, &[".yaml", ".yml"]);
                read_one(&path, &entry.name, label, &mut labels, &mut read);
            }
            EntryKind::Directory => {
                let parent = label_of(&entry.name, &[".d"]);
                let subentries = match list(&path) {
                    Ok(subentries) => subentries,
                    Err(error) => {
                        read.problems.push(entry_problem(
                            &path,
                            format!("cannot read sub-layer directory: {}", io_reason(&error)),
                        ));
                        read.complete = false;
                        continue;
                    }
                };
                for sub in subentries {
                    let sub_path = path.join(&sub.name);
                    if sub.kind == EntryKind::Directory {
                        read.problems.push(entry_problem(
                            &sub_path,
                            "sub-layer directories cannot be nested".into(),
                        ));
                        continue;
                    }
                    let label = format!("{parent}/{}", label_of(&sub.name, &[".yaml", ".yml"]));
                    let name = format!("{}/{}", entry.name, sub.name);
                    read_one(&sub_path, &name, label, &mut labels, &mut read);
                }
            }
        }
    }
    read
}

/// Reads and decodes one file into `read`.
fn read_one(
    path: &Path,
    name: &str,
    label: String,
    labels: &mut BTreeMap<String, String>,
    read: &mut Read,
) {
    let display = path.display().to_string();
    if let Some(first) = labels.get(&label) {
        read.problems.push(entry_problem(
            path,
            format!("layer label \"{label}\" is also used by {first}"),
        ));
    } else {
        labels.insert(label.clone(), display.clone());
    }
    let text = match read_text(path) {
        Ok(text) => text,
        Err(message) => {
            read.problems.push(entry_problem(path, message));
            read.complete = false;
            return;
        }
    };
    let decoded = decode_layer(&text, &Source::File(display));
    read.problems.extend(decoded.problems);
    read.tainted.extend(decoded.tainted);
    match decoded.layer {
        Some(mut layer) => {
            layer.label = label;
            layer.name = name.to_string();
            read.layers.push(layer);
        }
        None => read.complete = false,
    }
}

fn read_text(path: &Path) -> Result<String, String> {
    let metadata =
        std::fs::metadata(path).map_err(|e| format!("cannot read file: {}", io_reason(&e)))?;
    if metadata.len() > MAX_LAYER_BYTES {
        return Err(format!(
            "file is {} bytes, larger than the {MAX_LAYER_BYTES}-byte limit for a layer",
            metadata.len()
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read file: {}", io_reason(&e)))?;
    String::from_utf8(bytes).map_err(|e| {
        format!(
            "file is not UTF-8 text (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        )
    })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum EntryKind {
    File,
    Directory,
}

struct DirEntry {
    name: String,
    kind: EntryKind,
}

/// The layer entries of a directory, sorted byte-wise by name. Symbolic
/// links are followed (ConfigMap volumes are made of them); hidden names,
/// other files and non-`.d` directories are skipped.
fn list(dir: &Path) -> io::Result<Vec<DirEntry>> {
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if name.starts_with('.') {
            continue;
        }
        let is_yaml = name.ends_with(".yaml") || name.ends_with(".yml");
        // metadata() follows symbolic links; a dangling link to a layer is
        // reported when it is read.
        let kind = match std::fs::metadata(entry.path()) {
            Ok(metadata) if metadata.is_dir() => EntryKind::Directory,
            _ => EntryKind::File,
        };
        let wanted = match kind {
            EntryKind::File => is_yaml,
            EntryKind::Directory => name.ends_with(".d"),
        };
        if wanted {
            entries.push(DirEntry { name, kind });
        }
    }
    entries.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
    Ok(entries)
}

/// The label of an entry: what follows `NNN-` when the name has Pebble's
/// form, else the name without its extension.
fn label_of(name: &str, extensions: &[&str]) -> String {
    let stem = extensions
        .iter()
        .find_map(|ext| name.strip_suffix(ext))
        .unwrap_or(name);
    match pebble_label(stem) {
        Some(label) => label.to_string(),
        None => stem.to_string(),
    }
}

/// `label` of `NNN-label`: three digits, a hyphen, then a lower-case letter
/// followed by at least two lower-case letters or digits, with single
/// hyphens allowed between them.
fn pebble_label(stem: &str) -> Option<&str> {
    let bytes = stem.as_bytes();
    if bytes.len() < 4 || !bytes[..3].iter().all(u8::is_ascii_digit) || bytes[3] != b'-' {
        return None;
    }
    let label = &stem[4..];
    let mut chars = label.chars();
    if !chars.next().is_some_and(|c| c.is_ascii_lowercase()) {
        return None;
    }
    let mut previous_hyphen = false;
    let mut alphanumerics = 1;
    for c in chars {
        match c {
            'a'..='z' | '0'..='9' => {
                previous_hyphen = false;
                alphanumerics += 1;
            }
            '-' if !previous_hyphen => previous_hyphen = true,
            _ => return None,
        }
    }
    (!previous_hyphen && alphanumerics >= 3).then_some(label)
}

fn entry_problem(path: &Path, message: String) -> Problem {
    Problem {
        place: Place::Entry {
            path: path.display().to_string(),
        },
        subject: String::new(),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_follow_pebble_names_or_the_stem() {
        assert_eq!(label_of("010-web.yaml", &[".yaml", ".yml"]), "web");
        assert_eq!(label_of("001-a1-b2.yml", &[".yaml", ".yml"]), "a1-b2");
        assert_eq!(
            label_of("web-overrides.yml", &[".yaml", ".yml"]),
            "web-overrides"
        );
        // Not Pebble's form: too short, upper case, double hyphen, 4 digits.
        assert_eq!(label_of("010-ab.yaml", &[".yaml", ".yml"]), "010-ab");
        assert_eq!(label_of("010-Web.yaml", &[".yaml", ".yml"]), "010-Web");
        assert_eq!(label_of("010-a--b.yaml", &[".yaml", ".yml"]), "010-a--b");
        assert_eq!(label_of("0100-web.yaml", &[".yaml", ".yml"]), "0100-web");
        assert_eq!(label_of("020-extra.d", &[".d"]), "extra");
    }
}
