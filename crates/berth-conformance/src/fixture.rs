//! What the container tests share: checks of a client's output, and a throwaway daemon with
//! the busybox test image loaded.

use crate::daemon::{describe, Daemon};
use std::process::Output;

/// The command's stdout; fails the test (with everything the command printed) unless it
/// succeeded.
pub fn ok(output: Output) -> String {
    assert!(output.status.success(), "{}", describe(&output));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The command's stderr; fails the test unless the command failed.
pub fn failed(output: Output) -> String {
    assert!(!output.status.success(), "{}", describe(&output));
    String::from_utf8_lossy(&output.stderr).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A daemon with `busybox:latest` loaded; None (the test passes with a note) when not
/// root, since containers need mounts and namespaces.
pub fn daemon_with_busybox() -> Option<Daemon> {
    if !berth_testutil::is_root() {
        eprintln!("skipped: containers need root (mounts, namespaces); CI runs as root");
        return None;
    }
    let daemon = Daemon::start();
    let archive = berth_testutil::image::busybox_image_archive("busybox:latest");
    ok(daemon.docker(&["load", "-i", archive.to_str().expect("UTF-8 temp path")]));
    Some(daemon)
}
