package local

import (
	"errors"
	"path/filepath"
	"sync"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/hookgate/hookgate/gateway/queue"
)

// settled waits until every enqueue acknowledged so far is in bbolt, for
// tests that look into (or write to) the bbolt file directly.
func settled(t *testing.T, s *Store) {
	t.Helper()
	if err := s.settle(ctx(t)); err != nil {
		t.Fatal(err)
	}
}

func TestGroupCommit(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "q.db"), Options{})
	const n = 256
	before := s.Stats()
	start := make(chan struct{})
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			<-start
			if _, err := s.Enqueue(ctx(t), delivery("note")); err != nil {
				t.Error(err)
			}
		})
	}
	close(start)
	wg.Wait()
	after := s.Stats()
	commits, ops := after.Commits-before.Commits, after.Ops-before.Ops
	t.Logf("%d enqueues in %d commits", ops, commits)
	if ops != n {
		t.Errorf("committed %d ops, want %d", ops, n)
	}
	if commits >= n {
		t.Errorf("%d commits for %d concurrent enqueues: no group commit", commits, n)
	}
}

// failingOp writes, then fails: the batch must be rolled back and its other
// ops committed alone.
type failingOp struct{ done }

func (o *failingOp) apply(w *wtx) error {
	if err := w.bucket(bucketMeta).Put([]byte("partial"), []byte("x")); err != nil {
		return err
	}
	return errors.New("boom")
}

func TestBatchIsolation(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "q.db"), Options{})
	mustEnqueue(t, s, &queue.Delivery{ID: "taken"})
	settled(t, s) // the batches below go straight to bbolt

	newOp := func(id string) *enqueueOp {
		o, err := s.newEnqueueOp(&queue.Delivery{ID: id})
		if err != nil {
			t.Fatal(err)
		}
		o.prepare()
		return o
	}
	a, dup, b := newOp("a"), newOp("taken"), newOp("b")
	bad := &failingOp{}
	bad.prepare()
	finish := &finishOp{id: "unknown", report: queue.Report{Status: queue.StatusDone}}
	finish.prepare()

	cases := []struct {
		name  string
		batch []waiter
		want  []error // per op, nil for success
	}{
		{"refusals stay local", []waiter{newOp("c"), dup, finish, newOp("d")},
			[]error{nil, ErrDuplicateID, queue.ErrNotFound, nil}},
		{"partial write is rolled back", []waiter{a, bad, b},
			[]error{nil, errors.New("boom"), nil}},
	}
	for _, tc := range cases {
		ops := make([]op, len(tc.batch))
		for i, o := range tc.batch {
			ops[i] = o
		}
		s.commit(ops)
		for i, o := range tc.batch {
			<-o.waitCh()
			err := o.result()
			switch want := tc.want[i]; {
			case want == nil && err != nil:
				t.Errorf("%s: op %d failed: %v", tc.name, i, err)
			case want != nil && err == nil:
				t.Errorf("%s: op %d succeeded, want %v", tc.name, i, want)
			case want != nil && !errors.Is(err, want) && err.Error() != "local: write: "+want.Error():
				t.Errorf("%s: op %d: %v, want %v", tc.name, i, err, want)
			}
		}
	}
	for _, id := range []string{"a", "b", "c", "d"} {
		mustGet(t, s, id)
	}
	err := s.db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketMeta).Get([]byte("partial")) != nil {
			t.Error("the failing op's partial write was committed")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestUnreadableEnvelopeIsDead(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "q.db"), Options{})
	bad := mustEnqueue(t, s, delivery("note"))
	good := mustEnqueue(t, s, delivery("push"))
	settled(t, s) // both are in bbolt: spoil one there
	err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketEnvelopes).Put([]byte(bad), []byte("{not json"))
	})
	if err != nil {
		t.Fatal(err)
	}
	if d := mustClaim(t, s); d.ID != good {
		t.Errorf("claimed %s, want %s", d.ID, good)
	}
	err = s.db.View(func(tx *bolt.Tx) error {
		r, err := decodeRecord(tx.Bucket(bucketDeliveries).Get([]byte(bad)))
		if err != nil {
			return err
		}
		if r.Status != queue.StatusDead || r.Error == "" {
			t.Errorf("unreadable delivery: status %s error %q", r.Status, r.Error)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
