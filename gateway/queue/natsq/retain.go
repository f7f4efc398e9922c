package natsq

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookgate/hookgate/gateway/queue"
)

// orphanGrace is how old a queued record must be before the janitor checks
// that its message exists: younger ones may belong to an enqueue or a
// requeue still in flight.
const orphanGrace = 2 * time.Minute

// Swept counts what one Sweep did.
type Swept struct {
	Deliveries  int // final deliveries deleted past retention
	Republished int // queued deliveries whose message was missing
}

// Sweep applies retention to the delivery log, like the local backend:
// final deliveries whose last change is older than RetainFor, and the
// oldest beyond the RetainCount most recently changed, are deleted (record
// and envelope). Queued and running deliveries are never deleted. It also
// republishes the message of a queued delivery that has none (an enqueue
// or a requeue that died between its record and its publish). It reads
// the whole log in one streaming request. Every replica sweeps; the work
// is idempotent. The dedupe bucket needs no sweep: its entries expire by
// the bucket's TTL.
func (s *Store) Sweep(ctx context.Context) (Swept, error) {
	var sw Swept
	leave, err := s.enter()
	if err != nil {
		return sw, fmt.Errorf("natsq: sweep: %w", err)
	}
	defer leave()
	w, err := s.records.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return sw, fmt.Errorf("natsq: sweep: %w", err)
	}
	type final struct {
		id string
		at time.Time
	}
	var finals []final
	var orphans []*record
	now := s.now()
	for e := range w.Updates() {
		if e == nil {
			break // every current value was sent
		}
		r, err := decodeRecord(e.Value())
		if err != nil {
			s.log.Warn("janitor: skipping an unreadable record", "key", e.Key(), "err", err)
			continue
		}
		switch {
		case r.Status.Final():
			finals = append(finals, final{r.ID, r.UpdatedAt})
		case r.Status == queue.StatusQueued && now.Sub(r.UpdatedAt) > orphanGrace:
			orphans = append(orphans, r)
		}
	}
	_ = w.Stop()
	if err := ctx.Err(); err != nil {
		return sw, err
	}

	slices.SortFunc(finals, func(a, b final) int { return b.at.Compare(a.at) }) // newest first
	for i, f := range finals {
		tooOld := s.opts.RetainFor > 0 && now.Sub(f.at) > s.opts.RetainFor
		tooMany := s.opts.RetainCount >= 0 && i >= s.opts.RetainCount
		if !tooOld && !tooMany {
			continue
		}
		if err := s.deleteDelivery(ctx, f.id); err != nil {
			return sw, fmt.Errorf("natsq: sweep: %w", err)
		}
		sw.Deliveries++
	}
	for _, r := range orphans {
		ok, err := s.republishOrphan(ctx, r)
		if err != nil {
			return sw, fmt.Errorf("natsq: sweep: %w", err)
		}
		if ok {
			sw.Republished++
		}
	}
	if sw.Deliveries > 0 {
		if err := s.records.PurgeDeletes(ctx); err != nil {
			s.log.Warn("janitor: purging delete markers failed", "err", err)
		}
		if err := s.envelopes.PurgeDeletes(ctx); err != nil {
			s.log.Warn("janitor: purging delete markers failed", "err", err)
		}
	}
	return sw, nil
}

// deleteDelivery removes a final delivery's record and envelope, unless it
// was replayed meanwhile.
func (s *Store) deleteDelivery(ctx context.Context, id string) error {
	r, rev, err := s.getRecord(ctx, id)
	if errors.Is(err, queue.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if !r.Status.Final() {
		return nil
	}
	if err := s.records.Purge(ctx, token(id), jetstream.LastRevision(rev)); err != nil {
		if errors.Is(err, jetstream.ErrKeyRevisionMismatch) || isWrongLast(err) {
			return nil // changed meanwhile: keep it
		}
		return fmt.Errorf("delete record %s: %w", id, err)
	}
	if err := s.envelopes.Purge(ctx, token(id)); err != nil {
		return fmt.Errorf("delete envelope %s: %w", id, err)
	}
	return nil
}

// isWrongLast reports a compare-and-set refusal of a purge.
func isWrongLast(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}

// republishOrphan publishes r's message if the stream has none and r did
// not change meanwhile.
func (s *Store) republishOrphan(ctx context.Context, r *record) (bool, error) {
	has, err := s.hasMessage(ctx, r)
	if err != nil || has {
		return false, err
	}
	now, _, err := s.getRecord(ctx, r.ID)
	if errors.Is(err, queue.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if now.Status != queue.StatusQueued || now.MsgID != r.MsgID || !now.UpdatedAt.Equal(r.UpdatedAt) {
		return false, nil
	}
	s.log.Warn("janitor: republishing a queued delivery that had no message", "id", r.ID)
	return true, s.publish(ctx, now)
}

// runJanitor sweeps every interval until Close.
func (s *Store) runJanitor(interval time.Duration) {
	defer s.bg.Done()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(s.bgCtx, interval)
		sw, err := s.Sweep(ctx)
		cancel()
		switch {
		case errors.Is(err, queue.ErrClosed) || s.bgCtx.Err() != nil:
			return
		case err != nil:
			s.log.Error("janitor sweep failed", "err", err)
		case sw.Deliveries > 0 || sw.Republished > 0:
			s.log.Info("janitor swept", "deliveries", sw.Deliveries, "republished", sw.Republished)
		}
	}
}
