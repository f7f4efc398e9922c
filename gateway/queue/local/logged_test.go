package local

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway/queue"
)

// The logged queue across chunk boundaries: numbers, keys, bytes, and the
// reuse of a chunk once the queue empties.
func TestLoggedQueue(t *testing.T) {
	q := newLoggedQueue()
	const n = 3*loggedChunk + 17
	for i := range n {
		key := fmt.Sprint("key-", i)
		if i%5 == 0 {
			key = "" // no idempotency key
		}
		if seq := q.push(logged{off: uint32(i), size: 100}, key); seq != uint64(i) {
			t.Fatalf("push %d got number %d", i, seq)
		}
	}
	if q.n != n || q.bytes != 100*n || q.tail() != n {
		t.Fatalf("n %d bytes %d tail %d", q.n, q.bytes, q.tail())
	}
	for _, i := range []int{1, loggedChunk + 1, n - 1} {
		got := q.findKey(fmt.Sprint("key-", i))
		if len(got) != 1 || got[0].seq != uint64(i) || got[0].off != uint32(i) {
			t.Errorf("findKey(key-%d) = %+v", i, got)
		}
	}
	if got := q.findKey("key-0"); got != nil {
		t.Errorf("findKey of a key never pushed = %+v", got)
	}
	// Take the first chunk and a bit.
	var keys []string
	for i := range loggedChunk + 3 {
		key := fmt.Sprint("key-", i)
		if i%5 == 0 {
			key = ""
		}
		keys = append(keys, key)
	}
	q.pop(keys)
	if q.seq != loggedChunk+3 || q.n != n-loggedChunk-3 || q.at(0).off != loggedChunk+3 {
		t.Fatalf("after pop: seq %d n %d first %+v", q.seq, q.n, *q.at(0))
	}
	if got := q.findKey("key-1"); got != nil {
		t.Errorf("a taken key is still found: %+v", got)
	}
	if len(q.keys) != (n-loggedChunk-3)*4/5+1 {
		t.Errorf("%d keys kept for %d entries", len(q.keys), q.n)
	}
	// Empty it: the next push starts a chunk over.
	keys = keys[:0]
	for i := loggedChunk + 3; i < n; i++ {
		keys = append(keys, map[bool]string{true: "", false: fmt.Sprint("key-", i)}[i%5 == 0])
	}
	q.pop(keys)
	if q.n != 0 || q.bytes != 0 || len(q.keys) != 0 || q.head != 0 {
		t.Fatalf("emptied queue: n %d bytes %d keys %d head %d", q.n, q.bytes, len(q.keys), q.head)
	}
	if seq := q.push(logged{off: 7}, "again"); seq != n || q.at(0).off != 7 {
		t.Fatalf("push after emptying: number %d, first %+v", seq, *q.at(0))
	}
}

// Two live keys with the same hash (never seen in practice: forced here)
// are both found, and each leaves with its own entry.
func TestLoggedQueueKeyCollision(t *testing.T) {
	q := newLoggedQueue()
	a := q.push(logged{off: 1}, "a")
	q.keys[q.hash("b")] = a // "b" hashes like "a"
	b := q.push(logged{off: 2}, "b")
	if q.collided["b"] != b {
		t.Fatalf("colliding key not kept whole: %v", q.collided)
	}
	got := q.findKey("b")
	if len(got) != 2 || got[0].seq != a || got[1].seq != b {
		t.Fatalf("findKey(b) = %+v; want the entry its hash names, then its own", got)
	}
	q.pop([]string{"a"})
	if got := q.findKey("b"); len(got) != 1 || got[0].seq != b {
		t.Fatalf("after taking a: findKey(b) = %+v", got)
	}
	q.pop([]string{"b"})
	if len(q.collided) != 0 || q.findKey("b") != nil {
		t.Fatalf("after taking b: collided %v", q.collided)
	}
}

