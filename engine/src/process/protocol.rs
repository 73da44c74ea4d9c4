//! The wire format between a pool and its children: length-prefixed postcard frames.
//!
//! A child first sends a [`Hello`]; then, for every [`Request`] it reads, it writes one
//! [`Response`] with the same id.
//!
//! A response may instead be written to the frames file the parent shares with the child (a
//! memfd both map): the pipe then carries only its length, flagged with [`SHARED_FRAME`]. A page
//! of pixels is megabytes, and the pipe would copy it twice (into the kernel and out again) in
//! 64 KiB–1 MiB steps. The file is the child's only while it answers a request and the parent's
//! only until it sends the next one, so one buffer serves every response.

use std::io::{self, Read, Write};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::StageError;

/// Bumped whenever the frames change shape.
pub const PROTOCOL_VERSION: u32 = 2;

/// Marks a panelscope worker's first frame, so a misconfigured command (one that prints help text,
/// say) is reported as such instead of as garbage.
pub(crate) const MAGIC: [u8; 8] = *b"PSWORKER";

/// A frame larger than this is a corrupted stream, not a real payload.
const MAX_FRAME_BYTES: u32 = 1 << 30;

/// The environment variable that tells a child which of its descriptors is the frames file.
pub(crate) const FRAMES_FD_ENV: &str = "PANELSCOPE_WORKER_FRAMES_FD";

/// Set in a length prefix whose payload is in the shared frames file rather than on the pipe.
const SHARED_FRAME: u32 = 1 << 31;

/// A frame as the reader finds it.
#[derive(Debug)]
pub(crate) enum Frame {
    /// The payload came over the pipe.
    Inline(Vec<u8>),
    /// The payload is the first this many bytes of the shared frames file.
    Shared(usize),
}

