//! The API's Unix socket (api.md §2.1): binding over a stale socket file,
//! refusing to steal a live one, the file mode, peer credentials at accept,
//! and removing the file at exit if it is still ours.

use std::io;
use std::os::unix::fs::{
    DirBuilderExt as _, FileTypeExt as _, MetadataExt as _, PermissionsExt as _,
};
use std::path::{Path, PathBuf};

use mio::net::{UnixListener, UnixStream};
use nix::sys::socket::sockopt::PeerCredentials;
use nix::sys::stat::Mode;

use super::children::reason;

/// Who is on the other end of a connection, read once at accept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Peer {
    /// The peer's user id.
    pub uid: u32,
    /// The peer's group id.
    pub gid: u32,
    /// The peer's process id.
    pub pid: i32,
}

/// The bound socket and the identity of its file.
#[derive(Debug)]
pub struct ApiSocket {
    listener: UnixListener,
    path: PathBuf,
    inode: u64,
}

impl ApiSocket {
    /// Binds `path` with permission bits `mode`. The error is the message
    /// for exit code 71.
    pub fn bind(path: &Path, mode: u32) -> Result<ApiSocket, String> {
        let fail = |why: String| format!("cannot listen on {}: {why}", path.display());
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o755)
                .create(parent)
                .map_err(|e| {
                    fail(format!(
                        "cannot create {}: {}",
                        parent.display(),
                        reason(&e)
                    ))
                })?;
        }
        match std::fs::symlink_metadata(path) {
            Ok(metadata) if metadata.file_type().is_socket() => {
                if std::os::unix::net::UnixStream::connect(path).is_ok() {
                    return Err(fail("another vigild is running".into()));
                }
                std::fs::remove_file(path)
                    .map_err(|e| fail(format!("cannot remove stale socket: {}", reason(&e))))?;
            }
            Ok(_) => return Err(fail("file exists and is not a socket".into())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(fail(reason(&e))),
        }
        // Bind under a umask that leaves the socket closed to everyone, then
        // open it up to `mode`: it is never more open than asked, even for a
        // moment. The umask is process-wide: bind before starting threads.
        let old = nix::sys::stat::umask(Mode::from_bits_truncate(0o777));
        let bound = UnixListener::bind(path);
        nix::sys::stat::umask(old);
        let listener = bound.map_err(|e| fail(reason(&e)))?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .map_err(|e| fail(format!("cannot set mode {mode:o}: {}", reason(&e))))?;
        let inode = std::fs::metadata(path).map_err(|e| fail(reason(&e)))?.ino();
        Ok(ApiSocket {
            listener,
            path: path.to_path_buf(),
            inode,
        })
    }

    /// The listener, to register with the poll.
    pub fn listener(&mut self) -> &mut UnixListener {
        &mut self.listener
    }

    /// Accepts one connection, with its peer's credentials. `Ok(None)` when
    /// no connection is waiting.
    pub fn accept(&self) -> io::Result<Option<(UnixStream, Peer)>> {
        loop {
            return match self.listener.accept() {
                Ok((stream, _)) => {
                    let credentials = nix::sys::socket::getsockopt(&stream, PeerCredentials)
                        .map_err(io::Error::from)?;
                    let peer = Peer {
                        uid: credentials.uid(),
                        gid: credentials.gid(),
                        pid: credentials.pid(),
                    };
                    Ok(Some((stream, peer)))
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => Err(e),
            };
        }
    }

    /// The socket path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ApiSocket {
    fn drop(&mut self) {
        // Remove the file only if it is still the one we bound: another
        // vigild may have replaced it.
        if std::fs::metadata(&self.path).is_ok_and(|m| m.ino() == self.inode) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Binding changes the process-wide umask for a moment; tests on other
    /// threads must not create files meanwhile. (The daemon binds before it
    /// starts any thread.)
    static UMASK: std::sync::Mutex<()> = std::sync::Mutex::new(());

    fn serial() -> std::sync::MutexGuard<'static, ()> {
        UMASK
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn temp(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("vigil-listener-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir.join("sub").join("v.sock")
    }

    #[test]
    fn binds_with_mode_and_removes_on_drop() {
        let _serial = serial();
        let path = temp("mode");
        let socket = ApiSocket::bind(&path, 0o600).unwrap();
        let metadata = std::fs::metadata(&path).unwrap();
        assert_eq!(metadata.permissions().mode() & 0o777, 0o600);
        let parent = std::fs::metadata(path.parent().unwrap()).unwrap();
        assert_eq!(parent.permissions().mode() & 0o777, 0o755);
        drop(socket);
        assert!(!path.exists());
    }

    #[test]
    fn a_live_socket_is_not_stolen_and_a_stale_one_is_replaced() {
        let _serial = serial();
        let path = temp("live");
        let socket = ApiSocket::bind(&path, 0o666).unwrap();
        let error = ApiSocket::bind(&path, 0o666).unwrap_err();
        assert_eq!(
            error,
            format!(
                "cannot listen on {}: another vigild is running",
                path.display()
            )
        );
        drop(socket);
        // A socket file with nobody listening, as a crash leaves behind.
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        assert!(path.exists());
        let replaced = ApiSocket::bind(&path, 0o666).unwrap();
        assert_eq!(replaced.path(), path);
    }

    #[test]
    fn a_regular_file_is_refused() {
        let _serial = serial();
        let path = temp("file");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "x").unwrap();
        let error = ApiSocket::bind(&path, 0o666).unwrap_err();
        assert!(
            error.ends_with("file exists and is not a socket"),
            "{error}"
        );
    }
}
