//! The local terminal: raw mode while attached to a container's TTY (restored when the
//! guard drops, on every path out), its size, and forwarding size changes (SIGWINCH) to
//! the daemon's resize endpoint.

use berth_client::Client;
use rustix::termios::{self, OptionalActions, Termios};
use std::io::IsTerminal;

/// Stdin in raw mode until dropped.
pub struct RawTerminal {
    saved: Termios,
}

impl RawTerminal {
    /// Puts stdin in raw mode (moby/term's `MakeRaw`: no echo, no line editing, no signal
    /// keys, no output processing) when it is a terminal.
    pub fn enable() -> std::io::Result<Option<RawTerminal>> {
        let stdin = std::io::stdin();
        if !stdin.is_terminal() {
            return Ok(None);
        }
        let saved = termios::tcgetattr(&stdin)?;
        let mut raw = saved.clone();
        raw.make_raw();
        termios::tcsetattr(&stdin, OptionalActions::Now, &raw)?;
        Ok(Some(RawTerminal { saved }))
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(std::io::stdin(), OptionalActions::Now, &self.saved);
    }
}

/// The terminal size (rows, columns) of stdout, if it is a terminal.
pub fn size() -> Option<(u16, u16)> {
    let stdout = std::io::stdout();
    if !stdout.is_terminal() {
        return None;
    }
    let size = termios::tcgetwinsize(&stdout).ok()?;
    (size.ws_row > 0 || size.ws_col > 0).then_some((size.ws_row, size.ws_col))
}

/// Sends the current size now (retrying briefly, as docker does, while the process starts),
/// then on every SIGWINCH, to `{resize_path}?h=..&w=..`, until the task is aborted. With
/// `nudge` (`attach`), a size one larger goes first, as docker sends it, so a shell redraws
/// its prompt even when the size did not change since the last attach.
pub fn monitor_size(
    client: &Client,
    resize_path: String,
    nudge: bool,
) -> tokio::task::JoinHandle<()> {
    let client = client.clone();
    tokio::spawn(async move {
        let resize = |(h, w): (u16, u16)| {
            let client = client.clone();
            let path = format!("{resize_path}?h={h}&w={w}");
            async move { client.send(http::Method::POST, &path, None).await.is_ok() }
        };
        if let Some(dims) = size() {
            if nudge {
                resize((dims.0 + 1, dims.1 + 1)).await;
            }
            for attempt in 0..10 {
                if resize(dims).await {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(10 * (attempt + 1))).await;
            }
        }
        let Ok(mut winch) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change())
        else {
            return;
        };
        while winch.recv().await.is_some() {
            if let Some(dims) = size() {
                resize(dims).await;
            }
        }
    })
}
