//! Spawning child processes, their pidfds, and **the** reaper.
//!
//! Invariant 1 of DESIGN.md: exactly one function waits for children
//! ([`next_exited`] with [`reap`]), with `P_ALL`, and the caller dispatches
//! each status by pid. A pidfd is only a wake-up and a race-free handle for
//! signals; nobody waits on it.
//!
//! Invariant 2: every child starts clean (supervision.md §14): an empty
//! signal mask, default dispositions, its own process group, stdin from
//! /dev/null, and no descriptor but 0, 1 and 2 (every fd vigild opens is
//! close-on-exec).

use std::ffi::OsString;
use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::wait::{Id, WaitPidFlag, WaitStatus};
use nix::unistd::{Gid, Group, Pid, Uid, User};

/// The `PATH` a child gets when vigild has none (supervision.md §17).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What to run and how.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Launch {
    /// The argument vector; `argv[0]` is the program.
    pub argv: Vec<String>,
    /// Variables laid over vigild's own environment, in order (workload,
    /// then service); later entries win.
    pub environment: Vec<(String, String)>,
    /// The working directory; vigild's own when unset.
    pub working_dir: Option<PathBuf>,
    /// `user`.
    pub user: Option<String>,
    /// `user-id`.
    pub user_id: Option<u32>,
    /// `group`.
    pub group: Option<String>,
    /// `group-id`.
    pub group_id: Option<u32>,
    /// Whether stdout and stderr are captured through pipes; otherwise the
    /// child inherits vigild's (`logs-forward: passthrough`).
    pub capture: bool,
}

/// A started child.
#[derive(Debug)]
pub struct Spawned {
    /// Its pid, which is also its process group id.
    pub pid: i32,
    /// A pidfd for it: readable when it exits, and a safe signal target.
    pub pidfd: OwnedFd,
    /// The read end of its stdout, non-blocking, when captured.
    pub stdout: Option<OwnedFd>,
    /// The read end of its stderr, non-blocking, when captured.
    pub stderr: Option<OwnedFd>,
}

/// Why a child could not be started. The message is the part after
/// `cannot start service: `.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpawnError {
    /// What went wrong, in Pebble's words where Pebble has some.
    pub message: String,
    /// The program was not found (exit code 127 when a restart treats the
    /// failure as an exit), as opposed to any other failure (126).
    pub not_found: bool,
}

impl fmt::Display for SpawnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl SpawnError {
    fn other(message: String) -> SpawnError {
        SpawnError {
            message,
            not_found: false,
        }
    }
}

/// The user and groups a child switches to before exec.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Identity {
    uid: Uid,
    gid: Gid,
    groups: Vec<Gid>,
    /// HOME and USER from the passwd entry, when there is one.
    home: Option<PathBuf>,
    name: Option<String>,
}

