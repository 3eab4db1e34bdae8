//! Watches the frames an HTTP/2 server sends for GOAWAY, without touching them: hyper's codec
//! reads the same bytes. hyper reports a GOAWAY to a stream only when the stream was above its
//! last stream id; the streams it lets finish, and the connection's end, see a broken pipe. To
//! back off its PING schedule after gRPC's `GOAWAY ENHANCE_YOUR_CALM "too_many_pings"` (as
//! grpc-go does), the client needs the frame itself.
//!
//! Written by hand: it is a 9-byte header walk (RFC 9113 §4.1) that keeps at most the first 22
//! bytes of a GOAWAY payload; no HTTP/2 crate exposes a passive observer of a byte stream.

/// GOAWAY's frame type (RFC 9113 §6.8).
const GOAWAY: u8 = 0x7;
/// `ENHANCE_YOUR_CALM` (RFC 9113 §7).
pub(crate) const ENHANCE_YOUR_CALM: u32 = 0xb;
/// The debug data gRPC servers send with it when a client pings too often.
pub(crate) const TOO_MANY_PINGS: &[u8] = b"too_many_pings";
/// Last stream id, error code, then as much debug data as [`TOO_MANY_PINGS`].
const KEEP: usize = 8 + TOO_MANY_PINGS.len();

/// A GOAWAY frame as received: the last stream id the server may have processed, the error
/// code, and the start of the debug data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GoAway {
    pub(crate) last_stream_id: u32,
    pub(crate) code: u32,
    pub(crate) debug_prefix: Vec<u8>,
}

impl GoAway {
    /// gRPC's answer to a client that pings more often than the server allows.
    pub(crate) fn is_too_many_pings(&self) -> bool {
        self.code == ENHANCE_YOUR_CALM && self.debug_prefix.starts_with(TOO_MANY_PINGS)
    }
}

/// The frame walker: feed it every byte read, in order.
#[derive(Debug, Default)]
pub(crate) struct FrameWatch {
    header: [u8; 9],
    /// Bytes of the current header seen; 9 once it is complete and a payload is being skipped.
    header_len: usize,
    /// Payload bytes still to come in the current frame.
    payload_left: usize,
    /// The start of the current GOAWAY's payload, while one is being read.
    goaway: Option<Vec<u8>>,
}

impl FrameWatch {
    /// Walks `bytes`; returns the GOAWAY frames completed in them.
    pub(crate) fn feed(&mut self, mut bytes: &[u8]) -> Vec<GoAway> {
        let mut found = Vec::new();
        while !bytes.is_empty() {
            if self.header_len < 9 {
                let take = (9 - self.header_len).min(bytes.len());
                self.header[self.header_len..self.header_len + take]
                    .copy_from_slice(&bytes[..take]);
                self.header_len += take;
                bytes = &bytes[take..];
                if self.header_len == 9 {
                    let h = &self.header;
                    self.payload_left =
                        (usize::from(h[0]) << 16) | (usize::from(h[1]) << 8) | usize::from(h[2]);
                    self.goaway = (h[3] == GOAWAY).then(Vec::new);
                    self.end_of_frame(&mut found);
                }
                continue;
            }
            let take = self.payload_left.min(bytes.len());
            if let Some(kept) = &mut self.goaway {
                let room = KEEP.saturating_sub(kept.len()).min(take);
                kept.extend_from_slice(&bytes[..room]);
            }
            self.payload_left -= take;
            bytes = &bytes[take..];
            self.end_of_frame(&mut found);
        }
        found
    }

    fn end_of_frame(&mut self, found: &mut Vec<GoAway>) {
        if self.payload_left > 0 {
            return;
        }
        self.header_len = 0;
        let Some(payload) = self.goaway.take() else {
            return;
        };
        // A GOAWAY shorter than 8 bytes is a protocol error hyper will report; nothing to note.
        if payload.len() >= 8 {
            found.push(GoAway {
                last_stream_id: u32::from_be_bytes([
                    payload[0], payload[1], payload[2], payload[3],
                ]) & 0x7fff_ffff,
                code: u32::from_be_bytes([payload[4], payload[5], payload[6], payload[7]]),
                debug_prefix: payload[8..].to_vec(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(kind: u8, payload: &[u8]) -> Vec<u8> {
        let len = payload.len();
        let mut f = vec![
            (len >> 16) as u8,
            (len >> 8) as u8,
            len as u8,
            kind,
            0,
            0,
            0,
            0,
            0,
        ];
        f.extend_from_slice(payload);
        f
    }

    fn goaway(last: u32, code: u32, debug: &[u8]) -> Vec<u8> {
        let mut p = last.to_be_bytes().to_vec();
        p.extend_from_slice(&code.to_be_bytes());
        p.extend_from_slice(debug);
        frame(GOAWAY, &p)
    }

    #[test]
    fn finds_goaway_among_other_frames_in_any_split() {
        let mut stream = frame(0x4, &[0; 12]); // SETTINGS
        stream.extend(frame(0x0, &[7; 40_000])); // DATA, longer than one read
        stream.extend(goaway(5, ENHANCE_YOUR_CALM, b"too_many_pings and more"));
        stream.extend(frame(0x6, &[1; 8])); // PING
        stream.extend(goaway(9, 0, b""));
        for chunk in [1, 2, 7, 9, 10, 1000, stream.len()] {
            let mut watch = FrameWatch::default();
            let found: Vec<GoAway> = stream.chunks(chunk).flat_map(|c| watch.feed(c)).collect();
            assert_eq!(found.len(), 2, "chunks of {chunk}");
            assert!(found[0].is_too_many_pings());
            assert_eq!(found[0].last_stream_id, 5);
            assert_eq!(found[0].debug_prefix, TOO_MANY_PINGS);
            assert_eq!(found[1].code, 0);
            assert!(!found[1].is_too_many_pings());
        }
    }

    #[test]
    fn other_calm_goaways_are_not_ping_complaints() {
        let mut watch = FrameWatch::default();
        let found = watch.feed(&goaway(0, ENHANCE_YOUR_CALM, b"too_many_requests"));
        assert_eq!(found.len(), 1);
        assert!(!found[0].is_too_many_pings());
        let found = watch.feed(&goaway(0x8000_0003, ENHANCE_YOUR_CALM, b"too_many"));
        assert_eq!(found[0].last_stream_id, 3, "the reserved bit is masked");
        assert!(
            !found[0].is_too_many_pings(),
            "a cut-off debug text is not the complaint"
        );
    }

    #[test]
    fn a_short_goaway_and_garbage_never_panic() {
        let mut watch = FrameWatch::default();
        assert!(watch.feed(&frame(GOAWAY, &[1, 2, 3])).is_empty());
        let noise: Vec<u8> = (0..5000u32).map(|i| (i * 7919 % 251) as u8).collect();
        let _ = watch.feed(&noise);
    }
}
