package recording

import (
	"bytes"
	"encoding/gob"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/klauspost/compress/zstd"

	"github.com/pgmedic/pgmedic/inspect"
)

// Writer appends refreshes to a recording. It is not safe for concurrent
// use. After a write fails (a full disk, say) it stops: every later call
// returns that first error, and the file keeps what was whole before it.
type Writer struct {
	f    *os.File
	path string
	enc  *zstd.Encoder
	// out collects what the compressor gives out for one chunk.
	out bytes.Buffer
	// gob writes each record into rec; a new gob encoder starts each
	// segment, so a reader can start decoding at any keyframe.
	gob *gob.Encoder
	rec bytes.Buffer
	// prev is the snapshot the last record described; inSegment counts
	// the records of the current segment.
	prev      *inspect.Snapshot
	inSegment int
	err       error
}

// Create starts a new recording at path; it never overwrites a file. The
// directory is made if needed, readable by its owner only, as the file
// is: it holds query text.
func Create(path string, h Header) (*Writer, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("recording: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("recording %s: the file exists; pgmedic never records over a recording", path)
		}
		return nil, fmt.Errorf("recording: %w", err)
	}
	// The fastest level: a refresh's delta is small, and what repeats
	// from one refresh to the next is found within the window anyway.
	// One goroutine and a 1 MiB window keep the recorder's memory small.
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1),
		zstd.WithWindowSize(1<<20), zstd.WithLowerEncoderMem(true), zstd.WithEncoderCRC(false))
	if err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("recording: %w", err)
	}
	w := &Writer{f: f, path: path, enc: enc}
	h.Format = FormatVersion
	raw, err := json.Marshal(h)
	if err == nil {
		_, err = f.WriteString(Magic)
	}
	if err == nil {
		err = w.chunk(chunkHeader{kind: kindHeader, at: h.Started}, raw)
	}
	if err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("recording %s: %w", path, err)
	}
	return w, nil
}

// Path is the file being written.
func (w *Writer) Path() string { return w.path }

// Add records one refresh. The snapshot must not change afterwards: the
// next refresh is compared with it.
func (w *Writer) Add(s *inspect.Snapshot) error {
	if w.err != nil {
		return w.err
	}
	kind := byte(kindDelta)
	var r *record
	var err error
	if w.prev == nil || w.inSegment >= SegmentLength {
		kind = kindKeyframe
		r, err = keyframe(s)
		w.enc.Reset(&w.out)
		w.gob = gob.NewEncoder(&w.rec)
		w.inSegment = 0
	} else {
		r, err = delta(w.prev, s)
	}
	if err != nil {
		return w.fail(err)
	}
	w.rec.Reset()
	if err := w.gob.Encode(r); err != nil {
		return w.fail(err)
	}
	w.out.Reset()
	if _, err := w.enc.Write(w.rec.Bytes()); err != nil {
		return w.fail(err)
	}
	if err := w.enc.Flush(); err != nil {
		return w.fail(err)
	}
	if err := w.chunk(chunkHeader{kind: kind, at: s.ServerTime, sample: inspect.SampleOf(s)}, w.out.Bytes()); err != nil {
		return w.fail(err)
	}
	w.prev = s
	w.inSegment++
	return nil
}

// AddEvents records events, uncompressed, so that the timeline reads
// them without decompressing any snapshot.
func (w *Writer) AddEvents(evs []inspect.Event) error {
	if w.err != nil {
		return w.err
	}
	if len(evs) == 0 {
		return nil
	}
	raw, err := json.Marshal(evs)
	if err != nil {
		return w.fail(err)
	}
	if err := w.chunk(chunkHeader{kind: kindEvents, at: evs[0].At}, raw); err != nil {
		return w.fail(err)
	}
	return nil
}

// chunk writes a header and its payload with one write call: a process
// killed at any moment leaves whole chunks and at most one cut short.
func (w *Writer) chunk(h chunkHeader, payload []byte) error {
	_, err := w.f.Write(h.marshal(payload))
	return err
}

func (w *Writer) fail(err error) error {
	w.err = fmt.Errorf("recording %s stopped: %w", w.path, err)
	return w.err
}

// Err is the error that stopped the recording, or nil.
func (w *Writer) Err() error { return w.err }

// Close ends the recording; what was written stays readable whether or
// not Close is called.
func (w *Writer) Close() error {
	w.enc.Close()
	err := w.f.Sync()
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	return err
}
