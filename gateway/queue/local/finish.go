package local

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/hookgate/hookgate/gateway/queue"
)

// Finish records the report of a run of a running delivery: its outcomes
// (replacing the stored ones), status and error, and increments Finished.
// With Status queued the delivery goes back in the queue, ready at RetryAt
// (at once when zero); with a final status it leaves the queue.
//
// Errors: queue.ErrNotFound for an unknown id, queue.ErrNotRunning when the
// delivery is not running, ErrInvalid for a status other than queued, done,
// failed or dead.
func (s *Store) Finish(ctx context.Context, id string, r queue.Report) error {
	if r.Status != queue.StatusQueued && !r.Status.Final() {
		return fmt.Errorf("local: finish %s: %w: report status %q", id, ErrInvalid, r.Status)
	}
	outcomes, err := encodeOutcomes(r.Outcomes)
	if err != nil {
		return fmt.Errorf("local: finish %s: %w", id, err)
	}
	o := &finishOp{id: id, report: r, outcomes: outcomes}
	if err := s.do(ctx, o); err != nil {
		return fmt.Errorf("local: finish %s: %w", id, err)
	}
	return nil
}

type finishOp struct {
	done
	id       string
	report   queue.Report
	outcomes json.RawMessage
}

func (o *finishOp) apply(w *wtx) error {
	r, err := w.record(o.id)
	if err != nil {
		return err
	}
	if r == nil {
		return refuse(w.notStored(o.id, queue.ErrNotRunning))
	}
	if r.Status != queue.StatusRunning {
		return refuse(fmt.Errorf("%w (it is %s)", queue.ErrNotRunning, r.Status))
	}
	return w.setStatus(r, o.report.Status, func(r *record) {
		r.Outcomes = o.outcomes
		r.Error = o.report.Error
		r.Finished++
		r.UpdatedAt = w.now
		r.NotBefore = time.Time{}
		if r.Status == queue.StatusQueued {
			r.NotBefore = o.report.RetryAt
		}
	})
}

// Requeue puts a final delivery back in the queue (replay), ready at once.
// With rule empty every outcome is cleared, so every matching rule runs
// again; with rule set only that rule's outcomes are cleared.
//
// Attempts is kept as history, but Finished is set to Attempts: the
// unfinished-run count starts again from zero, so a quarantined delivery
// gets QuarantineAfter new runs. Error and NotBefore are cleared.
//
// Errors: queue.ErrNotFound for an unknown id, queue.ErrNotFinal when the
// delivery is queued or running.
func (s *Store) Requeue(ctx context.Context, id, rule string) error {
	if err := s.do(ctx, &requeueOp{id: id, rule: rule}); err != nil {
		return fmt.Errorf("local: requeue %s: %w", id, err)
	}
	return nil
}

type requeueOp struct {
	done
	id, rule string
}

func (o *requeueOp) apply(w *wtx) error {
	r, err := w.record(o.id)
	if err != nil {
		return err
	}
	if r == nil {
		return refuse(w.notStored(o.id, queue.ErrNotFinal))
	}
	if !r.Status.Final() {
		return refuse(fmt.Errorf("%w (it is %s)", queue.ErrNotFinal, r.Status))
	}
	var outcomes json.RawMessage
	if o.rule != "" {
		if outcomes, err = dropOutcome(r.Outcomes, o.rule); err != nil {
			return refuse(fmt.Errorf("delivery %s: %w", o.id, err))
		}
	}
	return w.setStatus(r, queue.StatusQueued, func(r *record) {
		r.Outcomes = outcomes
		r.Error = ""
		r.Finished = r.Attempts
		r.NotBefore = time.Time{}
		r.UpdatedAt = w.now
	})
}

// notStored is the answer about delivery id when bbolt does not hold it:
// queue.ErrNotFound, or wrong (queued) when it is logged only. Only the
// writer goroutine takes logged deliveries, so the answer holds until
// this transaction commits.
func (w *wtx) notStored(id string, wrong error) error {
	if w.s.in != nil {
		if _, ok := w.s.findLogged(id); ok {
			return fmt.Errorf("%w (it is %s)", wrong, queue.StatusQueued)
		}
	}
	return queue.ErrNotFound
}
