package local

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/hookgate/hookgate/gateway/queue"
	"github.com/hookgate/hookgate/gateway/queue/queuetest"
)

func TestConformanceNoWAL(t *testing.T) {
	queuetest.Run(t, func(t *testing.T) queue.Backend {
		return open(t, filepath.Join(t.TempDir(), "q.db"), Options{NoWAL: true})
	})
}

// curLog returns the log file being written for the store at path (the
// one with the highest generation) and that generation.
func curLog(t *testing.T, path string) (string, uint64) {
	t.Helper()
	var cur string
	var gen uint64
	for _, p := range segments(t, path) {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) < walHeaderSize || string(b[:8]) != walMagic {
			continue
		}
		if g := binary.LittleEndian.Uint64(b[8:]); g > gen {
			cur, gen = p, g
		}
	}
	if cur == "" {
		t.Fatalf("no log file of %s has a header", path)
	}
	return cur, gen
}

// segments lists the ingest log segments of the store at path.
func segments(t *testing.T, path string) []string {
	t.Helper()
	paths, err := filepath.Glob(path + walSuffix + ".*")
	if err != nil {
		t.Fatal(err)
	}
	return paths
}

// walGen is the generation being written for the store at path.
func walGen(t *testing.T, path string) uint64 {
	t.Helper()
	_, gen := curLog(t, path)
	return gen
}

