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

use std::ffi::{CString, OsString};
use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::PathBuf;

use nix::sys::signal::Signal;
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
    /// With `capture`: stdout and stderr share one pipe, returned as
    /// [`Spawned::stdout`] (an exec probe's merged output).
    pub merge_output: bool,
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
///
/// This is our own fork and exec rather than `std::process::Command`:
/// `Command::spawn` waits for a child whose exec failed, and vigild has
/// exactly one place that waits (supervision.md §14). A child whose exec
/// fails here exits with 127 and the reaper collects it like any orphan.
///
/// The call returns once the child has exec'd or failed to (a
/// close-on-exec pipe tells which), so it holds the loop for about one fork
/// and exec.
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
    let environment = environment(launch, identity.as_ref());
    let path = find_program(program, &environment, launch.working_dir.as_deref())?;
    let invalid = |what: &str| SpawnError::other(format!("{what} contains a NUL byte"));
    let argv: Vec<CString> = launch
        .argv
        .iter()
        .map(|arg| CString::new(arg.as_bytes()).map_err(|_| invalid("an argument")))
        .collect::<Result<_, _>>()?;
    let envp: Vec<CString> = environment
        .iter()
        .map(|(key, value)| {
            let mut entry = key.as_bytes().to_vec();
            entry.push(b'=');
            entry.extend_from_slice(value.as_bytes());
            CString::new(entry).map_err(|_| invalid("the environment"))
        })
        .collect::<Result<_, _>>()?;
    let path =
        CString::new(path.as_os_str().as_bytes()).map_err(|_| invalid("the program path"))?;
    let cwd = match &launch.working_dir {
        Some(dir) => {
            Some(CString::new(dir.as_os_str().as_bytes()).map_err(|_| invalid("working-dir"))?)
        }
        None => None,
    };
    let mut argv_ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    argv_ptrs.push(std::ptr::null());
    let mut envp_ptrs: Vec<*const libc::c_char> = envp.iter().map(|e| e.as_ptr()).collect();
    envp_ptrs.push(std::ptr::null());
    let switch = identity.map(|id| {
        let groups: Vec<libc::gid_t> = id.groups.iter().map(|g| g.as_raw()).collect();
        (id.uid.as_raw(), id.gid.as_raw(), groups)
    });

    let setup = |error: io::Error| {
        SpawnError::other(format!("cannot set up the process: {}", reason(&error)))
    };
    let dev_null = std::fs::File::open("/dev/null").map_err(setup)?;
    let outputs = if launch.capture {
        let stdout = pipe().map_err(setup)?;
        let stderr = if launch.merge_output {
            None
        } else {
            Some(pipe().map_err(setup)?)
        };
        Some((stdout, stderr))
    } else {
        None
    };
    let (report_read, report_write) = pipe().map_err(setup)?;
    let child_fds = ChildFds {
        stdin: dev_null.as_raw_fd(),
        stdout: outputs.as_ref().map(|((_, w), _)| w.as_raw_fd()),
        stderr: outputs
            .as_ref()
            .map(|((_, out), err)| err.as_ref().map_or(out.as_raw_fd(), |(_, w)| w.as_raw_fd())),
        report: report_write.as_raw_fd(),
    };
    let exec = Exec {
        path: path.as_ptr(),
        argv: argv_ptrs.as_ptr(),
        envp: envp_ptrs.as_ptr(),
        cwd: cwd.as_ref().map(|c| c.as_ptr()),
        switch: switch
            .as_ref()
            .map(|(uid, gid, groups)| (*uid, *gid, groups.as_slice())),
    };
    // SAFETY: fork has no preconditions. In the child, `child_main` only
    // makes async-signal-safe system calls on memory prepared above, and
    // never returns.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(setup(io::Error::last_os_error()));
    }
    if pid == 0 {
        // SAFETY: we are the child of a fork; see `child_main`.
        unsafe { child_main(&child_fds, &exec) }
    }
    // The parent keeps only the read ends.
    drop(report_write);
    drop(dev_null);
    let (stdout, stderr) = match outputs {
        Some(((out_read, out_write), err)) => {
            drop(out_write);
            (Some(out_read), err.map(|(err_read, _)| err_read))
        }
        None => (None, None),
    };
    // End of file: the child exec'd. Data: where it failed, and errno.
    let mut report = [0u8; 5];
    let mut got = 0;
    while got < report.len() {
        match nix::unistd::read(&report_read, &mut report[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => break,
        }
    }
    if got == report.len() {
        // The child has exited with 127; the reaper takes it as an orphan.
        let errno = i32::from_ne_bytes([report[1], report[2], report[3], report[4]]);
        let error = io::Error::from_raw_os_error(errno);
        return Err(match Stage::from(report[0]) {
            Stage::Exec => exec_error(program, &error),
            Stage::Chdir => SpawnError::other(format!(
                "chdir {}: {}",
                launch
                    .working_dir
                    .as_deref()
                    .unwrap_or(std::path::Path::new("."))
                    .display(),
                reason(&error)
            )),
            Stage::Identity => SpawnError::other(reason(&error)),
            Stage::Setup => setup(error),
        });
    }
    // No reap can happen between fork and here: the reaper runs on this
    // thread only, so the pid still names our child.
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
    for fd in stdout.iter().chain(stderr.iter()) {
        set_nonblocking(fd.as_raw_fd()).map_err(|error| {
            SpawnError::other(format!("cannot set up output pipe: {}", reason(&error)))
        })?;
    }
    Ok(Spawned {
        pid,
        pidfd,
        stdout,
        stderr,
    })
}

