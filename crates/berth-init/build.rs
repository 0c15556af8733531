//! Links berth-init statically (static-pie), so it runs in images without a libc, such as
//! busybox. Cargo has no per-binary `-C target-feature=+crt-static`, so this package (which
//! has only this binary) points each library the standard library asks for (`-lc`,
//! `-lgcc_s`, ...) at a linker script naming the static archive, and links with
//! `-static-pie`. Nothing outside this package is affected.

use std::path::PathBuf;
use std::process::Command;

/// The static archive the C compiler would link for `lib<name>.a`.
fn archive(compiler: &str, name: &str) -> String {
    let out = Command::new(compiler)
        .arg(format!("-print-file-name=lib{name}.a"))
        .output()
        .unwrap_or_else(|e| panic!("running {compiler}: {e}"));
    let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        PathBuf::from(&path).is_absolute(),
        "lib{name}.a not found: berth-init needs the static C library (Debian: libc6-dev)"
    );
    path
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let target_env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if target_os != "linux" || target_env != "gnu" {
        // musl targets link statically already.
        return;
    }
    let compiler = std::env::var("CC").unwrap_or_else(|_| "cc".to_string());
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    let libraries: [(&str, &[&str]); 7] = [
        ("c", &["c"]),
        ("m", &["m"]),
        ("rt", &["rt"]),
        ("pthread", &["pthread"]),
        ("dl", &["dl"]),
        ("util", &["util"]),
        ("gcc_s", &["gcc_eh", "gcc"]),
    ];
    for (library, archives) in libraries {
        let paths: Vec<String> = archives.iter().map(|a| archive(&compiler, a)).collect();
        let script = format!("GROUP({})\n", paths.join(" "));
        std::fs::write(out.join(format!("lib{library}.so")), script)
            .expect("writing a linker script");
    }
    println!("cargo:rustc-link-search=native={}", out.display());
    println!("cargo:rustc-link-arg-bins=-static-pie");
}
