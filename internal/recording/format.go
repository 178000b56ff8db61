// Package recording keeps every refresh pgmedic reads in a file, so that
// an incident can be replayed and its timeline written afterwards.
//
// # The file
//
// A recording starts with the line "PGMEDIC RECORDING\n" and is then a
// sequence of chunks. Every chunk has a fixed 40-byte header, all integers
// little-endian:
//
//	offset size
//	0      2    "pm"
//	2      1    kind: 'H' header, 'K' keyframe, 'D' delta, 'E' events
//	3      1    0 (reserved)
//	4      4    payload length
//	8      4    CRC-32C of bytes 12..40 of the header and of the payload
//	12     8    time, Unix nanoseconds (the server's clock)
//	20     4    slots in use
//	24     4    usable slots
//	28     4    sessions waiting on a lock
//	32     4    root blockers
//	36     4    longest lock wait, milliseconds
//
// The bytes 20..40 are zero but for 'K' and 'D' chunks: they are a
// refresh's inspect.Sample, readable without decompressing anything.
//
// The 'H' chunk comes first: a JSON Header (format version, pgmedic's
// version, the server, the settings). 'E' chunks hold a JSON array of
// inspect.Event, uncompressed: the timeline reads them without touching
// the snapshots.
//
// The snapshots are a zstd stream in segments. A 'K' chunk starts a new
// zstd frame whose first record is a whole snapshot; each 'D' chunk that
// follows continues that frame with what changed since the refresh before
// it. A chunk's payload is what the compressor gave out when it was
// flushed after that refresh, so a chunk is whole or it is not there.
// Inside the stream the records are gob messages from one gob encoder
// per segment (the types are described at the keyframe).
//
// Every chunk is written with one write call, so a recorder killed at any
// moment (SIGKILL included) leaves every refresh before the last readable:
// a chunk cut short at the end is reported and skipped. A reader goes to
// any refresh by decompressing one segment, at most SegmentLength records.
package recording

import (
	"encoding/binary"
	"hash/crc32"
	"time"

	"github.com/pgmedic/pgmedic/inspect"
)

// Magic starts every recording.
const Magic = "PGMEDIC RECORDING\n"

// FormatVersion is the version of the file layout and of its records. A
// reader refuses a newer one rather than misreading it.
const FormatVersion = 2

// Chunk kinds.
const (
	kindHeader   = 'H'
	kindKeyframe = 'K'
	kindDelta    = 'D'
	kindEvents   = 'E'
)

const headerSize = 40

// SegmentLength is how many refreshes a segment holds: a jump decodes at
// most this many records, and each costs one whole snapshot in the file.
const SegmentLength = 60

// maxPayload bounds a chunk, so a corrupt length is seen as corruption
// rather than as a request for gigabytes.
const maxPayload = 256 << 20

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// chunkHeader is a chunk's 40-byte header.
type chunkHeader struct {
	kind   byte
	length uint32
	crc    uint32
	at     time.Time
	sample inspect.Sample
}

func (h *chunkHeader) marshal(payload []byte) []byte {
	b := make([]byte, headerSize, headerSize+len(payload))
	b[0], b[1], b[2] = 'p', 'm', h.kind
	binary.LittleEndian.PutUint32(b[4:], uint32(len(payload)))
	binary.LittleEndian.PutUint64(b[12:], uint64(h.at.UnixNano()))
	s := &h.sample
	binary.LittleEndian.PutUint32(b[20:], clampU32(s.Used))
	binary.LittleEndian.PutUint32(b[24:], clampU32(s.Usable))
	binary.LittleEndian.PutUint32(b[28:], clampU32(s.Waiting))
	binary.LittleEndian.PutUint32(b[32:], clampU32(s.Roots))
	binary.LittleEndian.PutUint32(b[36:], clampU32(int(s.LongestWait.Milliseconds())))
	crc := crc32.Update(crc32.Checksum(b[12:headerSize], castagnoli), castagnoli, payload)
	binary.LittleEndian.PutUint32(b[8:], crc)
	return append(b, payload...)
}

// parseHeader reads a chunk header; ok is false when the bytes are not
// one.
func parseHeader(b []byte) (h chunkHeader, ok bool) {
	if len(b) < headerSize || b[0] != 'p' || b[1] != 'm' || b[3] != 0 {
		return h, false
	}
	switch b[2] {
	case kindHeader, kindKeyframe, kindDelta, kindEvents:
	default:
		return h, false
	}
	h.kind = b[2]
	h.length = binary.LittleEndian.Uint32(b[4:])
	h.crc = binary.LittleEndian.Uint32(b[8:])
	h.at = time.Unix(0, int64(binary.LittleEndian.Uint64(b[12:]))).UTC()
	h.sample = inspect.Sample{At: h.at,
		Used:        int(binary.LittleEndian.Uint32(b[20:])),
		Usable:      int(binary.LittleEndian.Uint32(b[24:])),
		Waiting:     int(binary.LittleEndian.Uint32(b[28:])),
		Roots:       int(binary.LittleEndian.Uint32(b[32:])),
		LongestWait: time.Duration(binary.LittleEndian.Uint32(b[36:])) * time.Millisecond,
	}
	return h, h.length <= maxPayload
}

// sums reports whether payload is the one the header was written with.
func (h *chunkHeader) sums(raw []byte, payload []byte) bool {
	return crc32.Update(crc32.Checksum(raw[12:headerSize], castagnoli), castagnoli, payload) == h.crc
}

func clampU32(n int) uint32 {
	switch {
	case n < 0:
		return 0
	case int64(n) > int64(^uint32(0)):
		return ^uint32(0)
	}
	return uint32(n)
}

// Header describes a recording: what was recorded, from where, by what.
type Header struct {
	Format  int    `json:"format"`
	PGMedic string `json:"pgmedic_version"`
	// Started is when the recorder started, by the client's clock.
	Started time.Time `json:"started"`
	// Target is where pgmedic was connected (user@host:port/db, never a
	// password).
	Target string `json:"target"`
	// Server is the server as the first refresh saw it: its version,
	// identity, max_connections and reserved slots.
	Server inspect.Server `json:"server"`
	// Interval is the refresh interval asked for; WarnPercent the level
	// at which slot use was a warning.
	Interval    time.Duration `json:"interval_ns"`
	WarnPercent float64       `json:"warn_percent"`
	// Redacted: the literals were taken out of every query text before
	// anything was written.
	Redacted bool `json:"redacted"`
}
