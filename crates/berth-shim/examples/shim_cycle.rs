//! One create + start + wait + delete of a bundle through the shim, as berthd drives it
//! (`spawn` = `berth-shim start`, then start, wait and shutdown over the protocol); prints
//! the wall time in microseconds. Used by `bench/shim.sh`.
//! Usage: shim_cycle SHIM RUNTIME RUNTIME_ROOT BUNDLE STATE_DIR ID

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
    let mut config = ShimConfig::new(&id, bundle.clone(), state.clone(), runtime.clone());
    config.runtime_root = Some(runtime_root.clone());
    berth_shim::spawn(shim, &config).expect("spawning the shim");
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
