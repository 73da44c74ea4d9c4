//! The only unsafe code of the process pool: file-descriptor plumbing and the parent-death signal.

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::FromRawFd;
use std::os::unix::process::CommandExt;
use std::process::Command;

/// Takes this process's stdout for the protocol and points fd 1 at stderr, so that anything else
/// that prints (a native library, a stray `println!`) cannot corrupt the frames.
pub(crate) fn take_stdout_for_protocol() -> io::Result<File> {
    io::stdout().flush()?;
    // SAFETY: dup and dup2 only manipulate this process's descriptor table; fd 1 and 2 are open
    // for the life of the process, and the duplicate is owned by exactly one `File`.
    unsafe {
        let protocol = libc::dup(libc::STDOUT_FILENO);
        if protocol < 0 {
            return Err(io::Error::last_os_error());
        }
        if libc::dup2(libc::STDERR_FILENO, libc::STDOUT_FILENO) < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(File::from_raw_fd(protocol))
    }
}

/// Makes the child receive SIGKILL if the thread that spawned it dies, so a killed parent never
/// leaves a child busy with a pathological input.
pub(crate) fn kill_child_with_parent(command: &mut Command) {
    // SAFETY: the closure runs in the forked child before exec and calls only prctl, which is
    // async-signal-safe; it allocates nothing and touches no locks.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
}
