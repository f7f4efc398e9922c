package local

import (
	"context"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/hookgate/hookgate/gateway/queue"
)

// maxBatch caps the operations committed in one transaction.
const maxBatch = 1000

// op is one write handed to the writer goroutine.
type op interface {
	// apply performs the operation inside w and records its result in the
	// op. It may be called more than once (when a batch is replayed) and
	// must then start afresh. An error made with refuse is the op's answer
	// about its input and means nothing was written; any other error means
	// the transaction may hold a partial write.
	apply(w *wtx) error
	// reply hands the op's answer to its caller after the commit: err is the
	// refusal, the commit's error, or nil.
	reply(err error)
}

// readOnly is implemented by ops that may end up writing nothing (a claim
// that found nothing ready, a duplicate enqueue). A batch in which no op
// wrote is rolled back instead of committed: no fsync for nothing.
type readOnly interface {
	// wroteNothing reports, after apply, that the op left tx untouched.
	wroteNothing() bool
}

// refusal marks an error an op found before writing anything.
type refusal struct{ err error }

func (r refusal) Error() string { return r.err.Error() }
func (r refusal) Unwrap() error { return r.err }

// refuse makes err an answer about the op's input (see op.apply).
func refuse(err error) error { return refusal{err} }

// done is the reply half of an op, embedded by every op.
type done struct {
	ch  chan struct{}
	err error
}

func (d *done) reply(err error) {
	d.err = err
	close(d.ch)
}

func (d *done) prepare() { d.ch = make(chan struct{}) }

// waiter lets do reach the embedded done of any op.
type waiter interface {
	op
	prepare()
	waitCh() chan struct{}
	result() error
}

func (d *done) waitCh() chan struct{} { return d.ch }
func (d *done) result() error         { return d.err }

// do hands o to the writer and waits for its answer or ctx. When ctx ends
// first, o may still be committed later.
func (s *Store) do(ctx context.Context, o waiter) error {
	if err := s.submit(ctx, o); err != nil {
		return err
	}
	select {
	case <-o.waitCh():
		return o.result()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// submit hands o to the writer unless the store is closed.
func (s *Store) submit(ctx context.Context, o waiter) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return queue.ErrClosed
	}
	o.prepare()
	s.ops <- o // the writer keeps draining, so this never blocks for long
	return nil
}

// runWriter is the single writer goroutine: it commits whatever is waiting,
// then looks again. It returns when ops is closed and drained.
func (s *Store) runWriter() {
	defer close(s.writerDone)
	batch := make([]op, 0, maxBatch)
	for first := range s.ops {
		batch = append(batch[:0], first)
	fill:
		for len(batch) < maxBatch {
			select {
			case o, ok := <-s.ops:
				if !ok {
					break fill
				}
				batch = append(batch, o)
			default:
				break fill
			}
		}
		s.commit(batch)
		clear(batch)
	}
}

// commit applies batch in one transaction and answers every op. When an op
// fails half-way, the batch is rolled back and each op is committed alone,
// so only the failing one gets an error.
func (s *Store) commit(batch []op) {
	answers, err := s.applyBatch(batch)
	var partial *partialWrite
	if errors.As(err, &partial) && len(batch) > 1 {
		s.log.Error("write batch rolled back; committing its operations one by one",
			"ops", len(batch), "err", partial.err)
		for _, o := range batch {
			s.commit([]op{o})
		}
		return
	}
	for i, o := range batch {
		if err != nil {
			o.reply(err)
		} else {
			o.reply(answers[i])
		}
	}
}

// partialWrite is an op error after which the transaction was rolled back.
type partialWrite struct{ err error }

func (p *partialWrite) Error() string { return p.err.Error() }
func (p *partialWrite) Unwrap() error { return p.err }

