package natsq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookgate/hookgate/gateway/queue"
)

// Finish records the report of a run this replica claimed: its outcomes
// (replacing the stored ones), status and error, and increments Finished;
// then it settles the message: acknowledged for a final status (and, for
// dead, a dead letter published first), negatively acknowledged with the
// delay up to RetryAt for queued (JetStream redelivers it then).
//
// The record is written before the message is settled: if the process
// dies in between, the redelivered message finds a final record and is
// dropped, or a queued one and runs at its time.
//
// Errors: queue.ErrNotFound for an unknown id, queue.ErrNotRunning when
// the delivery is not running under this replica's claim (not claimed,
// already finished, or taken over by another replica after AckWait),
// ErrInvalid for a status other than queued, done, failed or dead.
func (s *Store) Finish(ctx context.Context, id string, rep queue.Report) error {
	if rep.Status != queue.StatusQueued && !rep.Status.Final() {
		return fmt.Errorf("natsq: finish %s: %w: report status %q", id, ErrInvalid, rep.Status)
	}
	leave, err := s.enter()
	if err != nil {
		return fmt.Errorf("natsq: finish %s: %w", id, err)
	}
	defer leave()
	h, held := s.held.get(id)
	for {
		r, rev, err := s.getRecord(ctx, id)
		if err != nil {
			if errors.Is(err, queue.ErrNotFound) {
				s.held.take(id)
			}
			return fmt.Errorf("natsq: finish %s: %w", id, err)
		}
		if !held {
			return fmt.Errorf("natsq: finish %s: %w (it is %s)", id, queue.ErrNotRunning, r.Status)
		}
		if r.Status != queue.StatusRunning || r.Attempts != h.attempt {
			s.held.take(id)
			return fmt.Errorf("natsq: finish %s: %w (it is %s, attempt %d; this run was attempt %d)",
				id, queue.ErrNotRunning, r.Status, r.Attempts, h.attempt)
		}
		r.Status = rep.Status
		r.Outcomes = rep.Outcomes
		r.Error = rep.Error
		r.Finished++
		r.UpdatedAt = s.now()
		r.NotBefore = time.Time{}
		if rep.Status == queue.StatusQueued {
			r.NotBefore = rep.RetryAt
		}
		if _, err := s.putRecord(ctx, r, rev); errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			continue
		} else if err != nil {
			return fmt.Errorf("natsq: finish %s: %w", id, err)
		}
		m := s.held.take(id)
		if m == nil {
			return nil
		}
		switch rep.Status {
		case queue.StatusQueued:
			err = nakUntil(m, rep.RetryAt, s.now())
		case queue.StatusDead:
			s.deadLetter(ctx, r)
			err = m.Term()
		default:
			err = m.DoubleAck(ctx) // confirmed, so the work queue is empty when Finish returns
		}
		if err != nil {
			// The record is settled; the message comes back after AckWait
			// and is dropped or run at its time then.
			s.log.Warn("settling a finished delivery's message failed", "id", id, "err", err)
		}
		return nil
	}
}

// nakUntil puts m back to be redelivered at t.
func nakUntil(m jetstream.Msg, t, now time.Time) error {
	if d := t.Sub(now); d > 0 {
		return m.NakWithDelay(d)
	}
	return m.Nak()
}

// Requeue puts a final delivery back in the queue (replay), ready at once:
// the record goes back to queued (with rule empty every outcome is
// cleared, else only that rule's) with a new MsgID, then a new message is
// published; an older message of the delivery still around is dropped by
// Claim. Attempts is kept as history; Finished is set to Attempts, so the
// replay gets a fresh quarantine budget. If the publish fails the record
// is put back as it was.
//
// Errors: queue.ErrNotFound for an unknown id, queue.ErrNotFinal when the
// delivery is queued or running.
func (s *Store) Requeue(ctx context.Context, id, rule string) error {
	leave, err := s.enter()
	if err != nil {
		return fmt.Errorf("natsq: requeue %s: %w", id, err)
	}
	defer leave()
	for {
		r, rev, err := s.getRecord(ctx, id)
		if err != nil {
			return fmt.Errorf("natsq: requeue %s: %w", id, err)
		}
		if !r.Status.Final() {
			return fmt.Errorf("natsq: requeue %s: %w (it is %s)", id, queue.ErrNotFinal, r.Status)
		}
		old := *r
		var kept []queue.Outcome
		if rule != "" {
			for _, o := range r.Outcomes {
				if o.Rule != rule {
					kept = append(kept, o)
				}
			}
		}
		r.Outcomes = kept
		r.Status = queue.StatusQueued
		r.Error = ""
		r.Finished = r.Attempts
		r.NotBefore = time.Time{}
		r.UpdatedAt = s.now()
		r.MsgID = r.ID + "/r" + strconv.FormatUint(rev, 10)
		newRev, err := s.putRecord(ctx, r, rev)
		if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			continue
		}
		if err != nil {
			return fmt.Errorf("natsq: requeue %s: %w", id, err)
		}
		if err := s.publish(ctx, r); err != nil {
			if _, rerr := s.putRecord(context.WithoutCancel(ctx), &old, newRev); rerr != nil {
				s.log.Error("requeue: publish failed and the record could not be put back; the janitor republishes it",
					"id", id, "err", rerr)
			}
			return fmt.Errorf("natsq: requeue %s: %w", id, err)
		}
		return nil
	}
}

// deadLetter publishes a notice of r's death on the dead-letter stream
// (best effort: the record is what Requeue replays from).
func (s *Store) deadLetter(ctx context.Context, r *record) {
	body, _ := json.Marshal(map[string]any{
		"id": r.ID, "key": r.Key, "kind": r.Kind, "project": r.Project,
		"error": r.Error, "attempts": r.Attempts, "received_at": r.ReceivedAt,
	})
	m := nats.NewMsg(s.opts.Subject + ".dead." + token(r.ID))
	m.Data = body
	m.Header.Set("Hookgate-Id", r.ID)
	if _, err := s.js.PublishMsg(ctx, m); err != nil {
		s.log.Warn("publishing a dead letter failed", "id", r.ID, "err", err)
	}
}