// A claim takes logged deliveries in log order, and a delivery of the
// ready index first when it became ready before them.
func TestClaimTakesLoggedInOrder(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "q.db"), Options{})
	r := mustEnqueue(t, s, delivery("push"))
	mustClaim(t, s)
	a := mustEnqueue(t, s, delivery("note"))
	b := mustEnqueue(t, s, delivery("note"))
	time.Sleep(2 * time.Millisecond)
	// A retry due now: in the ready index, ready after a and b.
	if err := s.Finish(ctx(t), r, queue.Report{Status: queue.StatusQueued}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Millisecond)
	c := mustEnqueue(t, s, delivery("note"))
	if n := s.loggedCount(); n != 3 {
		t.Fatalf("%d deliveries logged only, want 3 (a, b, c)", n)
	}
	var got []string
	for range 4 {
		d := mustClaim(t, s)
		if d.Status != queue.StatusRunning || d.Attempts < 1 {
			t.Errorf("claimed %s: status %s attempts %d", d.ID, d.Status, d.Attempts)
		}
		got = append(got, d.ID)
	}
	if want := []string{a, b, r, c}; !slices.Equal(got, want) {
		t.Errorf("claimed %v, want %v (a, b, the retry, c)", got, want)
	}
	if n := s.loggedCount(); n != 0 {
		t.Errorf("%d still logged after claiming them all", n)
	}
	// Stored once, running, with its envelope.
	if d := mustGet(t, s, a); d.Status != queue.StatusRunning || d.Attempts != 1 || d.Envelope.Kind != "note" {
		t.Errorf("claimed logged delivery reads back as %s, attempts %d, kind %q", d.Status, d.Attempts, d.Envelope.Kind)
	}
	nothingReady(t, s)
}

// A logged delivery delayed by NotBefore does not hold up those logged
// after it: the claim stores it, queued, and goes on.
func TestDelayedLoggedDeliveryStepsAside(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "q.db"), Options{})
	late := delivery("note")
	late.NotBefore = time.Now().Add(time.Hour)
	lateID := mustEnqueue(t, s, late)
	now := mustEnqueue(t, s, delivery("note"))
	if d := mustClaim(t, s); d.ID != now {
		t.Fatalf("claimed %s, want %s (the delayed one is not due)", d.ID, now)
	}
	if n := s.loggedCount(); n != 0 {
		t.Errorf("%d still logged", n)
	}
	if d := mustGet(t, s, lateID); d.Status != queue.StatusQueued || !d.NotBefore.Equal(late.NotBefore) {
		t.Errorf("delayed delivery: %s, not before %v", d.Status, d.NotBefore)
	}
	nothingReady(t, s)
}

// Finish, Requeue and Get of a delivery still only in the log: the first
// two refuse it as queued, Get waits for the mover and returns it.
func TestCallsOnALoggedDelivery(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "q.db"), Options{})
	id := mustEnqueue(t, s, delivery("note"))
	if err := s.Finish(ctx(t), id, queue.Report{Status: queue.StatusDone}); !errors.Is(err, queue.ErrNotRunning) {
		t.Errorf("finish of a logged delivery = %v, want ErrNotRunning", err)
	}
	if err := s.Requeue(ctx(t), id, ""); !errors.Is(err, queue.ErrNotFinal) {
		t.Errorf("requeue of a logged delivery = %v, want ErrNotFinal", err)
	}
	if err := s.Finish(ctx(t), "no-such-id", queue.Report{Status: queue.StatusDone}); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("finish of an unknown id = %v, want ErrNotFound", err)
	}
	if s.loggedCount() != 1 {
		t.Fatal("the refusals moved the delivery")
	}
	if d := mustGet(t, s, id); d.Status != queue.StatusQueued || d.Envelope.Kind != "note" {
		t.Errorf("get: %s %q", d.Status, d.Envelope.Kind)
	}
	if n := s.loggedCount(); n != 0 {
		t.Errorf("get left it logged (%d)", n)
	}
}