/// Resolves `user`/`user-id`/`group`/`group-id` (supervision.md §17).
/// `None` means "run as vigild runs". The lookups read the passwd and group
/// databases; in a container those are local files.
fn resolve_identity(launch: &Launch) -> Result<Option<Identity>, SpawnError> {
    let by_name = match &launch.user {
        Some(name) => match User::from_name(name) {
            Ok(Some(user)) => Some(user),
            Ok(None) => return Err(SpawnError::other(format!("user \"{name}\" not found"))),
            Err(errno) => {
                return Err(SpawnError::other(format!(
                    "cannot look up user \"{name}\": {}",
                    errno.desc()
                )));
            }
        },
        None => None,
    };
    let user = match (by_name, launch.user_id) {
        (Some(user), Some(id)) if user.uid.as_raw() != id => {
            return Err(SpawnError::other(format!(
                "user \"{}\" has uid {}, not {id}",
                user.name, user.uid
            )));
        }
        (Some(user), _) => Some(user),
        (None, Some(id)) => User::from_uid(Uid::from_raw(id)).ok().flatten(),
        (None, None) => None,
    };
    let uid = match (&user, launch.user_id) {
        (Some(user), _) => user.uid,
        (None, Some(id)) => Uid::from_raw(id),
        (None, None) => {
            if launch.group.is_some() || launch.group_id.is_some() {
                return Err(SpawnError::other(
                    "must specify user, not just group".into(),
                ));
            }
            return Ok(None);
        }
    };
    let group_by_name = match &launch.group {
        Some(name) => match Group::from_name(name) {
            Ok(Some(group)) => Some(group),
            Ok(None) => return Err(SpawnError::other(format!("group \"{name}\" not found"))),
            Err(errno) => {
                return Err(SpawnError::other(format!(
                    "cannot look up group \"{name}\": {}",
                    errno.desc()
                )));
            }
        },
        None => None,
    };
    let gid = match (&group_by_name, launch.group_id) {
        (Some(group), Some(id)) if group.gid.as_raw() != id => {
            return Err(SpawnError::other(format!(
                "group \"{}\" has gid {}, not {id}",
                group.name, group.gid
            )));
        }
        (Some(group), _) => group.gid,
        (None, Some(id)) => Gid::from_raw(id),
        (None, None) => match &user {
            Some(user) => user.gid,
            None => {
                return Err(SpawnError::other(format!(
                    "user-id {uid} has no passwd entry, so its group is unknown; set group or group-id"
                )));
            }
        },
    };
    if uid == Uid::current() && gid == Gid::current() {
        return Ok(None);
    }
    let groups = match &user {
        Some(user) => {
            let name = std::ffi::CString::new(user.name.as_str())
                .map_err(|_| SpawnError::other(format!("invalid user name {:?}", user.name)))?;
            nix::unistd::getgrouplist(&name, gid).unwrap_or_else(|_| vec![gid])
        }
        None => vec![gid],
    };
    Ok(Some(Identity {
        uid,
        gid,
        groups,
        home: user.as_ref().map(|u| u.dir.clone()),
        name: user.map(|u| u.name),
    }))
}

/// The child's complete environment: vigild's, then the overlay, then HOME
/// and USER of a switched-to user unless the overlay set them, and a default
/// PATH when there is none.
fn environment(launch: &Launch, identity: Option<&Identity>) -> Vec<(OsString, OsString)> {
    let mut env: Vec<(OsString, OsString)> = std::env::vars_os().collect();
    let mut set = |key: OsString, value: OsString| match env.iter_mut().find(|(k, _)| *k == key) {
        Some(entry) => entry.1 = value,
        None => env.push((key, value)),
    };
    for (key, value) in &launch.environment {
        set(key.into(), value.into());
    }
    let overlay_sets = |name: &str| launch.environment.iter().any(|(k, _)| k == name);
    if let Some(identity) = identity {
        if let (Some(home), false) = (&identity.home, overlay_sets("HOME")) {
            set("HOME".into(), home.into());
        }
        if let (Some(name), false) = (&identity.name, overlay_sets("USER")) {
            set("USER".into(), name.into());
        }
    }
    if !env.iter().any(|(k, _)| k == "PATH") {
        env.push(("PATH".into(), DEFAULT_PATH.into()));
    }
    env
}

