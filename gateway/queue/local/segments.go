package local

import (
	"cmp"
	"errors"
	"os"
	"runtime"
	"slices"
)

// Segments of the ingest log are reused once every record of theirs is in
// bbolt, so a busy log writes over allocated blocks, which fdatasync
// flushes without a journal commit. A backlog needs more segments than
// that: each new one would grow its file with every write, and every
// fdatasync of a growing file commits the filesystem's journal too
// (measured here on ext4: 220 us per write and sync against 110 for a
// write in place). The preparer therefore zero-fills a spare segment
// while the current one fills, and the log writer prunes free segments
// beyond walSpareSegments once a backlog is gone.
const (
	walSpareSegments = 2       // free segments kept for reuse
	zeroChunk        = 1 << 20 // bytes per write when zero-filling
)

// runPreparer keeps one free, zero-filled segment ready for the log's next
// turn. The log writer pokes it when the current segment is half full.
func (s *Store) runPreparer() {
	defer close(s.in.prepDone)
	for {
		select {
		case <-s.done:
			return
		case <-s.wal.prep:
		}
		s.prepareSegment()
	}
}

// prepareSegment zero-fills a new segment unless a free one of full size
// is there already.
func (s *Store) prepareSegment() {
	w := s.wal
	applied := s.in.appliedGen()
	w.mu.Lock()
	for _, wf := range w.files {
		if w.free(wf, applied) && wf.size >= w.rotateAt {
			w.mu.Unlock()
			return
		}
	}
	w.mu.Unlock()
	wf, err := w.create()
	if err != nil {
		s.log.Warn("ingest log: cannot prepare a segment; the next one grows as it is written", "err", err)
		return
	}
	size := roundUp(w.rotateAt, walPage)
	if err := zeroFile(wf.path, size, s.done); err != nil {
		_ = wf.f.Close()
		_ = os.Remove(wf.path)
		if err != errStopped {
			s.log.Warn("ingest log: cannot prepare a segment; the next one grows as it is written", "err", err)
		}
		return
	}
	wf.size = size
	w.mu.Lock()
	w.add(wf)
	w.mu.Unlock()
}

// syncDir makes the names in directory dir durable. Windows cannot sync
// a directory (and needs not): there it only checks dir opens.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if runtime.GOOS == "windows" {
		err = nil
	}
	return errors.Join(err, d.Close())
}

// errStopped ends a zero-fill or a key filter rebuild when the store closes.
var errStopped = errors.New("store closing")

// zeroBuffered is zeroFile through the page cache.
func zeroBuffered(path string, size int64, stop <-chan struct{}) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := writeZeros(f, make([]byte, zeroChunk), size, stop); err != nil {
		return err
	}
	return fdatasync(f)
}

// writeZeros writes size bytes of buf (all zero) at the start of f, a
// chunk at a time, checking stop in between.
func writeZeros(f *os.File, buf []byte, size int64, stop <-chan struct{}) error {
	for off := int64(0); off < size; off += int64(len(buf)) {
		select {
		case <-stop:
			return errStopped
		default:
		}
		if _, err := f.WriteAt(buf[:min(int64(len(buf)), size-off)], off); err != nil {
			return err
		}
	}
	return nil
}

func roundUp(n, to int64) int64 { return (n + to - 1) / to * to }

// prune closes and removes free segments beyond walSpareSegments, the
// smallest first. The log writer calls it, so no reader of a logged
// record meets a removed segment: records still to be taken are never in
// free segments, and the log writer's own reads (decide) are not
// concurrent with it.
func (w *wal) prune(applied uint64) {
	w.mu.Lock()
	var free []*walFile
	for _, wf := range w.files {
		if w.free(wf, applied) {
			free = append(free, wf)
		}
	}
	if len(free) <= walSpareSegments {
		w.mu.Unlock()
		return
	}
	slices.SortFunc(free, func(a, b *walFile) int {
		return cmp.Or(cmp.Compare(b.size, a.size), cmp.Compare(a.num, b.num))
	})
	drop := free[walSpareSegments:]
	w.files = slices.DeleteFunc(w.files, func(wf *walFile) bool { return slices.Contains(drop, wf) })
	for _, wf := range drop {
		delete(w.byNum, wf.num)
	}
	w.mu.Unlock()
	for _, wf := range drop {
		_ = wf.f.Close()
		_ = os.Remove(wf.path)
	}
}

// appliedGen is the generation of the applied position: segments of older
// generations are free.
func (in *ingest) appliedGen() uint64 {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.applied.gen
}
