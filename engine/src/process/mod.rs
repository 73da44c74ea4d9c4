//! Process pools: stages whose work runs in child processes speaking a framed protocol on
//! stdin/stdout, so that unsafe or non-thread-safe native code (pdfium) scales across cores and a
//! crash takes down one child, never the pipeline. Large answers (rendered pages) travel through a
//! shared-memory file each child shares with its parent, the pipe carrying only their length.
//!
//! The parent side is [`ProcessPool`], an ordinary [`crate::Stage`] whose workers each drive one
//! child; the child side is [`serve`], which runs any `Stage` over the protocol.

mod child;
mod pool;
mod protocol;
mod sys;

pub use child::serve;
pub use pool::{ProcessPool, ProcessPoolConfig, ProcessPoolSpec};
pub use protocol::{PROTOCOL_VERSION, ProtocolError};