/// Starts a child. Call only from the reactor thread, and register the
/// returned pidfd and pipes before the loop turns again.
pub fn spawn(launch: &Launch) -> Result<Spawned, SpawnError> {
    let Some(program) = launch.argv.first() else {
        return Err(SpawnError::other("command is empty".into()));
    };
    let identity = resolve_identity(launch)?;
    if let Some(dir) = &launch.working_dir
        && let Err(error) = std::fs::metadata(dir)
    {
        return Err(SpawnError::other(format!(
            "chdir {}: {}",
            dir.display(),
            reason(&error)
        )));
    }
    let mut command = Command::new(program);
    command
        .args(&launch.argv[1..])
        .env_clear()
        .envs(environment(launch, identity.as_ref()))
        .stdin(Stdio::null())
        .process_group(0);
    if let Some(dir) = &launch.working_dir {
        command.current_dir(dir);
    }
    if launch.capture {
        command.stdout(Stdio::piped()).stderr(Stdio::piped());
    } else {
        command.stdout(Stdio::inherit()).stderr(Stdio::inherit());
    }
    let switch = identity.map(|id| (id.uid, id.gid, id.groups));
    // SAFETY: the closure runs in the child between fork and exec. It only
    // makes system calls (close_range, signal, sigprocmask, setgroups,
    // setgid, setuid) on data prepared before the fork, and allocates
    // nothing.
    unsafe {
        command.pre_exec(move || {
            // Descriptors vigild inherited without close-on-exec (from a
            // container runtime, a test harness) must not reach services.
            // Marking them close-on-exec rather than closing them keeps
            // std's own exec-error pipe working.
            libc::syscall(
                libc::SYS_close_range,
                3 as libc::c_uint,
                libc::c_uint::MAX,
                libc::CLOSE_RANGE_CLOEXEC,
            );
            // An ignored disposition survives exec (handlers do not): give
            // every signal its default, whatever vigild or its own parent
            // ignored (supervision.md §14). The raw system call, because
            // libc refuses its own internal signals (32, 33), which may be
            // inherited ignored too. An all-zero kernel sigaction is
            // SIG_DFL with no flags on every architecture; SIGKILL and
            // SIGSTOP refuse, harmlessly.
            let default = [0u64; 4];
            for signal in 1..=64 {
                libc::syscall(
                    libc::SYS_rt_sigaction,
                    signal,
                    default.as_ptr(),
                    std::ptr::null_mut::<u64>(),
                    8usize,
                );
            }
            nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None)?;
            if let Some((uid, gid, groups)) = &switch {
                nix::unistd::setgroups(groups)?;
                nix::unistd::setgid(*gid)?;
                nix::unistd::setuid(*uid)?;
            }
            Ok(())
        });
    }
    let mut child = command
        .spawn()
        .map_err(|error| exec_error(program, &error))?;
    let pid = child.id() as i32;
    // No reap can happen between spawn and here: the reaper runs on this
    // thread only, so the pid still names our child, even as a zombie.
    let pidfd = match pidfd_open(pid) {
        Ok(pidfd) => pidfd,
        Err(error) => {
            // Without a pidfd the child cannot be supervised safely; it dies
            // now and the reaper collects it as an orphan.
            let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
            return Err(SpawnError::other(format!(
                "cannot open pidfd for {pid}: {}",
                reason(&error)
            )));
        }
    };
    let stdout = child.stdout.take().map(OwnedFd::from);
    let stderr = child.stderr.take().map(OwnedFd::from);
    for fd in stdout.iter().chain(stderr.iter()) {
        set_nonblocking(fd.as_raw_fd()).map_err(|error| {
            SpawnError::other(format!("cannot set up output pipe: {}", reason(&error)))
        })?;
    }
    // Dropping `child` neither waits nor kills: the reaper owns the pid now.
    drop(child);
    Ok(Spawned {
        pid,
        pidfd,
        stdout,
        stderr,
    })
}

/// The spawn error in Pebble's (Go's) words.
fn exec_error(program: &str, error: &io::Error) -> SpawnError {
    let not_found = error.kind() == io::ErrorKind::NotFound;
    let message = if not_found && !program.contains('/') {
        format!("exec: \"{program}\": executable file not found in $PATH")
    } else {
        format!("fork/exec {program}: {}", reason(error))
    };
    SpawnError { message, not_found }
}

/// An I/O error as a lower-case phrase without "(os error N)".
pub fn reason(error: &io::Error) -> String {
    match error.raw_os_error() {
        Some(code) => nix::errno::Errno::from_raw(code).desc().to_lowercase(),
        None => error.to_string(),
    }
}

fn set_nonblocking(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl on a descriptor we own, with valid flags.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: as above.
    if unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `pidfd_open(2)`; the fd is close-on-exec by definition.
pub fn pidfd_open(pid: i32) -> io::Result<OwnedFd> {
    // SAFETY: a plain system call with integer arguments.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0 as libc::c_uint) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// `pidfd_send_signal(2)`: signals exactly the process of `pidfd`, never a
/// recycled pid.
pub fn pidfd_signal(pidfd: &OwnedFd, signal: Signal) -> io::Result<()> {
    // SAFETY: a plain system call; a null siginfo is allowed.
    let result = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            signal as libc::c_int,
            std::ptr::null::<libc::siginfo_t>(),
            0 as libc::c_uint,
        )
    };
    if result < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Signals a whole process group. Only call it while the group's leader is
/// not yet reaped: the group id cannot be reused until then.
pub fn group_signal(pgid: i32, signal: Signal) -> io::Result<()> {
    nix::sys::signal::killpg(Pid::from_raw(pgid), signal).map_err(io::Error::from)
}

/// How a child ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    /// It exited with this code.
    Exited(i32),
    /// It was killed by this signal number.
    Signaled(i32),
}

