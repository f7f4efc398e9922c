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
	"os"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// The ingest log (WAL) is two files beside the store file, <file>.wal.0
// and <file>.wal.1, written in turns. They hold enqueued deliveries that
// are acknowledged but possibly not yet in bbolt.
//
//	header:  magic (8 bytes) | generation (8, little endian)
//	record:  length (4, LE) | crc (4, LE) | payload (length bytes)
//	payload: uvarint len(rec) | rec (the record's JSON) | env (the stored envelope)
//
// Each turn of a file is a generation, one more than the previous turn of
// either file. A turn starts by writing a new header at offset 0 over the
// old contents: the file is never truncated, so once a file reached its
// size, appending to it overwrites allocated blocks and its fdatasync
// flushes data without a journal commit. crc is CRC-32C over the
// generation (8 bytes, LE) followed by the payload, so bytes left over from
// an earlier turn never pass for records of the current one. Reading stops
// at the first record that is short (torn by a crash) or fails its CRC.
//
// bbolt's meta bucket holds, under walPosKey, the generation and offset up
// to which records are applied; the mover writes it in the same
// transaction that applies them. Replay reads the files in generation
// order, from that position on, so no record is applied twice (a delivery
// deleted since would come back) nor skipped.
const (
	walMagic       = "HGWAL\x00\x00\x01"
	walHeaderSize  = 16
	walRecordHead  = 8
	walSuffix      = ".wal"  // the files are <store file>.wal.0 and .wal.1
	maxWALRecord   = 1 << 30 // a length above this is garbage
	replayChunk    = 1000    // records per replay transaction
	walRotateBytes = 4 << 20 // per turn: small files, soon rewritten in place (see above)
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

// decodeWALPayload rebuilds the enqueue of a record's payload.
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
// nil at the end of the valid records.
func (wr *walReader) next() []byte {
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

// openWAL opens (creating) the ingest log files beside the store file,
// applies to bbolt every record not applied yet, and starts a new
// generation in file 0. It runs in Open, before any other goroutine uses
// the store.
func (s *Store) openWAL(base string) (*wal, error) {
	w := &wal{rotateAt: walRotateBytes}
	for i := range w.files {
		path := fmt.Sprintf("%s.%d", base, i)
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			w.close()
			return nil, fmt.Errorf("open ingest log: %w", err)
		}
		w.files[i] = &walFile{f: f, path: path}
	}
	last, err := s.replayWAL(w)
	if err != nil {
		w.close()
		return nil, fmt.Errorf("ingest log %s: %w", base, err)
	}
	// Start afresh in file 0; file 1 keeps an older generation, all of it
	// applied, until the log turns to it.
	w.files[1].gen = last
	w.cur, w.files[0].gen = 0, last+1
	if _, err := w.files[0].f.WriteAt(walHeader(last+1), 0); err != nil {
		w.close()
		return nil, fmt.Errorf("ingest log %s: write header: %w", base, err)
	}
	if err := fdatasync(w.files[0].f); err != nil {
		w.close()
		return nil, fmt.Errorf("ingest log %s: sync: %w", base, err)
	}
	w.end = walHeaderSize
	return w, nil
}

// readHeader returns the generation in f's header, or false when f has no
// valid header (new, empty, or not a log).
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

// replayWAL applies, file by file in generation order, the records after
// the applied position, and returns the highest generation seen (in the
// files or in meta).
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
		wf.gen = gen
		last = max(last, gen)
		if gen >= pos.gen {
			turns = append(turns, wf)
		}
	}
	slices.SortFunc(turns, func(a, b *walFile) int { return cmp.Compare(a.gen, b.gen) })
	replayed := 0
	for _, wf := range turns {
		start := int64(walHeaderSize)
		if wf.gen == pos.gen && pos.off > start {
			start = pos.off
		}
		n, err := s.replayFile(wf, start)
		replayed += n
		if err != nil {
			return 0, err
		}
	}
	if replayed > 0 {
		s.log.Warn("deliveries acknowledged before the previous process stopped were replayed from the ingest log",
			"count", replayed)
	}
	return last, nil
}

// replayFile applies the records of wf's current generation from offset
// start, in chunks, recording the position reached with each.
func (s *Store) replayFile(wf *walFile, start int64) (int, error) {
	fi, err := wf.f.Stat()
	if err != nil {
		return 0, fmt.Errorf("replay %s: %w", wf.path, err)
	}
	wr := &walReader{r: bufio.NewReaderSize(io.NewSectionReader(wf.f, start, 1<<62), 1<<20), gen: wf.gen, off: start, end: fi.Size()}
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
			at := walPos{gen: wf.gen, off: wr.off}
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

// wal is the open ingest log. Only the log writer goroutine (and Open and
// Close, when it is not running) touches it.
type wal struct {
	files [2]*walFile
	cur   int   // the file being written
	end   int64 // where the next record goes in it
	buf   []byte
	// rotateAt is the size past which the log turns to the other file
	// (walRotateBytes; lowered by tests).
	rotateAt int64
}

// walFile is one of the two files and the generation it holds.
type walFile struct {
	f    *os.File
	path string
	gen  uint64
}

// gen is the generation being written.
func (w *wal) gen() uint64 { return w.files[w.cur].gen }

// other is the generation in the file not being written.
func (w *wal) other() uint64 { return w.files[1-w.cur].gen }

// close closes the files.
func (w *wal) close() error {
	var errs []error
	for _, wf := range w.files {
		if wf != nil {
			errs = append(errs, wf.f.Close())
		}
	}
	return errors.Join(errs...)
}

// append writes the records of ops after the current end and syncs them.
// With turn set, the log first turns to the other file (which must be all
// in bbolt) and starts the next generation there: header and records in
// one write and one sync.
func (w *wal) append(ops []*enqueueOp, turn bool) error {
	buf := w.buf[:0]
	cur, off, gen := w.cur, w.end, w.gen()
	if turn {
		cur, off, gen = 1-w.cur, 0, max(w.files[0].gen, w.files[1].gen)+1
		buf = append(buf, walHeader(gen)...)
	}
	for _, o := range ops {
		buf = appendWALRecord(buf, gen, o)
	}
	f := w.files[cur].f
	if _, err := f.WriteAt(buf, off); err != nil {
		return fmt.Errorf("ingest log: write: %w", err)
	}
	if err := fdatasync(f); err != nil {
		return fmt.Errorf("ingest log: sync: %w", err)
	}
	w.cur, w.files[cur].gen, w.end = cur, gen, off+int64(len(buf))
	if cap(buf) <= 4<<20 {
		w.buf = buf[:0]
	} else {
		w.buf = nil // do not keep a huge buffer after a burst of big payloads
	}
	return nil
}
