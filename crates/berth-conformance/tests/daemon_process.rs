//! berthd as a process: the data-root lock, the TCP and TLS rules, configuration errors,
//! graceful shutdown.

use berth_conformance::{bin_path, Daemon, DaemonOptions};
use std::process::Command;
use std::time::Duration;

#[test]
fn a_second_daemon_on_the_same_data_root_exits_naming_the_holder() {
    let daemon = Daemon::start();
    let other_socket = daemon.dir.path().join("other.sock");
    let output = Command::new(bin_path("berthd"))
        .arg("--data-root")
        .arg(&daemon.data_root)
        .arg("--exec-root")
        .arg(daemon.dir.path().join("exec2"))
        .arg("-H")
        .arg(format!("unix://{}", other_socket.display()))
        .arg("--config-file")
        .arg(&daemon.config_file)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("pid {}", daemon.pid())),
        "{stderr}"
    );
    assert!(!other_socket.exists(), "the loser must not open a socket");
    assert_eq!(
        daemon.raw("GET", "/_ping").status,
        200,
        "the holder keeps serving"
    );
}

#[test]
fn socket_is_0660() {
    use std::os::unix::fs::PermissionsExt;
    let daemon = Daemon::start();
    let mode = std::fs::metadata(&daemon.socket)
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o660);
    let data_mode = std::fs::metadata(&daemon.data_root)
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(data_mode, 0o710);
}

#[test]
fn sigterm_stops_cleanly() {
    let mut daemon = Daemon::start();
    let status = daemon.stop().expect("daemon was running");
    assert!(status.success(), "{status:?}\n{}", daemon.log_text());
    assert!(daemon.log_text().contains("berthd stopped"));
}