/// A close-on-exec pipe: (read end, write end).
fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(io::Error::from)
}

/// The program to exec: as given when it contains `/` (relative to the
/// working directory), else the first executable match in the child's
/// `PATH` (supervision.md §17).
fn find_program(
    program: &str,
    environment: &[(OsString, OsString)],
    working_dir: Option<&std::path::Path>,
) -> Result<PathBuf, SpawnError> {
    if program.contains('/') {
        return Ok(PathBuf::from(program));
    }
    let search = environment
        .iter()
        .find(|(key, _)| key == "PATH")
        .map(|(_, value)| value.clone())
        .unwrap_or_else(|| DEFAULT_PATH.into());
    for dir in std::env::split_paths(&search) {
        let dir = if dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            dir
        };
        let dir = match working_dir {
            Some(base) if dir.is_relative() => base.join(dir),
            _ => dir,
        };
        let candidate = dir.join(program);
        let Ok(metadata) = std::fs::metadata(&candidate) else {
            continue;
        };
        if metadata.is_file() && metadata.permissions().mode() & 0o111 != 0 {
            return Ok(candidate);
        }
    }
    Err(SpawnError {
        message: format!("exec: \"{program}\": executable file not found in $PATH"),
        not_found: true,
    })
}

/// Where a child failed before its exec, as reported through the pipe.
#[derive(Clone, Copy)]
#[repr(u8)]
enum Stage {
    Setup = 1,
    Identity = 2,
    Chdir = 3,
    Exec = 4,
}

impl From<u8> for Stage {
    fn from(byte: u8) -> Stage {
        match byte {
            2 => Stage::Identity,
            3 => Stage::Chdir,
            4 => Stage::Exec,
            _ => Stage::Setup,
        }
    }
}

/// The descriptors the child arranges as 0, 1, 2, and its report pipe.
struct ChildFds {
    stdin: RawFd,
    stdout: Option<RawFd>,
    stderr: Option<RawFd>,
    report: RawFd,
}

/// Everything the child needs to exec, prepared before the fork.
struct Exec<'a> {
    path: *const libc::c_char,
    argv: *const *const libc::c_char,
    envp: *const *const libc::c_char,
    cwd: Option<*const libc::c_char>,
    switch: Option<(libc::uid_t, libc::gid_t, &'a [libc::gid_t])>,
}