func (s *Store) applyBatch(batch []op) ([]error, error) {
	tx, err := s.db.Begin(true)
	if err != nil {
		return nil, fmt.Errorf("local: begin write: %w", err)
	}
	w := &wtx{tx: tx, now: s.now(), s: s}
	answers := make([]error, len(batch))
	wrote := false
	for i, o := range batch {
		err := o.apply(w)
		var r refusal
		switch {
		case err == nil:
			if ro, ok := o.(readOnly); !ok || !ro.wroteNothing() {
				wrote = true
			}
		case errors.As(err, &r):
			answers[i] = r.err
		default:
			_ = tx.Rollback()
			return nil, &partialWrite{fmt.Errorf("local: write: %w", err)}
		}
	}
	if !wrote {
		if err := tx.Rollback(); err != nil {
			return nil, fmt.Errorf("local: end read-only batch: %w", err)
		}
		s.commitKVUsage(w) // counted, not changed: keep the counts
		return answers, nil
	}
	if len(w.took) > 0 {
		if err := tx.Bucket(bucketMeta).Put(walPosKey, w.tookEnd.bytes()); err != nil {
			_ = tx.Rollback()
			return nil, fmt.Errorf("local: record ingest log position: %w", err)
		}
	}
	if err := w.flushKeys(); err != nil { // before the commit: see keyindex.go
		_ = tx.Rollback()
		return nil, fmt.Errorf("local: %w", err)
	}
	s.commitMu.Lock()
	err = tx.Commit()
	if err == nil {
		s.queued.Add(w.queued)
		s.running.Add(w.running)
		s.finals.Add(w.finals)
		if len(w.took) > 0 {
			s.in.taken(w.took, w.tookEnd)
		}
		s.commitKVUsage(w)
	}
	s.commitMu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("local: commit: %w", err)
	}
	s.commits.Add(1)
	n := 0
	for _, o := range batch {
		if _, moved := o.(*moveOp); !moved {
			n++ // moved enqueues were counted when logged
		}
	}
	s.committed.Add(uint64(n))
	if w.wake {
		s.notify()
	}
	return answers, nil
}

// notify wakes every Claim waiting for a delivery to become ready.
func (s *Store) notify() {
	s.wakeMu.Lock()
	close(s.wake)
	s.wake = make(chan struct{})
	s.wakeMu.Unlock()
}

// wakeCh is closed at the next notify.
func (s *Store) wakeCh() <-chan struct{} {
	s.wakeMu.Lock()
	defer s.wakeMu.Unlock()
	return s.wake
}

// wtx is a write transaction with the helpers ops share.
type wtx struct {
	tx   *bolt.Tx
	now  time.Time
	s    *Store
	wake bool // a delivery became ready: wake claimers after the commit
	// queued, running and finals are the changes to the numbers of
	// queued, running and final deliveries, applied to the store's
	// counts after the commit.
	queued, running, finals int64
	// keys are the key index entries this transaction set or deleted,
	// written (synced) just before it commits.
	keys map[string]keyEntry
	// took are the idempotency keys ("" for none) of the logged
	// deliveries this transaction took from the ingest log, in log order,
	// and tookEnd the log position after the last (ingest.go).
	took    []string
	tookEnd walPos
	// kv is the usage of the key-value namespaces this transaction read
	// or wrote, kept by the store after the commit (kv.go).
	kv map[string]queue.KVUsage
}

// lookupKey finds the dedupe_at entry of an idempotency key as of this
// transaction: its seenAt and delivery id.
func (w *wtx) lookupKey(key []byte) (uint64, string, bool, error) {
	if e, ok := w.keys[string(key)]; ok {
		if e.del {
			return 0, "", false, nil
		}
		return confirmKey(w.tx, key, e.at)
	}
	return w.s.keys.lookup(w.tx, key)
}

// setKey records key's new dedupe_at entry, seen at at, for the key index.
func (w *wtx) setKey(key []byte, at uint64) {
	if w.keys == nil {
		w.keys = map[string]keyEntry{}
	}
	w.keys[string(key)] = keyEntry{at: at}
}

// deleteKey drops key from the key index.
func (w *wtx) deleteKey(key []byte) {
	if w.keys == nil {
		w.keys = map[string]keyEntry{}
	}
	w.keys[string(key)] = keyEntry{del: true}
}

// flushKeys writes the key index entries of the transaction, synced.
func (w *wtx) flushKeys() error {
	err := w.s.keys.write(w.keys)
	w.keys = nil
	return err
}

