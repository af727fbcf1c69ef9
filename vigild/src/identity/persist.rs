//! The state file and the seed (spec api.md §8).
//!
//! `<state-dir>/vigild.state` holds every identity in full, as JSON:
//! `{"version": 1, "identities": {...}}`. It is replaced atomically: a
//! temporary file in the same directory (mode 0600) is written and synced,
//! renamed over the old file, and the directory is synced, so a crash
//! leaves either the old set or the new one, never half of either.
//!
//! These functions block on the disk. They run at boot and on
//! `POST /v1/identities` (the spec wants the change persisted before the
//! reply); the file is small and written rarely.

use crate::reactor::children::reason;
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use vigil_proto::api::IdentitiesAction;
use vigil_proto::api::identities::{self as wire, parse_seed};

use super::{Identities, Identity};

/// The state file's name inside `--state-dir`.
pub const STATE_FILE: &str = "vigild.state";

/// The only state file version vigild reads and writes.
const VERSION: u32 = 1;

/// The state file's content.
#[derive(Debug, Serialize, Deserialize)]
struct StateFile {
    version: u32,
    #[serde(default)]
    identities: BTreeMap<String, wire::Identity>,
}

/// The state file of `state_dir`.
#[must_use]
pub fn state_file(state_dir: &Path) -> PathBuf {
    state_dir.join(STATE_FILE)
}

/// Reads the state file. A missing file means no identities.
///
/// # Errors
///
/// A message naming the file when it cannot be read or is invalid.
pub fn load(path: &Path) -> Result<Identities, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Identities::default());
        }
        Err(error) => {
            return Err(format!(
                "cannot read state file {}: {}",
                path.display(),
                reason(&error)
            ));
        }
    };
    let state: StateFile = serde_json::from_str(&text)
        .map_err(|error| format!("invalid state file {}: {error}", path.display()))?;
    if state.version != VERSION {
        return Err(format!(
            "invalid state file {}: unsupported version {} (expected {VERSION})",
            path.display(),
            state.version
        ));
    }
    let mut identities = BTreeMap::new();
    for (name, identity) in &state.identities {
        let identity = Identity::from_wire(name, identity).map_err(|reason| {
            format!(
                "invalid state file {}: identity \"{name}\": {reason}",
                path.display()
            )
        })?;
        identities.insert(name.clone(), identity);
    }
    Ok(Identities(identities))
}

/// Replaces the state file with `identities`, atomically.
///
/// # Errors
///
/// A message naming the file and the failed step.
pub fn save(path: &Path, identities: &Identities) -> Result<(), String> {
    let fail = |what: &str, error: std::io::Error| {
        format!(
            "cannot {what} state file {}: {}",
            path.display(),
            reason(&error)
        )
    };
    let state = StateFile {
        version: VERSION,
        identities: identities
            .iter()
            .map(|(name, identity)| (name.clone(), identity.to_wire(false)))
            .collect(),
    };
    let mut text = serde_json::to_vec_pretty(&state).map_err(|e| fail("encode", e.into()))?;
    text.push(b'\n');
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let temporary = dir.join(format!(".{STATE_FILE}.{}.tmp", std::process::id()));
    let written = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temporary)
        .and_then(|mut file| {
            file.write_all(&text)?;
            file.sync_all()
        });
    if let Err(error) = written {
        let _ = std::fs::remove_file(&temporary);
        return Err(fail("write", error));
    }
    if let Err(error) = std::fs::rename(&temporary, path) {
        let _ = std::fs::remove_file(&temporary);
        return Err(fail("replace", error));
    }
    File::open(dir)
        .and_then(|dir| dir.sync_all())
        .map_err(|error| fail("sync the directory of", error))
}

/// Reads and applies a seed file to `identities` with replace semantics
/// (spec api.md §8).
///
/// # Errors
///
/// Every problem, one per line, each naming the file.
pub fn seed(path: &Path, identities: &Identities) -> Result<Identities, String> {
    let text = std::fs::read_to_string(path).map_err(|error| {
        format!(
            "cannot read identities file {}: {}",
            path.display(),
            reason(&error)
        )
    })?;
    let request = parse_seed(&text)
        .map_err(|error| format!("invalid identities file {}: {error}", path.display()))?;
    let problems: Vec<String> = request
        .identities
        .iter()
        .filter_map(|(name, identity)| {
            let identity = identity.as_ref()?;
            Identity::from_wire(name, identity).err().map(|reason| {
                format!(
                    "invalid identities file {}: invalid identity for \"{name}\": {reason}",
                    path.display()
                )
            })
        })
        .collect();
    if !problems.is_empty() {
        return Err(problems.join("\n"));
    }
    identities
        .with_change(IdentitiesAction::Replace, &request.identities)
        .map_err(|error| format!("invalid identities file {}: {error}", path.display()))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("vigild-persist-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_saved_set_loads_again() {
        let dir = scratch("roundtrip");
        let path = state_file(&dir);
        assert!(load(&path).unwrap().is_empty());
        let seed_file = dir.join("seed.yaml");
        std::fs::write(
            &seed_file,
            "identities:\n  alice:\n    access: admin\n    local:\n      user-id: 1000\n  \
             scraper:\n    access: metrics\n    basic:\n      password: $6$s$h\n",
        )
        .unwrap();
        let seeded = seed(&seed_file, &Identities::default()).unwrap();
        save(&path, &seeded).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let loaded = load(&path).unwrap();
        assert_eq!(loaded, seeded);
        assert_eq!(
            loaded.named("scraper").unwrap().basic.as_deref(),
            Some("$6$s$h")
        );
        // A second save replaces the first; no temporary file is left.
        save(&path, &Identities::default()).unwrap();
        assert!(load(&path).unwrap().is_empty());
        let left: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert_eq!(left.len(), 2);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn bad_files_are_named() {
        let dir = scratch("bad");
        let path = state_file(&dir);
        std::fs::write(&path, "{not json").unwrap();
        assert!(load(&path).unwrap_err().contains("vigild.state"));
        let seed_file = dir.join("seed.yaml");
        std::fs::write(
            &seed_file,
            "identities:\n  a:\n    access: boss\n    local: {user-id: 1}\n  b:\n    access: read\n",
        )
        .unwrap();
        let error = seed(&seed_file, &Identities::default()).unwrap_err();
        assert_eq!(error.lines().count(), 2, "{error}");
        assert!(error.contains("seed.yaml"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
