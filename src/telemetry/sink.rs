//! Where telemetry lines go: stdout in production, a shared buffer in tests.
//!
//! Each line is written with one `write_all` under the stdout lock, so log lines and EMF
//! documents from concurrent invocations never interleave. It must never buffer across
//! invocations: a line is out when the call returns.

use std::io::{self, Write};
use std::sync::{Arc, Mutex};

use tracing_subscriber::fmt::MakeWriter;

#[derive(Clone, Debug, Default)]
pub enum Sink {
    #[default]
    Stdout,
    Memory(Arc<Mutex<Vec<u8>>>),
}

impl Sink {
    pub fn memory() -> Sink {
        Sink::Memory(Arc::default())
    }

    /// Writes one whole line (the caller includes the newline).
    pub fn write_line(&self, line: &[u8]) {
        match self {
            // A closed stdout leaves nothing to report to; the invocation still answers.
            Sink::Stdout => {
                let _ = io::stdout().lock().write_all(line);
            }
            Sink::Memory(buffer) => {
                if let Ok(mut b) = buffer.lock() {
                    b.extend_from_slice(line);
                }
            }
        }
    }

    /// Everything written so far (tests).
    pub fn contents(&self) -> String {
        match self {
            Sink::Stdout => String::new(),
            Sink::Memory(buffer) => buffer
                .lock()
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default(),
        }
    }
}

/// A writer for one tracing event: collects the formatted event, writes it as one line.
pub struct LineWriter {
    sink: Sink,
    buffer: Vec<u8>,
}

impl Write for LineWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.buffer.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        if !self.buffer.is_empty() {
            self.sink.write_line(&self.buffer);
        }
    }
}

impl<'a> MakeWriter<'a> for Sink {
    type Writer = LineWriter;
    fn make_writer(&'a self) -> LineWriter {
        LineWriter {
            sink: self.clone(),
            buffer: Vec::with_capacity(512),
        }
    }
}
