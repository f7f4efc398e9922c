package local

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

// One move fails (a transient error), then a worker claims the logged
// deliveries the mover was asked to move before the mover retries: the
// mover then finds nothing to do and waits, so the successful claim must
// end the failure Ping reports (it once stayed for ever).
func TestMoveErrorEndsWhenWorkersTakeTheBacklog(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "q.db"), Options{})
	id := mustEnqueue(t, s, delivery("note"))
	transient := errors.New("transient write error")
	s.in.fault.Store(&transient)
	// A reader makes the mover move it; the move fails.
	c, cancel := context.WithTimeout(ctx(t), 30*time.Millisecond)
	_, _ = s.Get(c, id)
	cancel()
	deadline := time.Now().Add(2 * time.Second)
	for s.Ping(ctx(t)) == nil && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if s.Ping(ctx(t)) == nil {
		t.Fatal("the move did not fail")
	}
	// The error is gone; a worker takes the delivery before the mover's
	// retry (100 ms later).
	s.in.fault.Store(nil)
	if d := mustClaim(t, s); d.ID != id {
		t.Fatalf("claimed %s, want %s", d.ID, id)
	}
	time.Sleep(time.Second)
	if err := s.Ping(ctx(t)); err != nil {
		t.Errorf("ping 1 s after the failure was over, with nothing left to move: %v", err)
	}
}