/// Why a frame could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    /// The pipe failed or closed mid-frame.
    #[error("pipe: {0}")]
    Io(#[from] io::Error),
    /// The bytes are not a valid frame of the expected type.
    #[error("malformed frame: {0}")]
    Decode(#[from] postcard::Error),
    /// A frame said it was in a shared frames file where there is none.
    #[error("frame points into a shared frames file where none is shared")]
    UnexpectedShared,
    /// A shared frame is longer than the shared file.
    #[error("shared frame of {0} bytes exceeds the {1}-byte frames file")]
    SharedOverrun(usize, usize),
    /// The length prefix is absurd.
    #[error("frame of {0} bytes exceeds the 1 GiB limit")]
    TooLarge(u32),
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Hello {
    pub(crate) magic: [u8; 8],
    pub(crate) version: u32,
    pub(crate) pid: u32,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Request<T> {
    pub(crate) id: u64,
    pub(crate) item: T,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Response<T> {
    pub(crate) id: u64,
    pub(crate) result: Result<Vec<T>, StageError>,
}

/// Writes one frame and flushes it.
pub(crate) fn write_message<T: Serialize>(
    writer: &mut impl Write,
    message: &T,
) -> Result<(), ProtocolError> {
    // Size first, then serialise straight into the pipe: a page of pixels is megabytes, and an
    // intermediate buffer would copy it once more.
    let size = postcard::experimental::serialized_size(message)?;
    let len = u32::try_from(size).map_err(|_| ProtocolError::TooLarge(u32::MAX))?;
    if len > MAX_FRAME_BYTES {
        return Err(ProtocolError::TooLarge(len));
    }
    writer.write_all(&len.to_le_bytes())?;
    postcard::to_io(message, &mut *writer)?;
    writer.flush()?;
    Ok(())
}

/// Writes one frame into `shared` when it fits there, telling the reader so over `writer`;
/// otherwise over `writer` itself.
pub(crate) fn write_message_shared<T: Serialize>(
    writer: &mut impl Write,
    shared: &mut [u8],
    message: &T,
) -> Result<(), ProtocolError> {
    let size = postcard::experimental::serialized_size(message)?;
    if size > shared.len() || size > MAX_FRAME_BYTES as usize {
        return write_message(writer, message);
    }
    let written = postcard::to_slice(message, &mut shared[..size])?.len();
    writer.write_all(&(written as u32 | SHARED_FRAME).to_le_bytes())?;
    writer.flush()?;
    Ok(())
}

/// Reads one frame; `Ok(None)` on a clean end of stream between frames.
pub(crate) fn read_frame(reader: &mut impl Read) -> Result<Option<Frame>, ProtocolError> {
    let mut len = [0u8; 4];
    let mut filled = 0;
    while filled < len.len() {
        match reader.read(&mut len[filled..]) {
            Ok(0) if filled == 0 => return Ok(None),
            Ok(0) => return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into()),
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    let len = u32::from_le_bytes(len);
    if len & SHARED_FRAME != 0 {
        return Ok(Some(Frame::Shared((len & !SHARED_FRAME) as usize)));
    }
    if len > MAX_FRAME_BYTES {
        return Err(ProtocolError::TooLarge(len));
    }
    let mut payload = Vec::with_capacity(len as usize);
    reader.take(u64::from(len)).read_to_end(&mut payload)?;
    if payload.len() < len as usize {
        return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into());
    }
    Ok(Some(Frame::Inline(payload)))
}

/// Reads one frame that must have come over the pipe (requests, and anything read before the
/// shared file is in use); `Ok(None)` on a clean end of stream between frames.
pub(crate) fn read_inline_frame(reader: &mut impl Read) -> Result<Option<Vec<u8>>, ProtocolError> {
    match read_frame(reader)? {
        None => Ok(None),
        Some(Frame::Inline(payload)) => Ok(Some(payload)),
        Some(Frame::Shared(_)) => Err(ProtocolError::UnexpectedShared),
    }
}

/// Decodes a frame's bytes.
pub(crate) fn decode<T: DeserializeOwned>(frame: &[u8]) -> Result<T, ProtocolError> {
    Ok(postcard::from_bytes(frame)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_end_cleanly() {
        let mut wire = Vec::new();
        let sent = Response::<String> {
            id: 7,
            result: Ok(vec!["a".into(), "b".into()]),
        };
        write_message(&mut wire, &sent).unwrap();
        write_message(
            &mut wire,
            &Response::<String> {
                id: 8,
                result: Err(StageError::input("bad")),
            },
        )
        .unwrap();
        let mut reader = wire.as_slice();
        let first: Response<String> =
            decode(&read_inline_frame(&mut reader).unwrap().unwrap()).unwrap();
        assert_eq!(
            (first.id, first.result.unwrap()),
            (7, vec!["a".to_string(), "b".to_string()])
        );
        let second: Response<String> =
            decode(&read_inline_frame(&mut reader).unwrap().unwrap()).unwrap();
        assert_eq!(second.result.unwrap_err().message, "bad");
        assert!(read_inline_frame(&mut reader).unwrap().is_none());
    }

    #[test]
    fn frames_that_fit_go_through_the_shared_file_and_the_rest_inline() {
        let mut wire = Vec::new();
        let mut shared = vec![0u8; 64];
        let small = Response::<Vec<u8>> {
            id: 1,
            result: Ok(vec![vec![7; 16]]),
        };
        let large = Response::<Vec<u8>> {
            id: 2,
            result: Ok(vec![vec![9; 200]]),
        };
        write_message_shared(&mut wire, &mut shared, &small).unwrap();
        assert_eq!(wire.len(), 4, "only the flagged length crosses the pipe");
        let mut reader = wire.as_slice();
        let Some(Frame::Shared(len)) = read_frame(&mut reader).unwrap() else {
            panic!("expected a shared frame");
        };
        let got: Response<Vec<u8>> = decode(&shared[..len]).unwrap();
        assert_eq!(got.result.unwrap(), vec![vec![7; 16]]);

        wire.clear();
        write_message_shared(&mut wire, &mut shared, &large).unwrap();
        let got: Response<Vec<u8>> =
            decode(&read_inline_frame(&mut wire.as_slice()).unwrap().unwrap()).unwrap();
        assert_eq!(got.result.unwrap(), vec![vec![9; 200]]);
    }

    #[test]
    fn a_shared_frame_where_none_is_expected_is_an_error() {
        let wire = (5u32 | SHARED_FRAME).to_le_bytes();
        assert!(matches!(
            read_inline_frame(&mut wire.as_slice()),
            Err(ProtocolError::UnexpectedShared)
        ));
    }

    #[test]
    fn truncated_frame_is_an_error_not_an_end() {
        let mut wire = Vec::new();
        write_message(&mut wire, &Request { id: 1, item: 42u64 }).unwrap();
        wire.truncate(wire.len() - 1);
        assert!(read_inline_frame(&mut wire.as_slice()).is_err());
    }

    #[test]
    fn absurd_length_is_refused() {
        let wire = (SHARED_FRAME - 1).to_le_bytes();
        assert!(matches!(
            read_frame(&mut wire.as_slice()),
            Err(ProtocolError::TooLarge(_))
        ));
    }
}