impl ExitStatus {
    /// The code a shell would report: the code, or 128 + the signal.
    pub fn code(self) -> i32 {
        match self {
            ExitStatus::Exited(code) => code,
            ExitStatus::Signaled(signal) => 128 + signal,
        }
    }
}

/// The next child that has exited, **without** reaping it (`WNOWAIT`): its
/// pid and process group stay reserved until [`reap`], so the caller can
/// still signal what is left of the group. `None` when no child is ready.
///
/// Together with [`reap`], this is the only wait in vigild.
pub fn next_exited() -> Option<(i32, ExitStatus)> {
    loop {
        let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
        return match nix::sys::wait::waitid(Id::All, flags) {
            Ok(WaitStatus::Exited(pid, code)) => Some((pid.as_raw(), ExitStatus::Exited(code))),
            Ok(WaitStatus::Signaled(pid, signal, _)) => {
                Some((pid.as_raw(), ExitStatus::Signaled(signal as i32)))
            }
            Err(nix::errno::Errno::EINTR) => continue,
            // StillAlive (nothing ready), ECHILD (no children) or anything
            // not asked for.
            _ => None,
        };
    }
}

/// Reaps a child that [`next_exited`] reported.
pub fn reap(pid: i32) {
    loop {
        let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG;
        match nix::sys::wait::waitid(Id::Pid(Pid::from_raw(pid)), flags) {
            Err(nix::errno::Errno::EINTR) => continue,
            _ => return,
        }
    }
}

/// Makes this process a child subreaper (`PR_SET_CHILD_SUBREAPER`), so
/// orphaned descendants are reparented to it.
pub fn become_subreaper() -> io::Result<()> {
    nix::sys::prctl::set_child_subreaper(true).map_err(io::Error::from)
}

#[cfg(test)]
mod tests {
    use std::io::Read as _;
    use std::time::{Duration, Instant};

    use super::*;

    /// Child tests run one at a time: the reaper takes any child of the
    /// process, and the test threads share one process.
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

    fn serial() -> std::sync::MutexGuard<'static, ()> {
        SERIAL
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn sh(script: &str) -> Launch {
        Launch {
            argv: vec!["sh".into(), "-c".into(), script.into()],
            capture: true,
            ..Launch::default()
        }
    }

    /// Waits for `pid` through the reaper functions, with a bound.
    fn wait(pid: i32) -> ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            while let Some((exited, status)) = next_exited() {
                reap(exited);
                if exited == pid {
                    return status;
                }
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        panic!("child {pid} did not exit");
    }

