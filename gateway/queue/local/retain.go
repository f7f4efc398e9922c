package local

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/hookgate/hookgate/gateway/queue"
)

// sweepChunk bounds the deletions of one sweep transaction, so the writer
// never holds up enqueues for long.
const sweepChunk = 250

// Swept counts what one Sweep deleted.
type Swept struct {
	Deliveries int // final deliveries past retention
	Keys       int // idempotency keys past the dedupe window
}

// Sweep deletes idempotency keys older than the dedupe window and final
// deliveries past retention: those whose last change is older than
// RetainFor, and the oldest beyond the RetainCount most recently changed.
// Queued and running deliveries are never deleted. It works in bounded
// transactions through the writer until nothing is left to delete. The
// janitor does the same every SweepInterval, resting between the
// transactions (sweepPace).
func (s *Store) Sweep(ctx context.Context) (Swept, error) {
	return s.sweep(ctx, nil)
}

// sweepPace is how long the janitor rests after each sweep transaction, as
// a multiple of the time that transaction took (queueing for the writer
// included): a sweep after a busy minute deletes hundreds of thousands of
// deliveries, and back-to-back transactions of it would hold up every
// claim and finish (each waits for the writer) for seconds. Resting three
// times as long leaves the writer to the workers three quarters of the
// time; the janitor still deletes about 30,000 deliveries a second on 2
// cores (BenchmarkSweep: 8 µs each), more than the store ingests.
const sweepPace = 3

// sweep is Sweep; rest, when set, is called after each transaction but
// the last with how long it took, and ends the sweep early (with the
// counts so far and a nil error) by returning false.
func (s *Store) sweep(ctx context.Context, rest func(took time.Duration) bool) (Swept, error) {
	var total Swept
	next := &sweepOp{limit: s.sweepChunk}
	for {
		o := next
		start := time.Now()
		if err := s.do(ctx, o); err != nil {
			return total, fmt.Errorf("local: sweep: %w", err)
		}
		total.Deliveries += o.swept.Deliveries
		total.Keys += o.swept.Keys
		if !o.more {
			return total, nil
		}
		if rest != nil && !rest(time.Since(start)) {
			return total, nil
		}
		// Deleting maps every page it rewrites (and, by the kernel's
		// fault-around, 15 neighbours of each); a sweep after a burst
		// deletes hundreds of thousands of deliveries spread over the
		// file, faster than the releaser's interval: check between
		// transactions too.
		if s.opts.ReleaseInterval > 0 {
			s.releaseAbove(s.opts.ReleaseAbove)
		}
		next = &sweepOp{limit: s.sweepChunk}
	}
}

// runJanitor sweeps every interval until Close.
func (s *Store) runJanitor(interval time.Duration) {
	defer s.janitor.Done()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
		}
		// Once closed, the next submission fails with ErrClosed; the one
		// in flight is still answered by the draining writer.
		swept, err := s.sweep(context.Background(), s.restAfterSweep)
		switch {
		case errors.Is(err, queue.ErrClosed):
			return
		case err != nil:
			s.log.Error("janitor sweep failed", "err", err)
		case swept.Deliveries > 0 || swept.Keys > 0:
			s.log.Info("janitor swept", "deliveries", swept.Deliveries, "idempotency_keys", swept.Keys)
		}
	}
}

// restAfterSweep paces the janitor's sweep (see sweepPace); false when the
// store closes meanwhile.
func (s *Store) restAfterSweep(took time.Duration) bool {
	t := time.NewTimer(sweepPace * took)
	defer t.Stop()
	select {
	case <-s.done:
		return false
	case <-t.C:
		return true
	}
}

// sweepOp deletes at most limit keys and limit deliveries; more is set when
// it stopped at the limit.
type sweepOp struct {
	done
	limit int
	swept Swept
	more  bool
}

func (o *sweepOp) apply(w *wtx) error {
	o.swept, o.more = Swept{}, false
	if err := o.pruneKeys(w); err != nil {
		return err
	}
	return o.retain(w)
}

// pruneKeys drops idempotency keys older than the dedupe window.
func (o *sweepOp) pruneKeys(w *wtx) error {
	window := w.s.opts.DedupeWindow
	if window <= 0 {
		return nil
	}
	cutoff := nanos(w.now.Add(-window))
	var stale [][]byte
	c := w.bucket(bucketDedupeAt).Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		if at, _ := splitTimeKey(k); at >= cutoff {
			break
		}
		if len(stale) == o.limit {
			o.more = true
			break
		}
		stale = append(stale, bytes.Clone(k))
	}
	for _, k := range stale {
		// The key may have been stored again since (after expiring):
		// only drop it from the key index when its entry is the one
		// expiring here.
		at, _, ok, err := w.lookupKey(k[8:])
		if err != nil {
			return fmt.Errorf("prune key: %w", err)
		}
		if ok && at == binary.BigEndian.Uint64(k) {
			w.deleteKey(k[8:])
		}
		if err := w.bucket(bucketDedupeAt).Delete(k); err != nil {
			return fmt.Errorf("prune key: %w", err)
		}
		o.swept.Keys++
	}
	return nil
}

// retain deletes final deliveries past RetainFor or beyond RetainCount,
// oldest change first.
func (o *sweepOp) retain(w *wtx) error {
	opts := w.s.opts
	if opts.RetainFor < 0 && opts.RetainCount < 0 {
		return nil
	}
	var victims [][]byte
	final := w.bucket(bucketFinal)
	excess := 0 // final deliveries beyond RetainCount
	if opts.RetainCount >= 0 {
		// Counted by the writer (Store.finals): walking the final index
		// to count it mapped, through the kernel's fault-around, up to
		// 16 times its size of the file into the process at once (RSS
		// peaks of 234 MiB at every sweep of a 100,000-delivery store).
		excess = int(w.s.finals.Load()+w.finals) - opts.RetainCount
	}
	cutoff := uint64(0)
	if opts.RetainFor >= 0 {
		cutoff = nanos(w.now.Add(-opts.RetainFor))
	}
	c := final.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		if at, _ := splitTimeKey(k); len(victims) >= excess && at >= cutoff {
			break
		}
		if len(victims) == o.limit {
			o.more = true
			break
		}
		victims = append(victims, bytes.Clone(k))
	}
	for _, k := range victims {
		if err := final.Delete(k); err != nil {
			return fmt.Errorf("retention: %w", err)
		}
		_, id := splitTimeKey(k)
		r, err := w.record(id)
		if err != nil {
			return err
		}
		if r == nil || !r.Status.Final() {
			continue // stale index entry; never delete live work
		}
		if err := w.unindex(r); err != nil {
			return err
		}
		for _, b := range [][]byte{bucketDeliveries, bucketEnvelopes} {
			if err := w.bucket(b).Delete([]byte(id)); err != nil {
				return fmt.Errorf("retention: delete %s: %w", id, err)
			}
		}
		o.swept.Deliveries++
	}
	return nil
}
