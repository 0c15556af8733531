//! What the container tests share: checks of a client's output, and a throwaway daemon with
//! the busybox test image loaded.

use crate::daemon::{describe, Daemon};
use std::process::Output;
use std::time::{Duration, Instant};

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

/// Runs `probe` every 50 ms until it returns `Ok`, for at most `limit`, for states reached
/// asynchronously (exits, restarts, removals); fails the test with the last `Err`, which
/// describes what was seen instead.
pub fn poll<T>(limit: Duration, mut probe: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        match probe() {
            Ok(value) => return value,
            Err(seen) => assert!(Instant::now() < deadline, "{seen}"),
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
