package local

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway/queue"
)

// gateOp blocks the writer in apply until released; it writes nothing.
type gateOp struct {
	done
	entered, release chan struct{}
}

func (o *gateOp) apply(w *wtx) error {
	close(o.entered)
	<-o.release
	return nil
}

// A claim in a batch whose transaction began (w.now) before a delivery
// was enqueued and logged (the writer applying a long batch of finishes
// and claims while the log writer logs): the logged delivery's ready
// time (its enqueue) is after w.now, yet it is ready. It was once taken
// for delayed: stored queued in bbolt, then found not ready, so the claim
// got nothing and the delivery was written twice.
func TestClaimOfADeliveryLoggedAfterItsTransactionBegan(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "q.db"), Options{})
	gate := &gateOp{entered: make(chan struct{}), release: make(chan struct{})}
	if err := s.submit(ctx(t), gate); err != nil {
		t.Fatal(err)
	}
	<-gate.entered // the writer is busy with batch 1
	slow := &gateOp{entered: make(chan struct{}), release: make(chan struct{})}
	claim := &claimOp{}
	for _, o := range []waiter{slow, claim} { // batch 2: [slow, claim]
		if err := s.submit(ctx(t), o); err != nil {
			t.Fatal(err)
		}
	}
	close(gate.release)
	<-slow.entered // batch 2 began: its w.now is taken
	time.Sleep(time.Millisecond)
	id := mustEnqueue(t, s, delivery("note")) // logged after w.now
	close(slow.release)
	<-claim.waitCh()
	if err := claim.result(); err != nil {
		t.Fatal(err)
	}
	if claim.got == nil {
		var st queue.Status
		if d, err := s.Get(ctx(t), id); err == nil {
			st = d.Status
		}
		t.Errorf("the claim found nothing ready although %s was logged before it ran; it stored it %s in bbolt and answered next=%v",
			id, st, claim.next)
	}
}
