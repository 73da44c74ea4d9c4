//! The only unsafe code of the process pool: file-descriptor plumbing and the parent-death signal.

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd};
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

/// Widens the pipe behind `fd` towards `bytes` (the kernel caps it at `fs.pipe-max-size`, 1 MiB
/// by default), so that a frame of megabytes crosses in a few wake-ups of reader and writer
/// rather than one per default 64 KiB. Best effort: a refusal leaves the pipe as it was.
pub(crate) fn widen_pipe(fd: &impl AsRawFd, bytes: usize) {
    let limit = std::fs::read_to_string("/proc/sys/fs/pipe-max-size")
        .ok()
        .and_then(|s| s.trim().parse::<usize>().ok())
        .unwrap_or(1 << 20);
    let size = libc::c_int::try_from(bytes.min(limit)).unwrap_or(libc::c_int::MAX);
    // SAFETY: F_SETPIPE_SZ only resizes the kernel buffer of a pipe this process holds open; on
    // anything else it fails with EBADF or EINVAL and nothing changes.
    unsafe {
        libc::fcntl(fd.as_raw_fd(), libc::F_SETPIPE_SZ, size);
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

/// An anonymous shared-memory file of `bytes` (sparse: pages exist once written), closed on exec
/// unless handed to a child with [`pass_fd_to_child`].
pub(crate) fn shared_memory_file(name: &str, bytes: u64) -> io::Result<File> {
    let name = std::ffi::CString::new(name).map_err(io::Error::other)?;
    // SAFETY: memfd_create reads a NUL-terminated name and returns a new descriptor (or -1),
    // which the `File` then owns alone.
    let file = unsafe {
        let fd = libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        File::from_raw_fd(fd)
    };
    file.set_len(bytes)?;
    Ok(file)
}

/// Keeps `file` open across exec in the child `command` spawns (under the same descriptor number,
/// which this returns), and only there: the parent's copy stays close-on-exec.
pub(crate) fn pass_fd_to_child(command: &mut Command, file: &File) -> i32 {
    let fd = file.as_raw_fd();
    // SAFETY: the closure runs in the forked child before exec and calls only fcntl, which is
    // async-signal-safe; `fd` is open there because the fork copied the parent's table while
    // `file` was alive. Keeping the number avoids dup2 onto a descriptor the spawn itself uses.
    unsafe {
        command.pre_exec(move || {
            let flags = libc::fcntl(fd, libc::F_GETFD);
            if flags < 0 || libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC) < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    fd
}

/// Gives the memory behind `file`'s bytes from `offset` on back to the system; they read as zeros
/// afterwards. Best effort.
pub(crate) fn release_from(file: &File, offset: u64) {
    let Ok(len) = file.metadata().map(|m| m.len()) else {
        return;
    };
    if offset >= len {
        return;
    }
    // SAFETY: fallocate only changes the allocation of a file this process owns an open
    // descriptor of; punching a hole keeps its size.
    unsafe {
        libc::fallocate(
            file.as_raw_fd(),
            libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
            offset as libc::off_t,
            (len - offset) as libc::off_t,
        );
    }
}

/// The file behind this process's descriptor `fd`, which a parent passed down.
pub(crate) fn inherited_file(fd: i32) -> io::Result<File> {
    // SAFETY: fcntl(F_GETFD) only checks that the descriptor is open; the `File` then owns it,
    // and nothing else in this process uses it.
    unsafe {
        if libc::fcntl(fd, libc::F_GETFD) < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(File::from_raw_fd(fd))
    }
}

/// `file` mapped for writing, shared with every other mapping of it.
pub(crate) fn map_writable(file: &File) -> io::Result<memmap2::MmapMut> {
    // SAFETY: the frames file is written by this child only while it answers a request, and the
    // parent reads it only between that answer and its next request (see `protocol`): the two
    // never touch it at once.
    unsafe { memmap2::MmapMut::map_mut(file) }
}

/// `file` mapped for reading, shared with every other mapping of it.
pub(crate) fn map_readable(file: &File) -> io::Result<memmap2::Mmap> {
    // SAFETY: as for `map_writable`: the parent reads a frame only while its child waits for the
    // next request, so the bytes do not change under the slice.
    unsafe { memmap2::Mmap::map(file) }
}
