//! The child side of a process pool: serve a `Stage` over stdin/stdout.

use std::io::{BufReader, BufWriter};

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::protocol::{
    self, FRAMES_FD_ENV, Hello, MAGIC, PROTOCOL_VERSION, ProtocolError, Request, Response,
};
use super::sys;
use crate::stage::Stage;

/// Runs `stage` as a pool child until the parent closes stdin: reads one request at a time,
/// processes it, writes its response. Stdout is reserved for the protocol; anything else printed
/// goes to stderr. A panic ends the process, which the parent reports and recovers from.
pub fn serve<S>(mut stage: S) -> Result<(), ProtocolError>
where
    S: Stage,
    S::In: DeserializeOwned,
    S::Out: Serialize,
{
    let mut output = BufWriter::new(sys::take_stdout_for_protocol()?);
    let mut input = BufReader::new(std::io::stdin().lock());
    protocol::write_message(
        &mut output,
        &Hello {
            magic: MAGIC,
            version: PROTOCOL_VERSION,
            pid: std::process::id(),
        },
    )?;
    stage
        .on_start()
        .map_err(|e| std::io::Error::other(e.message))?;
    let mut shared = shared_frames();
    while let Some(frame) = protocol::read_inline_frame(&mut input)? {
        let request: Request<S::In> = protocol::decode(&frame)?;
        let result = stage
            .process(std::slice::from_ref(&request.item))
            .pop()
            .unwrap_or_else(|| Err(crate::StageError::internal("the stage returned no result")))
            .map(|outputs| outputs.into_iter().collect());
        let response = Response {
            id: request.id,
            result,
        };
        match shared.as_mut() {
            Some(frames) => protocol::write_message_shared(&mut output, frames, &response)?,
            None => protocol::write_message(&mut output, &response)?,
        }
    }
    Ok(())
}

/// The frames file the parent shared, mapped; `None` (answers go over the pipe) when it shared
/// none or it cannot be mapped.
fn shared_frames() -> Option<memmap2::MmapMut> {
    let fd: i32 = std::env::var(FRAMES_FD_ENV).ok()?.parse().ok()?;
    let mapped = sys::inherited_file(fd).and_then(|file| sys::map_writable(&file));
    match mapped {
        Ok(map) => Some(map),
        Err(e) => {
            tracing::warn!(error = %e, "The shared frames file cannot be mapped; answering over the pipe.");
            None
        }
    }
}