// crashedLog is what a store that died between acknowledging deliveries
// and moving them into bbolt leaves behind: the bbolt file as of the last
// move and a log with records past the applied position. It returns the
// ids of the logged deliveries, in log order. before runs on the store
// first (nil: one delivery is enqueued and applied).
func crashedLog(t *testing.T, path string, opts Options, before func(s *Store), keys []string) []string {
	t.Helper()
	opts.SweepInterval, opts.Logger = -1, testLogger(t)
	s, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	if before == nil {
		before = func(s *Store) { mustEnqueue(t, s, delivery("push")) }
	}
	before(s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	walPath, gen := curLog(t, path)
	var buf []byte
	var ids []string
	for _, key := range keys {
		d := delivery("note")
		d.Key = key
		o, err := s.newEnqueueOp(d) // encodes only: the store is closed
		if err != nil {
			t.Fatal(err)
		}
		buf = appendWALRecord(buf, gen, o)
		ids = append(ids, o.r.ID)
	}
	appendFile(t, walPath, buf)
	return ids
}

func appendFile(t *testing.T, path string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func listIDs(t *testing.T, s *Store) []string {
	t.Helper()
	all, err := s.List(ctx(t), queue.Filter{Status: queue.StatusQueued, Limit: MaxListLimit})
	if err != nil {
		t.Fatal(err)
	}
	return ids(all)
}

func TestWALReplay(t *testing.T) {
	// A torn tail: the next record's header and part of its payload.
	var torn []byte
	{
		o, err := (&Store{opts: Options{}.withDefaults()}).newEnqueueOp(delivery("note"))
		if err != nil {
			t.Fatal(err)
		}
		torn = appendWALRecord(nil, 0, o)
	}
	cases := []struct {
		name string
		// spoil changes the log after the good records were appended.
		spoil func(t *testing.T, walPath string)
	}{
		{"clean end", func(*testing.T, string) {}},
		{"torn last record", func(t *testing.T, p string) { appendFile(t, p, torn[:len(torn)/2]) }},
		{"torn record header", func(t *testing.T, p string) { appendFile(t, p, torn[:5]) }},
		{"garbage length", func(t *testing.T, p string) { appendFile(t, p, []byte{0xff, 0xff, 0xff, 0x7f, 1, 2, 3, 4}) }},
		{"record of another generation", func(t *testing.T, p string) {
			// A whole, well-formed record left over from generation 0.
			appendFile(t, p, torn)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "q.db")
			logged := crashedLog(t, path, Options{}, nil, []string{"k1", "k2", "k3"})
			walPath, gen := curLog(t, path)
			tc.spoil(t, walPath)

			s := open(t, path, Options{})
			got := listIDs(t, s)
			for _, id := range logged {
				if !slices.Contains(got, id) {
					t.Errorf("acknowledged delivery %s lost; queued: %v", id, got)
				}
			}
			if len(got) != len(logged)+1 {
				t.Errorf("queued %d deliveries, want %d (one applied before, %d replayed)", len(got), len(logged)+1, len(logged))
			}
			// Their keys are remembered.
			d := delivery("note")
			d.Key = "k2"
			if rc, err := s.Enqueue(ctx(t), d); err != nil || !rc.Duplicate || rc.ID != logged[1] {
				t.Errorf("replayed key: %+v, %v; want duplicate of %s", rc, err, logged[1])
			}
			// The log starts over, past the old generation.
			if g := walGen(t, path); g <= gen {
				t.Errorf("generation %d after replay, want > %d", g, gen)
			}
		})
	}
}

// TestWALReplayStopsAtBadChecksum: a record whose bytes changed on disk
// ends the log; what follows it is ignored, what precedes it is kept.
func TestWALReplayStopsAtBadChecksum(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	logged := crashedLog(t, path, Options{}, nil, []string{"a", "b", "c"})
	walPath, _ := curLog(t, path)
	b, err := os.ReadFile(walPath)
	if err != nil {
		t.Fatal(err)
	}
	// Find the second logged record and flip a byte of its payload.
	var starts []int
	p := walHeaderSize
	// The file holds first the record applied before the crash, then the
	// three logged ones.
	for p < len(b) {
		starts = append(starts, p)
		p += walRecordHead + int(binary.LittleEndian.Uint32(b[p:]))
	}
	if len(starts) != 4 {
		t.Fatalf("found %d records, want 4", len(starts))
	}
	b[starts[3]-2] ^= 0x20 // inside the envelope, which replay does not parse
	if err := os.WriteFile(walPath, b, 0o600); err != nil {
		t.Fatal(err)
	}

	s := open(t, path, Options{})
	got := listIDs(t, s)
	if !slices.Contains(got, logged[0]) {
		t.Errorf("record before the damaged one lost: %v", got)
	}
	for _, id := range logged[1:] {
		if slices.Contains(got, id) {
			t.Errorf("record %s at or after the damaged one was replayed", id)
		}
	}
}

// TestWALReplayIsExact: replay starts at the applied position, so a
// record applied before the crash is not applied again, even when its
// delivery was deleted since (retention): it would come back otherwise.
func TestWALReplayIsExact(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	var gone string
	logged := crashedLog(t, path, Options{Policy: queue.Policy{RetainFor: time.Nanosecond}}, func(s *Store) {
		gone = mustEnqueue(t, s, delivery("push"))
		mustClaim(t, s)
		if err := s.Finish(ctx(t), gone, queue.Report{Status: queue.StatusDone}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond) // past the retention of 1ns
		if sw, err := s.Sweep(ctx(t)); err != nil || sw.Deliveries != 1 {
			t.Fatalf("sweep: %+v, %v", sw, err)
		}
	}, []string{"x", "y"})

	s := open(t, path, Options{})
	if _, err := s.Get(ctx(t), gone); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("deleted delivery after replay: %v, want ErrNotFound", err)
	}
	for _, id := range logged {
		if got := mustGet(t, s, id); got.Envelope.Kind != "note" || got.Status != queue.StatusQueued {
			t.Errorf("replayed %s: kind %q status %s", id, got.Envelope.Kind, got.Status)
		}
	}
	if n := len(listIDs(t, s)); n != len(logged) {
		t.Errorf("%d queued, want %d", n, len(logged))
	}
}

// TestWALRotation: once everything logged is in bbolt and the log passed
// its size limit, it starts over; nothing is lost across rotations and a
// reopen.
func TestWALRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	s := open(t, path, Options{})
	s.wal.rotateAt = 1 << 10
	first := walGen(t, path)
	var want []string
	for i := range 60 {
		d := delivery("note")
		d.Key = fmt.Sprint("key-", i)
		want = append(want, mustEnqueue(t, s, d))
		settled(t, s) // everything in bbolt: the next write may rotate
	}
	if g := walGen(t, path); g <= first+5 {
		t.Errorf("generation %d after 60 enqueues, want more than %d: the log never turned", g, first+5)
	}
	segs := segments(t, path)
	if len(segs) > 2+walSpareSegments {
		t.Errorf("%d segments (%v): free ones are reused", len(segs), segs)
	}
	for _, p := range segs {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() > 3*walPage { // a batch written in place ends on a page
			t.Errorf("segment %s is %d bytes; turning at 1 KiB should keep it small", p, fi.Size())
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, path, Options{})
	got := listIDs(t, s)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("after rotations and reopen: %d queued, want %d", len(got), len(want))
	}
	for i := range 60 {
		d := delivery("note")
		d.Key = fmt.Sprint("key-", i)
		if rc, err := s.Enqueue(ctx(t), d); err != nil || !rc.Duplicate {
			t.Fatalf("key-%d forgotten: %+v, %v", i, rc, err)
		}
	}
}

