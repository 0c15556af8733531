//! One create + start + wait + delete of a bundle through the shim, as berthd drives it
//! (`spawn` = `berth-shim start` run from a read-only bind of the binary, then start, wait
//! and shutdown over the protocol); prints the wall time in microseconds. Used by
//! `bench/runtime.sh`.
//! Usage: shim_cycle SHIM RUNTIME RUNTIME_ROOT BUNDLE STATE_DIR ID   (RUNTIME: `builtin` or a
//! runc-compatible binary)

use berth_shim::config::RuntimeChoice;
use berth_shim::{ShimClient, ShimConfig};
use std::path::PathBuf;
use std::time::Instant;

fn main() {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let [shim, runtime, runtime_root, bundle, state, id] = args.as_slice() else {
        eprintln!("usage: shim_cycle SHIM RUNTIME RUNTIME_ROOT BUNDLE STATE_DIR ID");
        std::process::exit(2);
    };
    let id = id.to_string_lossy();
    let t0 = Instant::now();
    let runtime = match runtime.to_str() {
        Some("builtin") => RuntimeChoice::Builtin,
        _ => RuntimeChoice::External(runtime.clone()),
    };
    let mut config = ShimConfig::new(&id, bundle.clone(), state.clone(), runtime);
    config.runtime_root = Some(runtime_root.clone());
    // What berthd does once at start-up: run the shim through a read-only bind of it.
    let sealed = berth_runtime::exeseal::readonly_clone(shim).expect("read-only clone");
    let executable = PathBuf::from(format!(
        "/proc/self/fd/{}",
        std::os::fd::AsRawFd::as_raw_fd(&sealed)
    ));
    berth_shim::spawn(&executable, &config).expect("spawning the shim");
    let created = t0.elapsed();
    let mut client = ShimClient::connect(&config.socket).expect("connecting");
    client.start().expect("start");
    let started = t0.elapsed();
    let status = client.wait(None).expect("wait");
    // The shim may already be gone: it leaves once a waiter has the status, as berthd expects.
    let _ = client.shutdown();
    let elapsed = t0.elapsed();
    assert_eq!(status.exit_code, 0, "the container's exit");
    println!("{}", elapsed.as_micros());
    if std::env::var_os("SHIM_CYCLE_PHASES").is_some() {
        eprintln!(
            "created {} started {} exited {} (us)",
            created.as_micros(),
            started.as_micros(),
            elapsed.as_micros()
        );
    }
}