/// The child between fork and exec. Only async-signal-safe system calls,
/// no allocation, no locks: another thread of vigild may have held any lock
/// at the moment of the fork.
///
/// # Safety
/// Call only in a freshly forked child, with pointers that stay valid (they
/// point into the parent's memory, which the child has a copy of).
unsafe fn child_main(fds: &ChildFds, exec: &Exec) -> ! {
    // SAFETY (whole body): raw system calls on valid descriptors and on
    // pointers the caller guarantees.
    unsafe {
        let fail = |stage: Stage| -> ! {
            let errno = *libc::__errno_location();
            let mut report = [stage as u8, 0, 0, 0, 0];
            report[1..].copy_from_slice(&errno.to_ne_bytes());
            libc::write(fds.report, report.as_ptr().cast(), report.len());
            libc::_exit(127)
        };
        if libc::dup2(fds.stdin, 0) < 0 {
            fail(Stage::Setup);
        }
        if let Some(fd) = fds.stdout
            && libc::dup2(fd, 1) < 0
        {
            fail(Stage::Setup);
        }
        if let Some(fd) = fds.stderr
            && libc::dup2(fd, 2) < 0
        {
            fail(Stage::Setup);
        }
        // Its own process group, so that a stop signal reaches what it
        // starts, and never vigild.
        if libc::setpgid(0, 0) < 0 {
            fail(Stage::Setup);
        }
        // Descriptors vigild inherited without close-on-exec (from a
        // container runtime, a test harness) must not reach services; the
        // report pipe must stay open until the exec, so they are marked
        // rather than closed.
        libc::syscall(
            libc::SYS_close_range,
            3 as libc::c_uint,
            libc::c_uint::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        );
        // An ignored disposition survives exec (handlers do not): give
        // every signal its default, whatever vigild or its own parent
        // ignored (supervision.md §14). The raw system call, because libc
        // refuses its own internal signals (32, 33), which may be inherited
        // ignored too. An all-zero kernel sigaction is SIG_DFL with no
        // flags on every architecture; SIGKILL and SIGSTOP refuse,
        // harmlessly.
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
        // The signalfd needs vigild's signals blocked; a service must not
        // inherit that.
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        if libc::pthread_sigmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut()) != 0 {
            fail(Stage::Setup);
        }
        if let Some((uid, gid, groups)) = exec.switch
            && (libc::setgroups(groups.len(), groups.as_ptr()) < 0
                || libc::setgid(gid) < 0
                || libc::setuid(uid) < 0)
        {
            fail(Stage::Identity);
        }
        if let Some(cwd) = exec.cwd
            && libc::chdir(cwd) < 0
        {
            fail(Stage::Chdir);
        }
        libc::execve(exec.path, exec.argv, exec.envp);
        fail(Stage::Exec)
    }
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

pub use vigil_proto::reason::io_reason as reason;

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

    use nix::sys::signal::SigSet;

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
            merge_output: false,
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
    fn a_failed_exec_is_reported_and_reaped_by_the_one_reaper() {
        let _serial = serial();
        // An executable file that no loader recognises: execve fails with
        // ENOEXEC in the child, after the fork.
        let program = std::env::temp_dir().join(format!("vigil-noexec-{}", std::process::id()));
        std::fs::write(&program, [0u8, 1, 2, 3]).unwrap();
        std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
        let error = spawn(&Launch {
            argv: vec![program.display().to_string()],
            ..Launch::default()
        })
        .unwrap_err();
        let _ = std::fs::remove_file(&program);
        assert_eq!(
            error.message,
            format!("fork/exec {}: exec format error", program.display())
        );
        assert!(!error.not_found);
        // The child exited 127 and nobody else waited for it: it is ours to
        // reap, as an orphan.
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut seen = false;
        while !seen && Instant::now() < deadline {
            while let Some((pid, status)) = next_exited() {
                reap(pid);
                seen |= status == ExitStatus::Exited(127);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(seen, "no exit 127 was reaped");
    }

    #[test]
    fn the_program_is_found_in_the_childs_path() {
        let _serial = serial();
        let dir = std::env::temp_dir().join(format!("vigil-path-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let program = dir.join("vigil-test-hello");
        std::fs::write(&program, "#!/bin/sh\necho hello\n").unwrap();
        std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
        let spawned = spawn(&Launch {
            argv: vec!["vigil-test-hello".into()],
            environment: vec![("PATH".into(), format!("/nonexistent:{}", dir.display()))],
            capture: true,
            merge_output: false,
            ..Launch::default()
        })
        .unwrap();
        assert_eq!(wait(spawned.pid), ExitStatus::Exited(0));
        assert_eq!(output(spawned.stdout), "hello\n");
        let _ = std::fs::remove_dir_all(&dir);
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
