package local

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	bolt "go.etcd.io/bbolt"
)

// The ingest log (WAL) is a set of segment files beside the store file,
// <file>.wal.0, <file>.wal.1, ..., written one after the other. They hold
// the deliveries that are acknowledged but not yet in bbolt: a delivery is
// written to bbolt once, when a worker claims it (or when the mover moves
// it ahead of the workers; see ingest.go).
//
//	header:  magic (8 bytes) | generation (8, little endian)
//	record:  length (4, LE) | crc (4, LE) | payload (length bytes)
//	payload: uvarint len(rec) | rec (the record) | env (the stored envelope)
//	padding: a record whose payload is all zero bytes (len(rec) 0)
//
// A write that ends inside the segment's allocated blocks ends with a
// padding record up to the next 4 KiB page: a partial page not in the page
// cache would be read from disk before the write (a zero-filled segment's
// pages never are in it), and whole pages never are.
//
// Each turn of a segment is a generation, one more than the previous turn
// of any segment. A turn starts by writing a new header at offset 0 over
// the old contents: segments are never truncated, and are reused once
// every record of theirs is in bbolt, so appends mostly overwrite
// allocated blocks, which a fdatasync flushes without a journal commit
// (half the time of an append that grows a file, measured on ext4). New
// segments are zero-filled ahead of need for the same reason
// (segments.go). crc is CRC-32C over the generation (8 bytes, LE) followed
// by the payload, so bytes left over from an earlier turn never pass for
// records of the current one. Reading stops at the first record that is
// short (torn by a crash) or fails its CRC.
//
// bbolt's meta bucket holds, under walPosKey, the generation and offset up
// to which records are in bbolt; every transaction that takes records
// from the log writes it. Records are taken in log order, so that one
// position says it all. Replay reads the segments in generation order,
// from that position on, so no record is applied twice (a delivery
// deleted since would come back) nor skipped.
const (
	walMagic        = "HGWAL\x00\x00\x01"
	walHeaderSize   = 16
	walRecordHead   = 8
	walSuffix       = ".wal"   // the segments are <store file>.wal.N
	maxWALRecord    = 1 << 30  // a length above this is garbage
	replayChunk     = 1000     // records per replay transaction
	walSegmentBytes = 64 << 20 // per turn (a single bigger batch goes past it)
	walPage         = 4096     // writes in place end on a multiple of it
	walMinPad       = walRecordHead + 1
)

var walPosKey = []byte("wal_applied")

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// walCRC is the checksum of a payload in generation gen.
func walCRC(gen uint64, payload []byte) uint32 {
	var g [8]byte
	binary.LittleEndian.PutUint64(g[:], gen)
	return crc32.Update(crc32.Update(0, crcTable, g[:]), crcTable, payload)
}

// walHeader is the first bytes of a generation.
func walHeader(gen uint64) []byte {
	h := make([]byte, walHeaderSize)
	copy(h, walMagic)
	binary.LittleEndian.PutUint64(h[8:], gen)
	return h
}