    fn output(fd: Option<OwnedFd>) -> String {
        let fd = fd.unwrap();
        // The test reads after exit, so a blocking read is fine.
        let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) };
        unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags & !libc::O_NONBLOCK) };
        let mut text = String::new();
        std::fs::File::from(fd).read_to_string(&mut text).unwrap();
        text
    }

    #[test]
    fn child_starts_clean() {
        let _serial = serial();
        // Blocked signals in the parent must not reach the child, the child
        // leads its own group, stdin is /dev/null, and only 0, 1, 2 are open.
        let mut mask = SigSet::empty();
        mask.add(Signal::SIGTERM);
        mask.thread_block().unwrap();
        // Ignored dispositions survive exec unless the child resets them.
        crate::reactor::signals::block_ignored();
        let spawned = spawn(&sh(
            "grep SigBlk /proc/self/status | tr '\\n' ' '; grep SigIgn /proc/self/status; ps -o pgid= -p $$ 2>/dev/null || cut -d' ' -f5 /proc/self/stat; \
             readlink /proc/self/fd/0; ls /proc/self/fd | sort -n | tr '\\n' ' '",
        ))
        .unwrap();
        mask.thread_unblock().unwrap();
        let pid = spawned.pid;
        assert_eq!(wait(pid), ExitStatus::Exited(0));
        let text = output(spawned.stdout);
        let lines: Vec<&str> = text.lines().collect();
        let fields: Vec<&str> = lines[0].split_whitespace().collect();
        assert_eq!(fields[..2], ["SigBlk:", "0000000000000000"], "{text}");
        assert_eq!(fields[2..], ["SigIgn:", "0000000000000000"], "{text}");
        assert_eq!(lines[1].trim(), pid.to_string(), "{text}");
        assert_eq!(lines[2], "/dev/null", "{text}");
        // ls itself opens one directory fd (3).
        assert_eq!(lines[3].trim(), "0 1 2 3", "{text}");
    }

    #[test]
    fn environment_is_laid_over_the_daemons() {
        let _serial = serial();
        let mut launch = sh("echo \"$VIGIL_TEST_A $VIGIL_TEST_B\"");
        launch.environment = vec![
            ("VIGIL_TEST_A".into(), "one".into()),
            ("VIGIL_TEST_B".into(), "two".into()),
            ("VIGIL_TEST_B".into(), "three".into()),
        ];
        let spawned = spawn(&launch).unwrap();
        assert_eq!(wait(spawned.pid), ExitStatus::Exited(0));
        assert_eq!(output(spawned.stdout), "one three\n");
    }

    #[test]
    fn exit_codes_and_signals_are_reported() {
        let _serial = serial();
        let spawned = spawn(&sh("exit 7")).unwrap();
        assert_eq!(wait(spawned.pid), ExitStatus::Exited(7));
        let spawned = spawn(&sh("kill -USR1 $$")).unwrap();
        assert_eq!(wait(spawned.pid), ExitStatus::Signaled(10));
        assert_eq!(ExitStatus::Signaled(9).code(), 137);
    }

    #[test]
    fn pidfd_signals_the_child() {
        let _serial = serial();
        let spawned = spawn(&sh("sleep 30")).unwrap();
        pidfd_signal(&spawned.pidfd, Signal::SIGTERM).unwrap();
        assert_eq!(wait(spawned.pid), ExitStatus::Signaled(15));
    }

    #[test]
    fn spawn_errors_read_like_pebbles() {
        let _serial = serial();
        let error = spawn(&Launch {
            argv: vec!["vigil-no-such-program".into()],
            ..Launch::default()
        })
        .unwrap_err();
        assert_eq!(
            error.message,
            "exec: \"vigil-no-such-program\": executable file not found in $PATH"
        );
        assert!(error.not_found);
        let error = spawn(&Launch {
            argv: vec!["true".into()],
            working_dir: Some("/nonexistent/dir".into()),
            ..Launch::default()
        })
        .unwrap_err();
        assert_eq!(
            error.message,
            "chdir /nonexistent/dir: no such file or directory"
        );
        let error = spawn(&Launch {
            argv: vec!["true".into()],
            user: Some("vigil-no-such-user".into()),
            ..Launch::default()
        })
        .unwrap_err();
        assert_eq!(error.message, "user \"vigil-no-such-user\" not found");
        let error = spawn(&Launch {
            argv: vec!["true".into()],
            group: Some("root".into()),
            ..Launch::default()
        })
        .unwrap_err();
        assert_eq!(error.message, "must specify user, not just group");
    }

    #[test]
    fn user_and_user_id_must_agree() {
        let _serial = serial();
        let error = resolve_identity(&Launch {
            user: Some("root".into()),
            user_id: Some(12345),
            ..Launch::default()
        })
        .unwrap_err();
        assert_eq!(error.message, "user \"root\" has uid 0, not 12345");
    }

    #[test]
    fn switching_user_sets_groups_home_and_user() {
        let _serial = serial();
        if !Uid::current().is_root() {
            return; // needs root to switch users
        }
        let Ok(Some(nobody)) = User::from_name("nobody") else {
            return;
        };
        let mut launch = sh("id -u; id -G; echo \"$HOME $USER\"");
        launch.user = Some("nobody".into());
        let spawned = spawn(&launch).unwrap();
        assert_eq!(wait(spawned.pid), ExitStatus::Exited(0));
        let text = output(spawned.stdout);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], nobody.uid.to_string());
        // root's supplementary groups are gone.
        assert!(!lines[1].split(' ').any(|g| g == "0"), "{text}");
        assert_eq!(lines[2], format!("{} nobody", nobody.dir.display()));
    }
}
