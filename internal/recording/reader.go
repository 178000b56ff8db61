package recording

import (
	"bufio"
	"bytes"
	"encoding/gob"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/pgmedic/pgmedic/inspect"
)

// Reader reads a recording. It keeps an index of one entry per segment
// and the events; snapshots are decoded when asked for, one segment at a
// time, so its memory does not grow with the recording's length beyond
// that index. It is not safe for concurrent use.
type Reader struct {
	f      *os.File
	path   string
	header Header
	segs   []segment
	n      int
	events []inspect.Event
	damage error

	dec *zstd.Decoder
	// The segment decoded last: its refreshes' chunk headers, and the
	// snapshot at index at (at is -1 when none is).
	seg    int
	chunks []chunkRef
	at     int
	snap   *inspect.Snapshot
	stream *gob.Decoder
}

// segment is a keyframe and the deltas after it.
type segment struct {
	off      int64 // of the keyframe's chunk
	first    int   // index of its keyframe among all refreshes
	n        int
	from, to time.Time
}

// chunkRef is one refresh's chunk within a segment.
type chunkRef struct {
	off    int64
	length uint32
	sample inspect.Sample
}

// DamageError says which part of a recording could not be read. The
// refreshes before it are read as usual.
type DamageError struct {
	Path    string
	Offset  int64
	Skipped int64
	Why     string
}

func (e *DamageError) Error() string {
	return fmt.Sprintf("recording %s: %s at byte %d; the last %d bytes are skipped, everything before them is read",
		e.Path, e.Why, e.Offset, e.Skipped)
}

// Open reads a recording's header and indexes it. A damaged or cut-short
// tail is no error: Damage reports it, and the refreshes before it are
// there. Open fails only when there is nothing to read: not a recording,
// a newer format, no header.
func Open(path string) (*Reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("recording: %w", err)
	}
	r := &Reader{f: f, path: path, seg: -1, at: -1}
	if err := r.index(); err != nil {
		f.Close()
		return nil, err
	}
	r.dec, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
		zstd.WithDecoderMaxWindow(8<<20))
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("recording: %w", err)
	}
	return r, nil
}

// index reads every chunk once, checking its sum, and keeps the segments
// and the events.
func (r *Reader) index() error {
	st, err := r.f.Stat()
	if err != nil {
		return fmt.Errorf("recording: %w", err)
	}
	size := st.Size()
	br := bufio.NewReaderSize(r.f, 64<<10)
	magic := make([]byte, len(Magic))
	if _, err := io.ReadFull(br, magic); err != nil || string(magic) != Magic {
		return fmt.Errorf("%s is not a pgmedic recording (it does not begin with %q)", r.path, Magic[:len(Magic)-1])
	}
	off := int64(len(Magic))
	raw := make([]byte, headerSize)
	var payload []byte
	sawHeader := false
	for off < size {
		bad := func(why string) {
			r.damage = &DamageError{Path: r.path, Offset: off, Skipped: size - off, Why: why}
		}
		if _, err := io.ReadFull(br, raw); err != nil {
			bad("a chunk cut short (the recorder stopped while writing it)")
			break
		}
		h, ok := parseHeader(raw)
		if !ok {
			bad("a damaged chunk header")
			break
		}
		if int64(h.length) > size-off-headerSize {
			bad("a chunk cut short (the recorder stopped while writing it)")
			break
		}
		if cap(payload) < int(h.length) {
			payload = make([]byte, h.length)
		}
		payload = payload[:h.length]
		if _, err := io.ReadFull(br, payload); err != nil {
			bad("a chunk cut short (the recorder stopped while writing it)")
			break
		}
		if !h.sums(raw, payload) {
			bad("a chunk whose checksum does not match (the file was damaged)")
			break
		}
		switch h.kind {
		case kindHeader:
			if err := json.Unmarshal(payload, &r.header); err != nil {
				return fmt.Errorf("recording %s: its header cannot be read: %w", r.path, err)
			}
			if r.header.Format > FormatVersion {
				return fmt.Errorf("recording %s is format %d, newer than this pgmedic reads (%d): use a newer pgmedic",
					r.path, r.header.Format, FormatVersion)
			}
			if r.header.Format < FormatVersion {
				// Format 1 (JSON records) was never released.
				return fmt.Errorf("recording %s is format %d, from a development build; this pgmedic reads format %d",
					r.path, r.header.Format, FormatVersion)
			}
			sawHeader = true
		case kindEvents:
			var evs []inspect.Event
			if err := json.Unmarshal(payload, &evs); err == nil {
				r.events = append(r.events, evs...)
			}
		case kindKeyframe:
			r.segs = append(r.segs, segment{off: off, first: r.n, from: h.at})
			fallthrough
		case kindDelta:
			if len(r.segs) == 0 {
				bad("a refresh before any whole snapshot")
				break
			}
			s := &r.segs[len(r.segs)-1]
			s.n++
			s.to = h.at
			r.n++
		}
		off += headerSize + int64(h.length)
	}
	if !sawHeader {
		return fmt.Errorf("recording %s has no header: it is empty or was cut short at its start", r.path)
	}
	sort.SliceStable(r.events, func(i, j int) bool { return r.events[i].At.Before(r.events[j].At) })
	return nil
}

// Header describes the recording.
func (r *Reader) Header() Header { return r.header }

// Path is the file read.
func (r *Reader) Path() string { return r.path }

// Len is the number of refreshes recorded.
func (r *Reader) Len() int { return r.n }

// Damage describes a tail that could not be read, or is nil.
func (r *Reader) Damage() error { return r.damage }

// Events are the recorded events, oldest first.
func (r *Reader) Events() []inspect.Event { return r.events }