// count records that r's status gains (+1) or loses (-1) one delivery.
func (w *wtx) count(r *record, delta int64) {
	switch {
	case r.Status == queue.StatusQueued:
		w.queued += delta
	case r.Status == queue.StatusRunning:
		w.running += delta
	case r.Status.Final():
		w.finals += delta
	}
}

// bucket returns the named bucket of the transaction. Buckets whose keys
// mostly grow at the end (ids are UUIDv7, index keys start with a time)
// are filled to 90% before a page splits, not bbolt's 50%: about half the
// pages to write per commit.
func (w *wtx) bucket(name []byte) *bolt.Bucket {
	b := w.tx.Bucket(name)
	if b != nil && appendMostly(name) {
		b.FillPercent = 0.9
	}
	return b
}

func appendMostly(name []byte) bool {
	switch string(name) {
	case string(bucketDeliveries), string(bucketEnvelopes), string(bucketReady), string(bucketFinal), string(bucketDedupeAt):
		return true
	}
	return false
}

// record reads a delivery's record; nil when there is none.
func (w *wtx) record(id string) (*record, error) {
	b := w.bucket(bucketDeliveries).Get([]byte(id))
	if b == nil {
		return nil, nil
	}
	r, err := decodeRecord(b)
	if err != nil {
		return nil, fmt.Errorf("delivery %s: %w", id, err)
	}
	return r, nil
}

func (w *wtx) putRecord(r *record) error {
	b, err := encodeRecord(r)
	if err != nil {
		return err
	}
	if err := w.bucket(bucketDeliveries).Put([]byte(r.ID), b); err != nil {
		return fmt.Errorf("put delivery %s: %w", r.ID, err)
	}
	return nil
}

// unindex removes the index entries of r's current state. Call it before
// changing the fields the keys derive from (Status, NotBefore, UpdatedAt).
func (w *wtx) unindex(r *record) error {
	if err := w.bucket(bucketStatus).Delete(statusKey(r.Status, r.ID)); err != nil {
		return fmt.Errorf("unindex %s: %w", r.ID, err)
	}
	w.count(r, -1)
	switch {
	case r.Status == queue.StatusQueued:
		if err := w.bucket(bucketReady).Delete(readyKey(r)); err != nil {
			return fmt.Errorf("unindex %s: %w", r.ID, err)
		}
	case r.Status.Final():
		if err := w.bucket(bucketFinal).Delete(finalKey(r)); err != nil {
			return fmt.Errorf("unindex %s: %w", r.ID, err)
		}
	}
	return nil
}

// index adds the index entries of r's current state.
func (w *wtx) index(r *record) error {
	if err := w.bucket(bucketStatus).Put(statusKey(r.Status, r.ID), nil); err != nil {
		return fmt.Errorf("index %s: %w", r.ID, err)
	}
	w.count(r, +1)
	switch {
	case r.Status == queue.StatusQueued:
		if err := w.bucket(bucketReady).Put(readyKey(r), nil); err != nil {
			return fmt.Errorf("index %s: %w", r.ID, err)
		}
		w.wake = true
	case r.Status.Final():
		if err := w.bucket(bucketFinal).Put(finalKey(r), nil); err != nil {
			return fmt.Errorf("index %s: %w", r.ID, err)
		}
	}
	return nil
}

// setStatus moves r to status, keeping the indexes in step, and writes it.
// mutate, when not nil, changes other fields between unindexing and
// reindexing.
func (w *wtx) setStatus(r *record, status queue.Status, mutate ...func(r *record)) error {
	if err := w.unindex(r); err != nil {
		return err
	}
	r.Status = status
	for _, m := range mutate {
		m(r)
	}
	if err := w.index(r); err != nil {
		return err
	}
	return w.putRecord(r)
}

// pingOp is a tiny write proving the store is writable.
type pingOp struct{ done }

func (o *pingOp) apply(w *wtx) error {
	return w.bucket(bucketMeta).Put([]byte("ping"), timeKey(w.now, ""))
}

var (
	_ waiter = (*enqueueOp)(nil)
	_ waiter = (*claimOp)(nil)
	_ waiter = (*finishOp)(nil)
	_ waiter = (*requeueOp)(nil)
	_ waiter = (*pingOp)(nil)
	_ waiter = (*sweepOp)(nil)
)
