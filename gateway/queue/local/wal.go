package local

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"

	bolt "go.etcd.io/bbolt"
)

// The ingest log (WAL) is the file <store file>.wal. It holds enqueued
// deliveries that are acknowledged but possibly not yet in bbolt.
//
//	header:  magic (8 bytes) | generation (8, little endian)
//	record:  length (4, LE) | crc (4, LE) | payload (length bytes)
//	payload: uvarint len(rec) | rec (the record's JSON) | env (the envelope's JSON)
//
// crc is CRC-32C over the generation (8 bytes, LE) followed by the
// payload, so a record left over from an earlier generation (after the
// file was truncated and reused) never passes for a current one. Reading
// stops at the first record that is short (torn by a crash) or fails its
// CRC: every later byte is ignored.
//
// bbolt's meta bucket holds, under walPosKey, the generation and offset up
// to which records are applied; the mover writes it in the same
// transaction that applies them, so replay after a crash starts exactly
// where the applied part ends.
const (
	walMagic       = "HGWAL\x00\x00\x01"
	walHeaderSize  = 16
	walRecordHead  = 8
	walSuffix      = ".wal"
	maxWALRecord   = 1 << 30 // a length above this is garbage
	replayChunk    = 1000    // records per replay transaction
	walRotateBytes = 64 << 20
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

// openWAL opens (creating) the ingest log beside the store file, applies
// to bbolt every record not applied yet, and starts a fresh generation.
// It runs in Open, before any other goroutine uses the store.
func (s *Store) openWAL(path string) (*wal, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open ingest log: %w", err)
	}
	w := &wal{f: f, path: path, rotateAt: walRotateBytes}
	gen, err := s.replayWAL(w)
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("ingest log %s: %w", path, err)
	}
	if err := w.restart(gen + 1); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("ingest log %s: %w", path, err)
	}
	return w, nil
}

// replayWAL applies the records after the applied position and returns
// the highest generation seen (in the file or in meta).
func (s *Store) replayWAL(w *wal) (uint64, error) {
	var pos walPos
	if err := s.db.View(func(tx *bolt.Tx) error { pos = appliedPos(tx); return nil }); err != nil {
		return 0, err
	}
	head := make([]byte, walHeaderSize)
	n, err := w.f.ReadAt(head, 0)
	if err != nil && err != io.EOF {
		return 0, fmt.Errorf("read header: %w", err)
	}
	if n < walHeaderSize || string(head[:8]) != walMagic {
		if n > 0 {
			s.log.Warn("ingest log has no valid header; nothing to replay", "file", w.path)
		}
		return pos.gen, nil
	}
	gen := binary.LittleEndian.Uint64(head[8:])
	start := int64(walHeaderSize)
	if gen == pos.gen && pos.off > start {
		start = pos.off
	}
	wr := &walReader{r: bufio.NewReaderSize(io.NewSectionReader(w.f, start, 1<<62), 1<<20), gen: gen, off: start}
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
			o.rec, o.env = append([]byte(nil), o.rec...), append([]byte(nil), o.env...)
			chunk = append(chunk, o)
		}
		if len(chunk) == 0 {
			break
		}
		at := walPos{gen: gen, off: wr.off}
		err := s.db.Update(func(tx *bolt.Tx) error {
			wt := &wtx{tx: tx, now: s.now(), s: s}
			if _, err := applyEnqueues(wt, chunk); err != nil {
				return err
			}
			return tx.Bucket(bucketMeta).Put(walPosKey, at.bytes())
		})
		if err != nil {
			return 0, fmt.Errorf("replay: %w", err)
		}
		replayed += len(chunk)
		if wr.torn != "" {
			break
		}
	}
	if replayed > 0 {
		s.log.Warn("deliveries acknowledged before the previous process stopped were replayed from the ingest log",
			"count", replayed)
	}
	if wr.torn != "" {
		s.log.Warn("ingest log ends with an incomplete record (a write cut short); it was never acknowledged and is ignored",
			"file", w.path, "offset", wr.off, "reason", wr.torn)
	}
	return max(gen, pos.gen), nil
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

// wal is the open ingest log. Only the WAL writer goroutine (and Open and
// Close, when it is not running) touches it.
type wal struct {
	f    *os.File
	path string
	gen  uint64
	end  int64 // where the next record goes
	buf  []byte
	// rotateAt is the size past which the log starts over once all of it
	// is in bbolt (walRotateBytes; lowered by tests).
	rotateAt int64
}

// restart empties the log and starts generation gen, durably.
func (w *wal) restart(gen uint64) error {
	if err := w.f.Truncate(0); err != nil {
		return fmt.Errorf("truncate: %w", err)
	}
	if _, err := w.f.WriteAt(walHeader(gen), 0); err != nil {
		return fmt.Errorf("write header: %w", err)
	}
	if err := fdatasync(w.f); err != nil {
		return fmt.Errorf("sync: %w", err)
	}
	w.gen, w.end = gen, walHeaderSize
	return nil
}

// append writes the records of ops after the current end and syncs them.
// When rotate is set (everything written so far is in bbolt), the log
// first starts over with the next generation, in the same write and sync.
func (w *wal) append(ops []*enqueueOp, rotate bool) error {
	buf := w.buf[:0]
	off, gen := w.end, w.gen
	if rotate {
		gen++
		off = 0
		buf = append(buf, walHeader(gen)...)
	}
	for _, o := range ops {
		buf = appendWALRecord(buf, gen, o)
	}
	if rotate {
		if err := w.f.Truncate(0); err != nil {
			return fmt.Errorf("ingest log: truncate: %w", err)
		}
	}
	if _, err := w.f.WriteAt(buf, off); err != nil {
		return fmt.Errorf("ingest log: write: %w", err)
	}
	if err := fdatasync(w.f); err != nil {
		return fmt.Errorf("ingest log: sync: %w", err)
	}
	w.gen, w.end = gen, off+int64(len(buf))
	if cap(buf) <= 4<<20 {
		w.buf = buf[:0]
	} else {
		w.buf = nil // do not keep a huge buffer after a burst of big payloads
	}
	return nil
}