fn start_expecting_failure(daemon: &Daemon, extra: &[&str]) -> String {
    // Its own roots: this daemon must fail before it could lock or open anything.
    let output = Command::new(bin_path("berthd"))
        .arg("--data-root")
        .arg(daemon.dir.path().join("other-data"))
        .arg("--exec-root")
        .arg(daemon.dir.path().join("other-exec"))
        .arg("--config-file")
        .arg(&daemon.config_file)
        .args(extra)
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn plain_tcp_is_refused_off_loopback_without_the_insecure_flag() {
    let daemon = Daemon::start();
    let port = free_port();
    let stderr = start_expecting_failure(&daemon, &["-H", &format!("tcp://0.0.0.0:{port}")]);
    assert!(stderr.contains("--insecure-tcp"), "{stderr}");
    let stderr = start_expecting_failure(
        &daemon,
        &["--tlsverify", "-H", &format!("tcp://127.0.0.1:{port}")],
    );
    assert!(stderr.contains("--tlsverify needs"), "{stderr}");
}

#[test]
fn insecure_tcp_starts_with_a_warning() {
    let port = free_port();
    let daemon = Daemon::start_with(DaemonOptions {
        args: vec![
            "-H".into(),
            format!("tcp://0.0.0.0:{port}"),
            "--insecure-tcp".into(),
        ],
        ..Default::default()
    });
    let info = daemon.raw("GET", "/info").json();
    let warnings = info["Warnings"].as_array().unwrap();
    assert!(
        warnings
            .iter()
            .any(|w| w.as_str().unwrap().contains("without encryption")),
        "{warnings:?}"
    );
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    use std::io::{Read, Write};
    stream
        .write_all(b"GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
}

#[test]
fn config_conflicts_and_unknown_keys_stop_the_daemon() {
    let daemon = Daemon::start();
    let conflicting = daemon.dir.path().join("conflict.json");
    std::fs::write(&conflicting, r#"{"debug": true}"#).unwrap();
    let output = Command::new(bin_path("berthd"))
        .args([
            "--config-file",
            conflicting.to_str().unwrap(),
            "--debug",
            "--validate",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr)
        .contains("specified both as a flag and in the configuration file: debug"));
    std::fs::write(&conflicting, r#"{"no-such-key": 1}"#).unwrap();
    let output = Command::new(bin_path("berthd"))
        .args(["--config-file", conflicting.to_str().unwrap(), "--validate"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr)
        .contains("don't match any configuration option: no-such-key"));
}

#[test]
fn sighup_reloads_labels_and_debug() {
    let daemon = Daemon::start();
    assert_eq!(
        daemon.raw("GET", "/info").json()["Labels"],
        serde_json::json!([])
    );
    std::fs::write(
        &daemon.config_file,
        r#"{"labels": ["team=berth"], "debug": true}"#,
    )
    .unwrap();
    daemon.signal(rustix::process::Signal::HUP);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let info = daemon.raw("GET", "/info").json();
        if info["Labels"] == serde_json::json!(["team=berth"]) {
            assert_eq!(info["Debug"], true);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "reload not applied:\n{}",
            daemon.log_text()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

mod tls {
    use super::*;
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};

    struct Pki {
        dir: tempfile::TempDir,
    }

    impl Pki {
        fn path(&self, name: &str) -> String {
            self.dir.path().join(name).display().to_string()
        }
    }

    /// A CA, a server certificate for 127.0.0.1/localhost, a client certificate, and a
    /// client certificate from another CA.
    fn make_pki() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: String| std::fs::write(dir.path().join(name), text).unwrap();
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).unwrap();
        write("ca.pem", ca.pem());
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let server_key = KeyPair::generate().unwrap();
        let server = CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])
            .unwrap()
            .signed_by(&server_key, &issuer)
            .unwrap();
        write("server-cert.pem", server.pem());
        write("server-key.pem", server_key.serialize_pem());
        let client_key = KeyPair::generate().unwrap();
        let mut client_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        client_params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        let client = client_params.signed_by(&client_key, &issuer).unwrap();
        write("cert.pem", client.pem());
        write("key.pem", client_key.serialize_pem());
        let rogue_key = KeyPair::generate().unwrap();
        let mut rogue_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        rogue_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let rogue_ca = rogue_params.self_signed(&rogue_key).unwrap();
        let rogue_issuer = rcgen::Issuer::new(rogue_params, rogue_key);
        let rogue_client_key = KeyPair::generate().unwrap();
        let rogue_client = CertificateParams::new(Vec::<String>::new())
            .unwrap()
            .signed_by(&rogue_client_key, &rogue_issuer)
            .unwrap();
        write("rogue-ca.pem", rogue_ca.pem());
        write("rogue-cert.pem", rogue_client.pem());
        write("rogue-key.pem", rogue_client_key.serialize_pem());
        Pki { dir }
    }

    #[test]
    fn mutual_tls_admits_only_clients_of_our_ca() {
        let pki = make_pki();
        let port = free_port();
        let daemon = Daemon::start_with(DaemonOptions {
            args: vec![
                "--tlsverify".into(),
                "--tlscacert".into(),
                pki.path("ca.pem"),
                "--tlscert".into(),
                pki.path("server-cert.pem"),
                "--tlskey".into(),
                pki.path("server-key.pem"),
                "-H".into(),
                format!("tcp://127.0.0.1:{port}"),
            ],
            ..Default::default()
        });
        let host = format!("tcp://127.0.0.1:{port}");
        let docker = |cert: &str, key: &str| {
            Command::new("docker")
                .args([
                    "--tlsverify",
                    "--tlscacert",
                    &pki.path("ca.pem"),
                    "--tlscert",
                    &pki.path(cert),
                    "--tlskey",
                    &pki.path(key),
                    "-H",
                    &host,
                    "version",
                    "--format",
                    "{{.Server.APIVersion}}",
                ])
                .env("DOCKER_CONFIG", daemon.dir.path())
                .output()
                .unwrap()
        };
        let good = docker("cert.pem", "key.pem");
        assert!(
            good.status.success(),
            "{}",
            berth_conformance::daemon::describe(&good)
        );
        assert_eq!(String::from_utf8_lossy(&good.stdout).trim(), "1.50");
        let rogue = docker("rogue-cert.pem", "rogue-key.pem");
        assert!(
            !rogue.status.success(),
            "a certificate from another CA must be refused"
        );
        let no_cert = Command::new("docker")
            .args([
                "--tls",
                "--tlscacert",
                &pki.path("ca.pem"),
                "-H",
                &host,
                "version",
            ])
            .env("DOCKER_CONFIG", daemon.dir.path())
            .output()
            .unwrap();
        assert!(
            !no_cert.status.success(),
            "a client without a certificate must be refused"
        );
        let ours = Command::new(bin_path("berth"))
            .args([
                "--tlsverify",
                "--tlscacert",
                &pki.path("ca.pem"),
                "--tlscert",
                &pki.path("cert.pem"),
                "--tlskey",
                &pki.path("key.pem"),
                "-H",
                &host,
                "info",
                "--format",
                "json",
            ])
            .output()
            .unwrap();
        assert!(
            ours.status.success(),
            "{}",
            berth_conformance::daemon::describe(&ours)
        );
    }
}

#[test]
fn shutdown_ends_open_event_streams_and_exits() {
    let mut daemon = Daemon::start();
    let socket = daemon.socket.clone();
    let reader = std::thread::spawn(move || {
        // A stream with no end of its own: only the shutdown can close it.
        berth_conformance::raw::request(&socket, "GET", "/events", None)
    });
    daemon.wait_for_event_listeners(1);
    let status = daemon.stop().expect("daemon was running");
    assert!(status.success(), "{status:?}");
    let response = reader.join().unwrap();
    assert_eq!(response.status, 200);
    assert!(!daemon.socket.exists(), "the socket is removed on shutdown");
}

fn same_device(a: &std::path::Path, b: &std::path::Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(a).unwrap().dev() == std::fs::metadata(b).unwrap().dev()
}

#[test]
fn an_exec_root_on_disk_gets_a_tmpfs_that_a_clean_stop_removes() {
    let mut daemon = Daemon::start();
    let parent = &daemon.dir.path().to_path_buf();
    const TMPFS_MAGIC: i64 = 0x0102_1994;
    #[allow(clippy::unnecessary_cast)]
    if rustix::fs::statfs(parent).unwrap().f_type as i64 == TMPFS_MAGIC {
        eprintln!("skipped: the test directory is already on tmpfs, so berthd mounts nothing");
        return;
    }
    #[allow(clippy::unnecessary_cast)]
    let exec_fs = rustix::fs::statfs(&daemon.exec_root).unwrap().f_type as i64;
    assert_eq!(exec_fs, TMPFS_MAGIC, "{}", daemon.log_text());
    assert!(!same_device(&daemon.exec_root, parent));
    daemon.stop();
    assert!(
        same_device(&daemon.exec_root, parent),
        "a clean stop with no containers unmounts the tmpfs"
    );
    // An exec root on disk that holds something (state of an older daemon) is left as it is.
    std::fs::write(daemon.exec_root.join("left-by-someone"), b"").unwrap();
    daemon.restart();
    assert!(same_device(&daemon.exec_root, parent));
    assert!(daemon.exec_root.join("left-by-someone").exists());
}