// TestWALDedupeRace: many concurrent enqueues of a few keys, while the
// mover moves earlier batches into bbolt: each key is stored exactly once
// and every duplicate names the stored delivery.
func TestWALDedupeRace(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "q.db"), Options{})
	const keys, senders, rounds = 8, 32, 20
	for round := range rounds {
		var mu sync.Mutex
		stored := map[string][]string{} // key -> ids stored
		named := map[string][]string{}  // key -> ids in duplicate answers
		var wg sync.WaitGroup
		for i := range senders {
			wg.Go(func() {
				key := fmt.Sprintf("r%d-k%d", round, i%keys)
				d := delivery("note")
				d.Key = key
				rc, err := s.Enqueue(ctx(t), d)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				defer mu.Unlock()
				if rc.Duplicate {
					named[key] = append(named[key], rc.ID)
				} else {
					stored[key] = append(stored[key], rc.ID)
				}
			})
		}
		wg.Wait()
		for k := range keys {
			key := fmt.Sprintf("r%d-k%d", round, k)
			if len(stored[key]) != 1 {
				t.Fatalf("key %s stored %d times", key, len(stored[key]))
			}
			for _, id := range named[key] {
				if id != stored[key][0] {
					t.Fatalf("duplicate of %s names %s, want %s", key, id, stored[key][0])
				}
			}
		}
	}
}

