//! What commands print on standard output, and a reader that stops reading (`| head`).
//!
//! The process keeps Rust's default of ignoring SIGPIPE. With the signal's own default, the
//! job service, a run or an executor dies, silently, the moment any socket write meets a peer
//! that has reset the connection (`writev`, which Tokio and hyper use, has no `MSG_NOSIGNAL`).
//! So a closed standard output surfaces here as an error instead, [`OutputClosed`], which the
//! command line ends on quietly: the reader has all it wanted.

use std::fmt;
use std::io::{self, Stdout, Write};

/// Standard output was closed by its reader before the command had printed everything.
#[derive(Debug, thiserror::Error)]
#[error("standard output was closed by its reader")]
pub struct OutputClosed;

/// Standard output for one command's listing; `write!` and `writeln!` write to it.
pub struct Output(Stdout);

impl Output {
    pub fn stdout() -> Self {
        Output(io::stdout())
    }

    /// What `write!` and `writeln!` call: a reader that went away is [`OutputClosed`].
    pub fn write_fmt(&mut self, args: fmt::Arguments<'_>) -> anyhow::Result<()> {
        self.0.write_fmt(args).map_err(|e| match e.kind() {
            io::ErrorKind::BrokenPipe => anyhow::Error::new(OutputClosed),
            _ => anyhow::Error::new(e).context("cannot write to standard output"),
        })
    }
}

/// `written`, but a closed output is not an error: for a line printed while the command still
/// has work to do whose outcome its exit code reports (`submit --wait`).
pub fn unless_closed(written: anyhow::Result<()>) -> anyhow::Result<()> {
    match written {
        Err(e) if e.is::<OutputClosed>() => Ok(()),
        other => other,
    }
}

impl Drop for Output {
    /// Flushes what is buffered; a reader that went away has already been answered.
    fn drop(&mut self) {
        let _ = self.0.flush();
    }
}
