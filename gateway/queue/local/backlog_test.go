package local

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway/queue"
)

func TestBacklogCountsQueuedAndRunning(t *testing.T) {
	clock := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	s := open(t, filepath.Join(t.TempDir(), "q.db"), Options{Now: func() time.Time { return clock }})
	backlog := func() queue.Backlog {
		t.Helper()
		b, err := s.Backlog(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if b := backlog(); b != (queue.Backlog{}) {
		t.Fatalf("empty store: %+v", b)
	}

	first := delivery("note")
	first.ReceivedAt = clock.Add(-time.Hour)
	mustEnqueue(t, s, first)
	for range 3 {
		mustEnqueue(t, s, delivery("push"))
	}
	if b := backlog(); b.Queued != 4 || b.Running != 0 || !b.Oldest.Equal(first.ReceivedAt) {
		t.Fatalf("four queued: %+v, want oldest %s", b, first.ReceivedAt)
	}

	// The oldest is claimed: it still counts (running), and stays oldest.
	if d := mustClaim(t, s); d.ID != first.ID {
		t.Fatalf("claimed %s, want the first", d.ID)
	}
	if b := backlog(); b.Queued != 3 || b.Running != 1 || !b.Oldest.Equal(first.ReceivedAt) {
		t.Fatalf("one running: %+v", b)
	}
	if err := s.Finish(ctx(t), first.ID, queue.Report{Status: queue.StatusDone}); err != nil {
		t.Fatal(err)
	}
	if b := backlog(); b.Queued != 3 || b.Running != 0 || !b.Oldest.Equal(clock) {
		t.Fatalf("first done: %+v, want oldest %s", b, clock)
	}
}

func TestOnQuarantineIsToldAfterCommit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	s := open(t, path, Options{Policy: queue.Policy{QuarantineAfter: 1}})
	id := mustEnqueue(t, s, delivery("note"))
	mustClaim(t, s) // never finished: the process "died"
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	var told []string
	s = open(t, path, Options{Policy: queue.Policy{QuarantineAfter: 1}, OnQuarantine: func(id string) {
		mu.Lock()
		defer mu.Unlock()
		told = append(told, id)
	}})
	next := mustEnqueue(t, s, delivery("note"))
	if d := mustClaim(t, s); d.ID != next {
		t.Fatalf("claimed %s, want %s past the quarantined one", d.ID, next)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(told, []string{id}) {
		t.Fatalf("told %v, want [%s]", told, id)
	}
	if d := mustGet(t, s, id); d.Status != queue.StatusDead {
		t.Fatalf("quarantined delivery is %s", d.Status)
	}
}

func TestSnapshotIsAConsistentCopy(t *testing.T) {
	dir := t.TempDir()
	s := open(t, filepath.Join(dir, "q.db"), Options{})
	var ids []string
	for range 20 {
		ids = append(ids, mustEnqueue(t, s, delivery("note")))
	}
	sn, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	// A write while the snapshot is open is not in it. (It may wait for
	// the snapshot's end if the file has to grow: bbolt cannot remap
	// under a read transaction.)
	later := make(chan string, 1)
	go func() { later <- mustEnqueue(t, s, delivery("push")) }()

	var buf bytes.Buffer
	n, err := sn.WriteTo(&buf)
	if err != nil || n != sn.Size() || int64(buf.Len()) != n {
		t.Fatalf("WriteTo = %d, %v; size %d, wrote %d", n, err, sn.Size(), buf.Len())
	}
	if err := sn.Close(); err != nil {
		t.Fatal(err)
	}
	if err := sn.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	laterID := <-later

	copyPath := filepath.Join(dir, "copy.db")
	if err := os.WriteFile(copyPath, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	c := open(t, copyPath, Options{})
	for _, id := range ids {
		if d := mustGet(t, c, id); d.Status != queue.StatusQueued || d.Envelope.Kind != "note" {
			t.Fatalf("copy: %s is %s %q", id, d.Status, d.Envelope.Kind)
		}
	}
	if _, err := c.Get(ctx(t), laterID); err == nil {
		t.Fatal("copy holds a delivery enqueued after the snapshot")
	}
	if b, err := c.Backlog(ctx(t)); err != nil || b.Queued != len(ids) {
		t.Fatalf("copy backlog = %+v, %v", b, err)
	}

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Snapshot(); err != queue.ErrClosed {
		t.Fatalf("snapshot of a closed store: %v", err)
	}
	if _, err := s.Backlog(ctx(t)); err == nil {
		t.Fatal("backlog of a closed store did not fail")
	}
}

// The counts Backlog reads are kept by the writer: they follow claims,
// finishes, requeues and retention, and Open counts them afresh (with
// the runs a dead process left requeued).
func TestBacklogCountsSurviveReopenAndRetention(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	opts := Options{Policy: queue.Policy{RetainCount: 1, RetainFor: -1}, ReleaseInterval: -1}
	s, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	for range 4 {
		mustEnqueue(t, s, delivery("push"))
	}
	mustClaim(t, s)
	check := func(s *Store, queued, run int) {
		t.Helper()
		b, err := s.Backlog(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		if b.Queued != queued || b.Running != run {
			t.Fatalf("backlog = %d queued, %d running; want %d, %d", b.Queued, b.Running, queued, run)
		}
	}
	check(s, 3, 1)
	if err := s.Close(); err != nil { // the run never finishes: as if the process died
		t.Fatal(err)
	}
	s = open(t, path, opts)
	check(s, 4, 0) // requeued at Open
	a, b := mustClaim(t, s), mustClaim(t, s)
	check(s, 2, 2)
	for _, d := range []*queue.Delivery{a, b} {
		if err := s.Finish(ctx(t), d.ID, queue.Report{Status: queue.StatusDone}); err != nil {
			t.Fatal(err)
		}
	}
	check(s, 2, 0)
	if sw, err := s.Sweep(ctx(t)); err != nil || sw.Deliveries != 1 { // a: beyond RetainCount 1
		t.Fatalf("sweep = %+v, %v; want one delivery deleted", sw, err)
	}
	check(s, 2, 0)
	if err := s.Requeue(ctx(t), b.ID, ""); err != nil {
		t.Fatal(err)
	}
	check(s, 3, 0)
}