// appendWALRecord appends the record of o to buf.
func appendWALRecord(buf []byte, gen uint64, o *enqueueOp) []byte {
	start := len(buf)
	buf = append(buf, make([]byte, walRecordHead)...)
	buf = binary.AppendUvarint(buf, uint64(len(o.rec)))
	buf = append(buf, o.rec...)
	buf = append(buf, o.env...)
	payload := buf[start+walRecordHead:]
	binary.LittleEndian.PutUint32(buf[start:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(buf[start+4:], walCRC(gen, payload))
	return buf
}

// appendWALPadding appends a padding record to buf, whose first byte is at
// offset off of the segment, so that it ends on a page.
func appendWALPadding(buf []byte, gen uint64, off int64) []byte {
	end := off + int64(len(buf))
	pad := int(roundUp(end, walPage) - end)
	if pad == 0 {
		return buf
	}
	if pad < walMinPad {
		pad += walPage
	}
	start := len(buf)
	buf = append(buf, make([]byte, pad)...)
	payload := buf[start+walRecordHead:]
	binary.LittleEndian.PutUint32(buf[start:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(buf[start+4:], walCRC(gen, payload))
	return buf
}

// isPadding reports whether a record's payload is padding.
func isPadding(payload []byte) bool { return payload[0] == 0 }

// decodeWALPayload rebuilds the enqueue of a record's payload; rec and env
// are slices of payload.
func decodeWALPayload(payload []byte) (*enqueueOp, error) {
	n, k := binary.Uvarint(payload)
	if k <= 0 || n > uint64(len(payload)-k) {
		return nil, errors.New("bad record length")
	}
	rec := payload[k : k+int(n)]
	r, err := decodeRecord(rec)
	if err != nil {
		return nil, err
	}
	return &enqueueOp{r: r, rec: rec, env: payload[k+int(n):], at: r.UpdatedAt}, nil
}

// walPos is a position in the ingest log.
type walPos struct {
	gen uint64
	off int64
}

func (p walPos) bytes() []byte {
	b := make([]byte, 16)
	binary.BigEndian.PutUint64(b, p.gen)
	binary.BigEndian.PutUint64(b[8:], uint64(p.off))
	return b
}

// appliedPos reads the applied position from meta; zero when none.
func appliedPos(tx *bolt.Tx) walPos {
	v := tx.Bucket(bucketMeta).Get(walPosKey)
	if len(v) != 16 {
		return walPos{}
	}
	return walPos{gen: binary.BigEndian.Uint64(v), off: int64(binary.BigEndian.Uint64(v[8:]))}
}

// walReader reads the records of one generation from an offset.
type walReader struct {
	r   *bufio.Reader
	gen uint64
	off int64 // offset of the next record
	end int64 // size of the file: a record running past it is torn
	buf []byte
	// torn says why reading stopped before the end of the file, if it did.
	torn string
}

// next returns the next record's payload (valid until the next call), or
// nil at the end of the valid records; it skips padding.
func (wr *walReader) next() []byte {
	for {
		p := wr.record()
		if p == nil || !isPadding(p) {
			return p
		}
	}
}

// record returns the next record's payload, padding included.
func (wr *walReader) record() []byte {
	var head [walRecordHead]byte
	if _, err := io.ReadFull(wr.r, head[:]); err != nil {
		if err != io.EOF {
			wr.torn = "short record header"
		}
		return nil
	}
	n := binary.LittleEndian.Uint32(head[:4])
	if n == 0 || n > maxWALRecord {
		wr.torn = "bad record length"
		return nil
	}
	// The length may be garbage (a torn write, bytes of an earlier turn):
	// never allocate for more than the file holds.
	if wr.end > 0 && wr.off+walRecordHead+int64(n) > wr.end {
		wr.torn = "short record"
		return nil
	}
	if cap(wr.buf) < int(n) {
		wr.buf = make([]byte, n)
	}
	payload := wr.buf[:n]
	if _, err := io.ReadFull(wr.r, payload); err != nil {
		wr.torn = "short record"
		return nil
	}
	if walCRC(wr.gen, payload) != binary.LittleEndian.Uint32(head[4:]) {
		wr.torn = "record checksum mismatch"
		return nil
	}
	wr.off += walRecordHead + int64(n)
	return payload
}

// openWAL opens the ingest log's segments beside the store file (none is
// created yet), applies to bbolt every record not applied yet, and starts
// a new generation in the largest segment (a new one when there is
// none). It runs in Open, before any other goroutine uses the store.
func (s *Store) openWAL(base string) (*wal, error) {
	w, err := openSegments(base)
	if err != nil {
		return nil, err
	}
	last, err := s.replayWAL(w)
	if err != nil {
		w.close()
		return nil, fmt.Errorf("ingest log %s: %w", base, err)
	}
	// Everything is in bbolt now: every segment is free. Start the next
	// generation in the largest, so that it is rewritten in place.
	var first *walFile
	for _, wf := range w.files {
		if first == nil || wf.size > first.size {
			first = wf
		}
	}
	if first == nil {
		if first, err = w.create(); err != nil {
			w.close()
			return nil, fmt.Errorf("ingest log %s: %w", base, err)
		}
		w.add(first)
	}
	if _, err := first.f.WriteAt(walHeader(last+1), 0); err != nil {
		w.close()
		return nil, fmt.Errorf("ingest log %s: write header: %w", base, err)
	}
	if err := fdatasync(first.f); err != nil {
		w.close()
		return nil, fmt.Errorf("ingest log %s: sync: %w", base, err)
	}
	first.gen.Store(last + 1)
	first.size = max(first.size, walHeaderSize)
	w.cur, w.end, w.last = first, walHeaderSize, last+1
	return w, nil
}

// replayLeftoverLog stores in bbolt whatever the ingest log beside the
// store file holds past the applied position, and leaves it: for a store
// opened with Options.NoWAL after running with the log.
func (s *Store) replayLeftoverLog(base string) error {
	w, err := openSegments(base)
	if err != nil {
		return err
	}
	_, err = s.replayWAL(w)
	return errors.Join(err, w.close())
}

// openSegments opens the ingest log's segments beside the store file:
// the files named base + "." + a number.
func openSegments(base string) (*wal, error) {
	w := &wal{base: base, rotateAt: walSegmentBytes, prep: make(chan struct{}, 1), byNum: map[uint32]*walFile{}}
	paths, err := filepath.Glob(base + ".*")
	if err != nil {
		return nil, fmt.Errorf("open ingest log: %w", err)
	}
	for _, path := range paths {
		num, err := strconv.ParseUint(strings.TrimPrefix(path, base+"."), 10, 32)
		if err != nil || num == math.MaxUint32 {
			continue // not a segment
		}
		f, err := os.OpenFile(path, os.O_RDWR, 0o600)
		if err != nil {
			w.close()
			return nil, fmt.Errorf("open ingest log: %w", err)
		}
		fi, err := f.Stat()
		if err != nil {
			_ = f.Close()
			w.close()
			return nil, fmt.Errorf("open ingest log: %w", err)
		}
		w.add(&walFile{f: f, path: path, num: uint32(num), size: fi.Size()})
		w.next = max(w.next, uint32(num)+1)
	}
	return w, nil
}

// readHeader returns the generation in f's header, or false when f has no
// valid header (new, zero-filled, or not a log).
func readHeader(f *os.File) (uint64, bool, error) {
	head := make([]byte, walHeaderSize)
	n, err := f.ReadAt(head, 0)
	if err != nil && err != io.EOF {
		return 0, false, fmt.Errorf("read header: %w", err)
	}
	if n < walHeaderSize || string(head[:8]) != walMagic {
		return 0, false, nil
	}
	return binary.LittleEndian.Uint64(head[8:]), true, nil
}

// replayWAL applies, segment by segment in generation order, the records
// after the applied position, and returns the highest generation seen (in
// the segments or in meta).
func (s *Store) replayWAL(w *wal) (uint64, error) {
	var pos walPos
	if err := s.db.View(func(tx *bolt.Tx) error { pos = appliedPos(tx); return nil }); err != nil {
		return 0, err
	}
	last := pos.gen
	var turns []*walFile
	for _, wf := range w.files {
		gen, ok, err := readHeader(wf.f)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", wf.path, err)
		}
		if !ok {
			continue
		}
		wf.gen.Store(gen)
		last = max(last, gen)
		if gen >= pos.gen {
			turns = append(turns, wf)
		}
	}
	slices.SortFunc(turns, func(a, b *walFile) int { return cmp.Compare(a.gen.Load(), b.gen.Load()) })
	replayed := 0
	for _, wf := range turns {
		start := int64(walHeaderSize)
		if wf.gen.Load() == pos.gen && pos.off > start {
			start = pos.off
		}
		n, err := s.replayFile(wf, start)
		replayed += n
		if err != nil {
			return 0, err
		}
	}
	if replayed > 0 {
		s.log.Warn("deliveries acknowledged before the previous process stopped were stored from the ingest log",
			"count", replayed)
	}
	return last, nil
}

// replayFile applies the records of wf's current generation from offset
// start, in chunks, recording the position reached with each.
func (s *Store) replayFile(wf *walFile, start int64) (int, error) {
	gen := wf.gen.Load()
	wr := &walReader{r: bufio.NewReaderSize(io.NewSectionReader(wf.f, start, 1<<62), 1<<20), gen: gen, off: start, end: wf.size}
	replayed := 0
	for {
		var chunk []*enqueueOp
		for len(chunk) < replayChunk {
			p := wr.next()
			if p == nil {
				break
			}
			o, err := decodeWALPayload(p)
			if err != nil {
				wr.torn = "undecodable record: " + err.Error()
				break
			}
			o.rec, o.env = bytes.Clone(o.rec), bytes.Clone(o.env)
			chunk = append(chunk, o)
		}
		if len(chunk) > 0 {
			at := walPos{gen: gen, off: wr.off}
			err := s.db.Update(func(tx *bolt.Tx) error {
				wt := &wtx{tx: tx, now: s.now(), s: s}
				if _, err := applyEnqueues(wt, chunk); err != nil {
					return err
				}
				if err := tx.Bucket(bucketMeta).Put(walPosKey, at.bytes()); err != nil {
					return err
				}
				return wt.flushKeys()
			})
			if err != nil {
				return replayed, fmt.Errorf("replay %s: %w", wf.path, err)
			}
			replayed += len(chunk)
		}
		if len(chunk) < replayChunk || wr.torn != "" {
			break
		}
	}
	if wr.torn != "" {
		s.log.Debug("ingest log: replay stopped at a record that is incomplete or of an earlier turn (never acknowledged as part of this one)",
			"file", wf.path, "offset", wr.off, "reason", wr.torn)
	}
	return replayed, nil
}

// applyEnqueues stores every delivery of ops not stored yet (a replayed
// record may already be) and returns how many it stored.
func applyEnqueues(w *wtx, ops []*enqueueOp) (int, error) {
	stored := 0
	deliveries := w.bucket(bucketDeliveries)
	for _, o := range ops {
		if deliveries.Get([]byte(o.r.ID)) != nil {
			continue
		}
		if err := o.store(w); err != nil {
			return stored, err
		}
		stored++
	}
	return stored, nil
}

// wal is the open ingest log. The log writer goroutine alone writes it
// (and Open and Close, when that goroutine is not running); the segment
// list is shared with the preparer (segments.go) under mu, and records
// are read by whoever takes them (the writer goroutine, readers).
type wal struct {
	base string
	cur  *walFile // the segment being written
	end  int64    // where the next record goes in it
	last uint64   // the generation being written
	buf  []byte
	// rotateAt is the size past which the log turns to another segment
	// (walSegmentBytes; lowered by tests).
	rotateAt int64
	prep     chan struct{} // pokes the preparer
	poked    bool          // the preparer was poked during this turn
	// fault, when set (by tests), fails every append with its error.
	fault atomic.Pointer[error]

	// mu guards files and next, and the writes of cur and of each
	// segment's size (the log writer reads them without it).
	mu    sync.Mutex
	files []*walFile          // every segment, cur included
	byNum map[uint32]*walFile // the same, by number
	next  uint32              // number of the next new segment
}

// walFile is one segment and the generation it holds.
type walFile struct {
	f    *os.File
	path string
	num  uint32
	// gen is the generation the segment holds. It changes only when the
	// log writer turns to the segment, which it does only once every
	// record of the previous generation is in bbolt: whoever reads a
	// record still to be taken sees the generation it was written in.
	gen atomic.Uint64
	// size is how much of the file is allocated: writes below it
	// overwrite blocks in place. Under wal.mu once the log serves.
	size int64
}

// close closes the segments.
func (w *wal) close() error {
	var errs []error
	for _, wf := range w.files {
		errs = append(errs, wf.f.Close())
	}
	return errors.Join(errs...)
}

// create makes a new, empty segment file; the caller adds it to files.
func (w *wal) create() (*walFile, error) {
	w.mu.Lock()
	num := w.next
	w.next++
	w.mu.Unlock()
	path := w.base + "." + strconv.FormatUint(uint64(num), 10)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create ingest log segment: %w", err)
	}
	// Its records' fdatasyncs make them durable, not its name: a crash
	// must not lose the file they are in.
	if err := syncDir(filepath.Dir(path)); err != nil {
		_ = f.Close()
		_ = os.Remove(path)
		return nil, fmt.Errorf("create ingest log segment: %w", err)
	}
	return &walFile{f: f, path: path, num: num}, nil
}

// free reports whether every record of wf is in bbolt: its generation is
// older than the applied position's, and it is not being written.
func (w *wal) free(wf *walFile, applied uint64) bool {
	return wf != w.cur && wf.gen.Load() < applied
}

// turnTo picks the segment the next generation goes to, gen: a free one,
// the largest first (written in place), else a new one. applied is the
// generation of the applied position.
func (w *wal) turnTo(applied, gen uint64) (*walFile, error) {
	w.mu.Lock()
	var best *walFile
	for _, wf := range w.files {
		if w.free(wf, applied) && (best == nil || wf.size > best.size) {
			best = wf
		}
	}
	if best != nil {
		best.gen.Store(gen) // taken: no longer free, for the preparer too
		w.mu.Unlock()
		return best, nil
	}
	w.mu.Unlock()
	wf, err := w.create()
	if err != nil {
		return nil, err
	}
	wf.gen.Store(gen)
	w.mu.Lock()
	w.add(wf)
	w.mu.Unlock()
	return wf, nil
}

// add lists a new segment; under mu once the log serves.
func (w *wal) add(wf *walFile) {
	w.files = append(w.files, wf)
	w.byNum[wf.num] = wf
}

// append writes the records of ops after the current end and syncs them,
// setting each op's place in the log. With to set, the log first turns to
// that segment and starts generation gen there: header and records in
// one write and one sync.
func (w *wal) append(ops []*enqueueOp, to *walFile, gen uint64) error {
	buf := w.buf[:0]
	cur, off := w.cur, w.end
	if to != nil {
		cur, off = to, 0
		buf = append(buf, walHeader(gen)...)
	} else {
		gen = w.last
	}
	for _, o := range ops {
		start := len(buf)
		buf = appendWALRecord(buf, gen, o)
		o.logged = logged{seg: cur.num, off: uint32(off + int64(start)), size: uint32(len(buf) - start)}
	}
	if off+int64(len(buf)) < cur.size { // in place: end on a page
		buf = appendWALPadding(buf, gen, off)
	}
	if f := w.fault.Load(); f != nil {
		return fmt.Errorf("ingest log: write: %w", *f)
	}
	if _, err := cur.f.WriteAt(buf, off); err != nil {
		return fmt.Errorf("ingest log: write: %w", err)
	}
	if err := fdatasync(cur.f); err != nil {
		return fmt.Errorf("ingest log: sync: %w", err)
	}
	w.mu.Lock()
	if to != nil {
		w.cur, w.last, w.poked = to, gen, false
	}
	w.end = off + int64(len(buf))
	cur.size = max(cur.size, w.end)
	w.mu.Unlock()
	if cap(buf) <= 4<<20 {
		w.buf = buf[:0]
	} else {
		w.buf = nil // do not keep a huge buffer after a burst of big payloads
	}
	return nil
}

// segment returns the segment numbered num (nil when there is none).
func (w *wal) segment(num uint32) *walFile {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.byNum[num]
}

// read returns the enqueue of the record at e, checked against its CRC
// (its rec and env are its own), and the log position just after the
// record.
func (w *wal) read(e logged) (*enqueueOp, walPos, error) {
	wf := w.segment(e.seg)
	if wf == nil {
		return nil, walPos{}, fmt.Errorf("ingest log: segment %d is gone", e.seg)
	}
	gen := wf.gen.Load()
	end := walPos{gen: gen, off: int64(e.off) + int64(e.size)}
	buf := make([]byte, e.size)
	if _, err := wf.f.ReadAt(buf, int64(e.off)); err != nil {
		return nil, end, fmt.Errorf("ingest log %s: read at %d: %w", wf.path, e.off, err)
	}
	n := binary.LittleEndian.Uint32(buf)
	if int64(n)+walRecordHead != int64(len(buf)) || walCRC(gen, buf[walRecordHead:]) != binary.LittleEndian.Uint32(buf[4:]) {
		return nil, end, fmt.Errorf("ingest log %s: record at %d is damaged", wf.path, e.off)
	}
	o, err := decodeWALPayload(buf[walRecordHead:])
	if err != nil {
		return nil, end, fmt.Errorf("ingest log %s: record at %d: %w", wf.path, e.off, err)
	}
	return o, end, nil
}