// TestWALDuplicateID: a preset id already logged or stored is refused.
func TestWALDuplicateID(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "q.db"), Options{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var ok, refused int
	for range 16 {
		wg.Go(func() {
			_, err := s.Enqueue(ctx(t), &queue.Delivery{ID: "same"})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case errors.Is(err, ErrDuplicateID):
				refused++
			default:
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if ok != 1 || refused != 15 {
		t.Errorf("%d stored, %d refused; want 1 and 15", ok, refused)
	}
}

// TestWALPositionIsRecorded: the applied position moves with the records,
// in the same transaction.
func TestWALPositionIsRecorded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	s := open(t, path, Options{})
	mustEnqueue(t, s, delivery("note"))
	settled(t, s)
	var pos walPos
	if err := s.db.View(func(tx *bolt.Tx) error { pos = appliedPos(tx); return nil }); err != nil {
		t.Fatal(err)
	}
	if pos.gen != s.wal.last || pos.off != s.wal.end {
		t.Errorf("applied position %+v, log at generation %d offset %d", pos, s.wal.last, s.wal.end)
	}
}

// TestWALReplayBothFiles: after a crash right after the log turned, both
// files hold records not in bbolt; replay applies them in generation order.
func TestWALReplayBothFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	older := crashedLog(t, path, Options{}, nil, []string{"a", "b"})
	cur, gen := curLog(t, path)
	other := path + walSuffix + ".1"
	if cur == other {
		other = path + walSuffix + ".0"
	}
	s := &Store{opts: Options{}.withDefaults()}
	buf := walHeader(gen + 1)
	var newer []string
	for _, key := range []string{"c", "a"} { // "a" again: a duplicate would not have been logged
		d := delivery("note")
		if key != "a" {
			d.Key = key
		}
		o, err := s.newEnqueueOp(d)
		if err != nil {
			t.Fatal(err)
		}
		buf = appendWALRecord(buf, gen+1, o)
		newer = append(newer, o.r.ID)
	}
	if err := os.WriteFile(other, buf, 0o600); err != nil {
		t.Fatal(err)
	}

	st := open(t, path, Options{})
	got := listIDs(t, st)
	want := append(append([]string{}, older...), newer...)
	for _, id := range want {
		if !slices.Contains(got, id) {
			t.Errorf("delivery %s lost; queued %v", id, got)
		}
	}
	if len(got) != len(want)+1 {
		t.Errorf("%d queued, want %d (and the one applied before the crash)", len(got), len(want))
	}
}

// TestWALTurnsUnderLoad: many concurrent enqueues with a tiny turn size,
// so the log turns while batches are still being moved; nothing is lost,
// before or after a reopen.
func TestWALTurnsUnderLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	s, err := Open(path, Options{Policy: queue.Policy{SweepInterval: -1}, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	s.wal.rotateAt = 8 << 10
	var mu sync.Mutex
	var want []string
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := range 20 {
				d := delivery("note")
				d.Key = fmt.Sprintf("g%d-%d", g, i)
				rc, err := s.Enqueue(ctx(t), d)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				want = append(want, rc.ID)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if g := walGen(t, path); g < 4 {
		t.Errorf("generation %d: the log did not turn", g)
	}
	check := func(s *Store, when string) {
		got := listIDs(t, s)
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s: %d queued, want %d", when, len(got), len(want))
		}
	}
	check(s, "before reopen")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	check(open(t, path, Options{}), "after reopen")
}

// While moves into bbolt fail (a full disk), the log still takes
// deliveries but Ping reports the failure, so /readyz answers 503; once a
// move succeeds again, Ping recovers and the deliveries are readable. A
// Get of a delivery only logged is what makes the mover move it here.
func TestPingReportsFailingMoves(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "q.db"), Options{})
	if err := s.Ping(ctx(t)); err != nil {
		t.Fatalf("ping on a healthy store: %v", err)
	}
	full := errors.New("no space left on device")
	s.in.fault.Store(&full)
	id := mustEnqueue(t, s, delivery("push")) // logged: acknowledged
	type got struct {
		d   *queue.Delivery
		err error
	}
	read := make(chan got, 1)
	go func() {
		d, err := s.Get(ctx(t), id)
		read <- got{d, err}
	}()
	deadline := time.Now().Add(5 * time.Second)
	var err error
	for err = s.Ping(ctx(t)); err == nil && time.Now().Before(deadline); err = s.Ping(ctx(t)) {
		time.Sleep(5 * time.Millisecond)
	}
	if !errors.Is(err, full) {
		t.Fatalf("ping while moves fail = %v, want the move's error", err)
	}
	select {
	case g := <-read:
		t.Fatalf("get while moves fail returned %v, %v; want it to wait", g.d, g.err)
	default:
	}
	s.in.fault.Store(nil)
	for err = s.Ping(ctx(t)); err != nil && time.Now().Before(deadline.Add(5*time.Second)); err = s.Ping(ctx(t)) {
		time.Sleep(5 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("ping after moves recovered: %v", err)
	}
	if g := <-read; g.err != nil || g.d.Status != queue.StatusQueued {
		t.Fatalf("get after recovery = %v, %v; want the delivery, queued", g.d, g.err)
	}
}

// A log write that fails for lack of space refuses that batch only: Ping
// reports it meanwhile, and once there is room the log takes deliveries
// again without a restart, nothing acknowledged lost. Any other write
// error stops the log for good.
func TestLogWriteFailures(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "q.db"), Options{})
	before := mustEnqueue(t, s, delivery("note"))
	var full error = syscall.ENOSPC
	s.wal.fault.Store(&full)
	if _, err := s.Enqueue(ctx(t), delivery("note")); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("enqueue on a full disk = %v, want ENOSPC", err)
	}
	if err := s.Ping(ctx(t)); !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("ping on a full disk = %v, want ENOSPC", err)
	}
	s.in.mu.Lock()
	s.in.noSpaceAt = s.in.noSpaceAt.Add(-noSpaceFor) // long ago: no delivery came since
	s.in.mu.Unlock()
	if err := s.Ping(ctx(t)); err != nil {
		t.Errorf("ping %v after the last failure: %v", noSpaceFor, err)
	}
	s.wal.fault.Store(nil)
	after := mustEnqueue(t, s, delivery("note"))
	if err := s.Ping(ctx(t)); err != nil {
		t.Errorf("ping once there is room: %v", err)
	}
	got := []string{mustClaim(t, s).ID, mustClaim(t, s).ID}
	if !slices.Equal(got, []string{before, after}) {
		t.Errorf("claimed %v, want %v", got, []string{before, after})
	}
	nothingReady(t, s)

	var broken error = syscall.EIO
	s.wal.fault.Store(&broken)
	if _, err := s.Enqueue(ctx(t), delivery("note")); !errors.Is(err, syscall.EIO) {
		t.Fatalf("enqueue on a failing disk = %v, want EIO", err)
	}
	s.wal.fault.Store(nil)
	if _, err := s.Enqueue(ctx(t), delivery("note")); !errors.Is(err, syscall.EIO) {
		t.Errorf("enqueue after an I/O error = %v, want the sticky EIO", err)
	}
}