// Past its bound the mover stores logged deliveries ahead of the workers,
// and enqueues that find the log a quarter past it wait for room instead
// of failing.
func TestMoverBoundsTheLoggedBacklog(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "q.db"), Options{})
	s.in.mu.Lock()
	s.in.moveCount = 20
	s.in.mu.Unlock()
	var mu sync.Mutex
	var ids []string
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 25 {
				d := delivery("note")
				d.Key = fmt.Sprintf("g%d-%d", g, i)
				id := mustEnqueue(t, s, d)
				mu.Lock()
				ids = append(ids, id)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for s.loggedCount() > 20 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := s.loggedCount(); n > 20 {
		t.Fatalf("%d logged after the mover had 10 s; bound 20", n)
	}
	if q := s.queued.Load(); q < 180 {
		t.Errorf("%d queued in bbolt, want at least 180 of 200", q)
	}
	b, err := s.Backlog(ctx(t))
	if err != nil || b.Queued != 200 {
		t.Errorf("backlog %+v, %v; want 200 queued", b, err)
	}
	got := ids[:0:0]
	for range 200 {
		got = append(got, mustClaim(t, s).ID)
	}
	slices.Sort(got)
	slices.Sort(ids)
	if !slices.Equal(got, ids) {
		t.Errorf("claimed %d distinct deliveries, want the 200 enqueued", len(slices.Compact(got)))
	}
}

// A zero-filled segment is written in place, each batch ending on a page;
// replay reads past the padding; free segments beyond the spares go.
func TestSegmentsPreparedAndPadded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	s := open(t, path, Options{})
	s.wal.rotateAt = 16 << 10
	var ids []string
	inPlace := 0
	for i := 0; len(ids) < 200; i++ {
		d := delivery("note")
		d.Key = fmt.Sprint("k", i)
		ids = append(ids, mustEnqueue(t, s, d))
		s.wal.mu.Lock()
		if s.wal.end < s.wal.cur.size { // written in place
			inPlace++
			if s.wal.end%walPage != 0 {
				t.Fatalf("a write in place ended at %d, not on a page", s.wal.end)
			}
		}
		s.wal.mu.Unlock()
	}
	if inPlace == 0 {
		t.Fatal("no write went to a prepared segment")
	}
	prepared := 0
	for _, p := range segments(t, path) {
		if fi, err := os.Stat(p); err == nil && fi.Size() == roundUp(16<<10, walPage) {
			prepared++
		}
	}
	if prepared == 0 {
		t.Errorf("no segment of the prepared size among %v", segments(t, path))
	}
	if n := len(segments(t, path)); n < 3 {
		t.Errorf("%d segments for 200 logged deliveries in 16 KiB turns", n)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, path, Options{})
	got := listIDs(t, s)
	slices.Sort(got)
	slices.Sort(ids)
	if !slices.Equal(got, ids) {
		t.Fatalf("after reopen %d queued, want %d", len(got), len(ids))
	}
	// Everything is in bbolt now: turning frees the old segments, and all
	// but the spares go.
	s.wal.rotateAt = 1 << 10
	for i := range 8 {
		d := delivery("note")
		d.Key = fmt.Sprint("again", i)
		mustEnqueue(t, s, d)
		settled(t, s)
	}
	if n := len(segments(t, path)); n > walSpareSegments+2 {
		t.Errorf("%d segments left; the free ones beyond %d spares should go", n, walSpareSegments)
	}
}

func TestWALPadding(t *testing.T) {
	for _, off := range []int64{0, 16, walPage - 9, walPage - 8, walPage - 1, walPage, 3*walPage + 100} {
		for _, n := range []int{0, 1, 500, walPage} {
			buf := appendWALPadding(make([]byte, n), 7, off)
			end := off + int64(len(buf))
			if end%walPage != 0 && !(len(buf) == n && (off+int64(n))%walPage == 0) {
				t.Errorf("off %d, %d bytes: padded to %d, not a page", off, n, end)
			}
			if len(buf) == n {
				continue
			}
			wr := &walReader{gen: 7}
			pad := buf[n:]
			if len(pad) < walMinPad {
				t.Fatalf("off %d, %d bytes: padding of %d bytes", off, n, len(pad))
			}
			payload := pad[walRecordHead:]
			if !isPadding(payload) || walCRC(wr.gen, payload) != binary.LittleEndian.Uint32(pad[4:]) ||
				int(binary.LittleEndian.Uint32(pad)) != len(payload) {
				t.Errorf("off %d, %d bytes: the padding is no valid padding record", off, n)
			}
		}
	}
}

// loggedCount is the number of deliveries logged and not in bbolt.
func (s *Store) loggedCount() int {
	s.in.mu.Lock()
	defer s.in.mu.Unlock()
	return s.in.q.n
}
