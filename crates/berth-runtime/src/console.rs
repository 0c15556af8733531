//! The container's terminal: a pty from the container's own devpts, the master sent to the
//! `--console-socket` over SCM_RIGHTS (as runc does), the peer made stdio, controlling tty and
//! /dev/console.

use crate::mounts::{self, fd_path};
use rustix::fs::{Mode, OFlags, ResolveFlags};
use rustix::io::Errno;
use rustix::net::{SendAncillaryBuffer, SendAncillaryMessage, SendFlags};
use rustix::pty::OpenptFlags;
use std::io::IoSlice;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

/// Errors of console setup.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error("opening /dev/ptmx in the container")]
    OpenPtmx(#[source] Errno),
    #[error("unlocking the pty")]
    Unlock(#[source] Errno),
    #[error("opening the pty peer")]
    Peer(#[source] Errno),
    #[error("sending the pty master to the console socket")]
    Send(#[source] Errno),
    #[error("making the pty stdio")]
    Stdio(#[source] Errno),
    #[error("making the pty the controlling terminal")]
    Ctty(#[source] Errno),
    #[error("mounting the pty on /dev/console")]
    DevConsole(#[source] Errno),
}

/// Creates the pty, hands the master to `socket`, and makes the peer our stdio.
/// `size` is (height, width) from `process.consoleSize`; zero sizes are left alone.
pub fn setup(
    socket: BorrowedFd<'_>,
    mount_console: bool,
    size: Option<(u64, u64)>,
) -> Result<(), ConsoleError> {
    let root = rustix::fs::open(
        "/",
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(ConsoleError::OpenPtmx)?;
    let ptmx = mounts::open_in_root(&root, Path::new("/dev/ptmx"), ResolveFlags::empty())
        .map_err(ConsoleError::OpenPtmx)?;
    let master = rustix::fs::open(
        fd_path(&ptmx),
        OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(ConsoleError::OpenPtmx)?;
    rustix::pty::unlockpt(&master).map_err(ConsoleError::Unlock)?;
    // TIOCGPTPEER opens the peer through the master, never through a path (CVE-2025-52565).
    let peer = rustix::pty::ioctl_tiocgptpeer(&master, OpenptFlags::RDWR | OpenptFlags::NOCTTY)
        .map_err(ConsoleError::Peer)?;
    if let Some((rows, cols)) = size.filter(|(h, w)| *h > 0 && *w > 0) {
        let winsize = rustix::termios::Winsize {
            ws_row: rows.min(u64::from(u16::MAX)) as u16,
            ws_col: cols.min(u64::from(u16::MAX)) as u16,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // Best effort, as runc: a failed resize leaves the default size.
        let _ = rustix::termios::tcsetwinsize(&master, winsize);
    }
    send_fd(socket, master.as_fd()).map_err(ConsoleError::Send)?;
    drop(master);
    if mount_console {
        // Never through a symlink: an image's `/dev/console -> /proc/...` would put the
        // pty over a procfs file (CVE-2025-52565). Such an image gets no console mount.
        let console =
            mounts::touch_in_root_with(&root, Path::new("/dev/console"), ResolveFlags::NO_SYMLINKS);
        if let Ok(console) = console {
            rustix::mount::mount_bind(fd_path(&peer), fd_path(&console))
                .map_err(ConsoleError::DevConsole)?;
        }
    }
    make_stdio(&peer)
}

fn make_stdio(peer: &OwnedFd) -> Result<(), ConsoleError> {
    rustix::stdio::dup2_stdin(peer).map_err(ConsoleError::Stdio)?;
    rustix::stdio::dup2_stdout(peer).map_err(ConsoleError::Stdio)?;
    rustix::stdio::dup2_stderr(peer).map_err(ConsoleError::Stdio)?;
    rustix::process::ioctl_tiocsctty(rustix::stdio::stdin()).map_err(ConsoleError::Ctty)
}

/// Sends one fd over a unix socket with SCM_RIGHTS.
pub fn send_fd(socket: BorrowedFd<'_>, fd: BorrowedFd<'_>) -> Result<(), Errno> {
    let fds = [fd];
    let mut space = [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    control.push(SendAncillaryMessage::ScmRights(&fds));
    rustix::net::sendmsg(
        socket,
        &[IoSlice::new(b"/dev/ptmx")],
        &mut control,
        SendFlags::NOSIGNAL,
    )?;
    Ok(())
}

/// Receives one fd sent with [`send_fd`] (the other end of a console socket).
pub fn receive_fd(socket: BorrowedFd<'_>) -> Result<OwnedFd, Errno> {
    use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};
    let mut space = [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let mut buf = [0u8; 256];
    rustix::net::recvmsg(
        socket,
        &mut [std::io::IoSliceMut::new(&mut buf)],
        &mut control,
        RecvFlags::CMSG_CLOEXEC,
    )?;
    for msg in control.drain() {
        if let RecvAncillaryMessage::ScmRights(mut fds) = msg {
            if let Some(fd) = fds.next() {
                return Ok(fd);
            }
        }
    }
    Err(Errno::BADMSG)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_fd_crosses_a_socket_pair() {
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        let (r, w) = rustix::pipe::pipe().unwrap();
        send_fd(a.as_fd(), w.as_fd()).unwrap();
        let got = receive_fd(b.as_fd()).unwrap();
        rustix::io::write(&got, b"hi").unwrap();
        let mut buf = [0u8; 2];
        rustix::io::read(&r, &mut buf).unwrap();
        assert_eq!(&buf, b"hi");
    }
}
