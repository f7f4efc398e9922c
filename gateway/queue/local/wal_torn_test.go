package local

import (
	"encoding/binary"
	"path/filepath"
	"runtime"
	"testing"
)

// TestWALReplayTrustsNoLength: a torn tail whose length field is garbage
// yet below maxWALRecord must not make replay allocate that much. It once
// allocated up to 1 GiB at every start: under a memory limit (systemd
// MemoryMax, ulimit -v) the gateway died at start for ever after a crash
// mid-append (found by the poison test, whose memory bomb kills the
// process while deliveries are being logged).
func TestWALReplayTrustsNoLength(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	ids := crashedLog(t, path, Options{}, nil, []string{"a", "b"})
	walPath, _ := curLog(t, path)
	head := make([]byte, walRecordHead)
	binary.LittleEndian.PutUint32(head, maxWALRecord-1)
	appendFile(t, walPath, append(head, "a few bytes of a torn record"...))

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	s := open(t, path, Options{})
	runtime.ReadMemStats(&after)
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 64<<20 {
		t.Errorf("replay allocated %d MiB for a torn record", grew>>20)
	}
	got := listIDs(t, s)
	for _, id := range ids {
		found := false
		for _, g := range got {
			found = found || g == id
		}
		if !found {
			t.Errorf("logged delivery %s not replayed (queued: %v)", id, got)
		}
	}
}
