package local

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/hookgate/hookgate/gateway/queue"
)

// Claim blocks until a delivery is ready (queued, NotBefore passed) or ctx
// ends, and returns it marked running with Attempts incremented; that state
// is fsynced before Claim returns. Deliveries come in the order they became
// ready (NotBefore, or when they were queued), then by id.
//
// A delivery whose unfinished runs (Attempts-Finished) reached
// Options.QuarantineAfter is marked dead instead, with Error
// "quarantined: N runs did not finish", and Claim looks further.
//
// Once the claim is handed to the writer, Claim waits for its commit even if
// ctx ends meanwhile and returns the claimed delivery: it then belongs to
// the caller, who must Finish it. A Claim waiting when Close is called
// returns queue.ErrClosed.
func (s *Store) Claim(ctx context.Context) (*queue.Delivery, error) {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		wake := s.wakeCh() // taken before looking, so no wake-up is missed
		o := &claimOp{}
		if err := s.submit(ctx, o); err != nil {
			return nil, fmt.Errorf("local: claim: %w", err)
		}
		<-o.waitCh()
		if err := o.result(); err != nil {
			return nil, fmt.Errorf("local: claim: %w", err)
		}
		if f := s.opts.OnQuarantine; f != nil {
			for _, id := range o.quarantined {
				f(id)
			}
		}
		if o.got != nil {
			d, err := o.claimed()
			if err == nil {
				return d, nil
			}
			// An unreadable envelope would fail every run: give up on it.
			s.log.Error("claimed delivery is unreadable; marking it dead", "id", o.got.ID, "err", err)
			if ferr := s.Finish(context.WithoutCancel(ctx), o.got.ID, queue.Report{
				Status: queue.StatusDead, Error: "unreadable: " + err.Error(),
			}); ferr != nil {
				return nil, fmt.Errorf("local: claim: %w", ferr)
			}
			continue
		}

		var due <-chan time.Time
		if !o.next.IsZero() {
			wait := max(o.next.Sub(s.now()), time.Millisecond)
			if timer == nil {
				timer = time.NewTimer(wait)
			} else {
				timer.Reset(wait)
			}
			due = timer.C
		}
		select {
		case <-wake:
		case <-due:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-s.done:
			return nil, queue.ErrClosed
		}
	}
}

// maxAside is the most delayed logged deliveries one claim stores in the
// ready index before it lets the transaction commit.
const maxAside = 256

// claimOp takes the first ready delivery, quarantining on the way those
// that kept killing the process.
type claimOp struct {
	done
	got   *record   // claimed delivery, nil if none was ready
	env   []byte    // its envelope (copied out of the transaction)
	next  time.Time // when nothing was ready: when the first queued one will be
	wrote bool
	// quarantined are the ids marked dead on the way
	quarantined []string
}

func (o *claimOp) wroteNothing() bool { return !o.wrote }

func (o *claimOp) apply(w *wtx) error {
	o.got, o.env, o.next, o.wrote, o.quarantined = nil, nil, time.Time{}, false, nil
	ready := w.bucket(bucketReady)
	now := nanos(w.now)
	aside := 0
	for {
		// The first delivery still only in the ingest log competes with
		// the first of the ready index: the one ready first wins.
		e, logged := w.nextLogged()
		if logged && e.delayed {
			// Enqueued with a NotBefore: into the ready index, which
			// orders it by that time (Enqueue has the mover put it there
			// before it answers; this is for a claim that comes first).
			if aside == maxAside {
				o.next = w.now // claim again at once, in a new transaction
				return nil
			}
			aside++
			o.wrote = true
			if err := w.moveLogged(e); err != nil {
				return err
			}
			continue
		}
		k, _ := ready.Cursor().First()
		var at uint64
		var id string
		if k != nil {
			at, id = splitTimeKey(k)
		}
		// A logged delivery is ready from its enqueue (which may come
		// after this transaction began): it goes first unless the ready
		// index has one ready now and earlier.
		if logged && (k == nil || at > now || uint64(e.ready) <= at) {
			o.wrote = true
			d, err := w.takeLogged(e)
			if err != nil {
				return err
			}
			if d == nil {
				continue
			}
			if w.bucket(bucketDeliveries).Get([]byte(d.r.ID)) != nil { // never expected: Enqueue refuses duplicate ids
				w.s.log.Error("logged delivery already stored; keeping the stored one", "id", d.r.ID)
				continue
			}
			return o.claimLogged(w, d)
		}
		if k == nil {
			return nil
		}
		if at > now {
			o.next = time.Unix(0, int64(at))
			return nil
		}
		k = bytes.Clone(k)
		o.wrote = true // every path below writes
		r, err := w.record(id)
		if err != nil {
			return err
		}
		if r == nil || r.Status != queue.StatusQueued {
			// A stale entry (never expected): drop it and look further.
			w.s.log.Error("dropping stale ready index entry", "id", id)
			if err := ready.Delete(k); err != nil {
				return fmt.Errorf("drop stale ready entry: %w", err)
			}
			continue
		}
		if err := ready.Delete(k); err != nil { // in case readyKey(r) differs
			return fmt.Errorf("claim %s: %w", id, err)
		}
		if q := w.s.opts.QuarantineAfter; q > 0 && r.Attempts-r.Finished >= q {
			n := r.Attempts - r.Finished
			if err := w.setStatus(r, queue.StatusDead, func(r *record) {
				r.Error = fmt.Sprintf("quarantined: %d runs did not finish", n)
				r.NotBefore = time.Time{}
				r.UpdatedAt = w.now
			}); err != nil {
				return err
			}
			w.s.log.Warn("delivery quarantined", "id", id, "unfinished_runs", n)
			o.quarantined = append(o.quarantined, id)
			continue
		}
		if err := w.setStatus(r, queue.StatusRunning, func(r *record) {
			r.Attempts++
			r.UpdatedAt = w.now
		}); err != nil {
			return err
		}
		o.got = r
		o.env = bytes.Clone(w.bucket(bucketEnvelopes).Get([]byte(id)))
		return nil
	}
}

// claimLogged claims a delivery taken from the ingest log: it is stored
// in bbolt once, already running (the move and the claim in one write).
func (o *claimOp) claimLogged(w *wtx, d *enqueueOp) error {
	r := d.r
	r.Status, r.Attempts, r.UpdatedAt = queue.StatusRunning, 1, w.now
	rec, err := encodeRecord(r)
	if err != nil {
		return err
	}
	d.rec = rec
	if err := d.store(w); err != nil {
		return err
	}
	o.got, o.env = r, d.env
	return nil
}

// claimed is the full delivery claimed by o.
func (o *claimOp) claimed() (*queue.Delivery, error) {
	if o.env == nil {
		return nil, fmt.Errorf("delivery %s: envelope missing", o.got.ID)
	}
	return o.got.delivery(o.env)
}