// Start and End are the times of the first and last refresh.
func (r *Reader) Start() time.Time {
	if len(r.segs) == 0 {
		return time.Time{}
	}
	return r.segs[0].from
}

func (r *Reader) End() time.Time {
	if len(r.segs) == 0 {
		return time.Time{}
	}
	return r.segs[len(r.segs)-1].to
}

// Close closes the file.
func (r *Reader) Close() error {
	r.dec.Close()
	return r.f.Close()
}

// segmentOf is the segment holding refresh i.
func (r *Reader) segmentOf(i int) int {
	return sort.Search(len(r.segs), func(k int) bool { return r.segs[k].first+r.segs[k].n > i })
}

// Index is the last refresh taken at or before t (0 when t is before the
// first).
func (r *Reader) Index(t time.Time) (int, error) {
	if r.n == 0 {
		return 0, errors.New("the recording holds no refresh")
	}
	k := sort.Search(len(r.segs), func(k int) bool { return r.segs[k].from.After(t) }) - 1
	if k < 0 {
		return 0, nil
	}
	if err := r.load(k); err != nil {
		return 0, err
	}
	i := sort.Search(len(r.chunks), func(j int) bool { return r.chunks[j].sample.At.After(t) }) - 1
	return r.segs[k].first + max(i, 0), nil
}

// Time is when refresh i was taken, by the server's clock.
func (r *Reader) Time(i int) (time.Time, error) {
	s, err := r.Sample(i)
	return s.At, err
}

// Sample is refresh i's numbers, read without decompressing it.
func (r *Reader) Sample(i int) (inspect.Sample, error) {
	if i < 0 || i >= r.n {
		return inspect.Sample{}, fmt.Errorf("refresh %d is not in the recording (it holds %d)", i, r.n)
	}
	k := r.segmentOf(i)
	if err := r.load(k); err != nil {
		return inspect.Sample{}, err
	}
	return r.chunks[i-r.segs[k].first].sample, nil
}

// Samples are the numbers of the refreshes from from to to, both
// included, oldest first: for the sparklines and the timeline's peaks.
func (r *Reader) Samples(from, to time.Time) ([]inspect.Sample, error) {
	var out []inspect.Sample
	for k := range r.segs {
		if r.segs[k].to.Before(from) || r.segs[k].from.After(to) {
			continue
		}
		if err := r.load(k); err != nil {
			return out, err
		}
		for _, c := range r.chunks {
			if !c.sample.At.Before(from) && !c.sample.At.After(to) {
				out = append(out, c.sample)
			}
		}
	}
	return out, nil
}

// load reads segment k's chunk headers, unless they are the ones held.
func (r *Reader) load(k int) error {
	if r.seg == k {
		return nil
	}
	s := &r.segs[k]
	chunks := make([]chunkRef, 0, s.n)
	off := s.off
	raw := make([]byte, headerSize)
	for len(chunks) < s.n {
		if _, err := r.f.ReadAt(raw, off); err != nil {
			return fmt.Errorf("recording %s: %w", r.path, err)
		}
		h, ok := parseHeader(raw)
		if !ok {
			return fmt.Errorf("recording %s changed while being read (byte %d)", r.path, off)
		}
		if h.kind == kindKeyframe || h.kind == kindDelta {
			chunks = append(chunks, chunkRef{off: off + headerSize, length: h.length, sample: h.sample})
		}
		off += headerSize + int64(h.length)
	}
	r.seg, r.chunks, r.at, r.snap, r.stream = k, chunks, -1, nil, nil
	return nil
}

// At is the snapshot of refresh i, with its lock forest and saturation
// computed as the collector computed them live. Stepping forward applies
// one delta; any other move decodes the segment from its keyframe.
func (r *Reader) At(i int) (*inspect.Snapshot, error) {
	if i < 0 || i >= r.n {
		return nil, fmt.Errorf("refresh %d is not in the recording (it holds %d)", i, r.n)
	}
	k := r.segmentOf(i)
	if err := r.load(k); err != nil {
		return nil, err
	}
	j := i - r.segs[k].first
	if r.at > j || r.stream == nil {
		if err := r.restart(); err != nil {
			return nil, err
		}
	}
	if r.at == j {
		return r.snap, nil
	}
	for r.at < j {
		if err := r.next(); err != nil {
			return nil, fmt.Errorf("recording %s, refresh %d: %w", r.path, r.segs[k].first+r.at+1, err)
		}
	}
	derive(r.snap)
	return r.snap, nil
}

// restart reads the held segment's compressed chunks into one stream.
func (r *Reader) restart() error {
	var all bytes.Buffer
	for _, c := range r.chunks {
		b := make([]byte, c.length)
		if _, err := r.f.ReadAt(b, c.off); err != nil {
			return fmt.Errorf("recording %s: %w", r.path, err)
		}
		all.Write(b)
	}
	// Hidden behind a plain reader: given a bytes.Buffer, the decoder
	// would decompress the whole segment at once, into a slice grown
	// step by step, where only the records up to the one asked for are
	// needed.
	if err := r.dec.Reset(io.NopCloser(&all)); err != nil {
		return fmt.Errorf("recording %s: %w", r.path, err)
	}
	// The frame of the last segment is never closed: records are read
	// one gob message at a time, never to the end of the stream.
	r.stream, r.at, r.snap = gob.NewDecoder(bufio.NewReader(r.dec)), -1, nil
	return nil
}

// next decodes the record after the one held.
func (r *Reader) next() error {
	// A new record each time: gob leaves a field it was not sent as it
	// finds it.
	var rec record
	if err := r.stream.Decode(&rec); err != nil {
		return err
	}
	snap, err := rec.apply(r.snap)
	if err != nil {
		return err
	}
	r.snap = snap
	r.at++
	return nil
}
