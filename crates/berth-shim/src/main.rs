//! `berth-shim start <args>` (what berthd runs: starts the serving shim, relays its
//! readiness line, exits) and `berth-shim serve <args>` (the shim itself).

fn main() {
    // berthd executes the shim through `/proc/self/fd/N`, which would name the process "N"
    // in ps, top and /proc/<pid>/comm.
    let _ = rustix::thread::set_name(c"berth-shim");
    let mut args = std::env::args_os().skip(1);
    let command = args.next();
    let rest: Vec<_> = args.collect();
    let code = match command.as_ref().and_then(|c| c.to_str()) {
        Some("start") => berth_shim::spawn::launch(rest),
        Some("serve") => berth_shim::spawn::serve(rest),
        _ => {
            eprintln!("usage: berth-shim start|serve --id ID --bundle DIR --state-dir DIR --runtime PATH [options]");
            2
        }
    };
    std::process::exit(code);
}
