//! Graceful drain: a shared flag that tells sources to stop, and the SIGINT/SIGTERM listener
//! that raises it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Raised once to ask a running graph to drain: sources stop taking new input, items already in
/// flight run to the sinks, and the run ends with its summary.
#[derive(Debug, Clone, Default)]
pub struct Shutdown {
    requested: Arc<AtomicBool>,
}

impl Shutdown {
    /// A flag that is not raised.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks the graph to drain. Idempotent.
    pub fn request(&self) {
        self.requested.store(true, Ordering::Release);
    }

    /// Whether a drain was asked for.
    pub fn is_requested(&self) -> bool {
        self.requested.load(Ordering::Acquire)
    }

    /// Raises this flag on the first SIGINT or SIGTERM; a second signal exits at once with status
    /// 130, for an operator who does not want to wait for the drain. Must be called inside a
    /// tokio runtime.
    pub fn listen_for_signals(&self) -> std::io::Result<()> {
        use tokio::signal::unix::{SignalKind, signal};
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut terminate = signal(SignalKind::terminate())?;
        let shutdown = self.clone();
        tokio::spawn(async move {
            let mut seen = 0;
            loop {
                let name = tokio::select! {
                    _ = interrupt.recv() => "SIGINT",
                    _ = terminate.recv() => "SIGTERM",
                };
                seen += 1;
                if seen == 1 {
                    tracing::warn!(
                        signal = name,
                        "Draining: no new input; in-flight items run to the end. Signal again to exit now."
                    );
                    shutdown.request();
                } else {
                    tracing::error!(signal = name, "Second signal: exiting without draining.");
                    std::process::exit(130);
                }
            }
        });
        Ok(())
    }
}
