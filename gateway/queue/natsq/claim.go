package natsq

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookgate/hookgate/gateway/queue"
)

// Claim blocks until a message is delivered to this replica, or ctx ends,
// and returns its delivery marked running with Attempts incremented (the
// record's compare-and-set is acknowledged before Claim returns). Messages
// come in stream order; a retry comes back when its delay is over.
//
// On the way Claim settles messages that are not to run: a message whose
// record is final, or whose record names another message (a replayed
// delivery's old message), is acknowledged and dropped; one delivered
// before its record's NotBefore is put back with the remaining delay (it
// counts as a JetStream delivery, not as an attempt); a delivery whose
// unfinished runs (Attempts-Finished) reached Options.QuarantineAfter, or
// whose message reached the consumer's MaxDeliver, is marked dead and
// dead-lettered.
//
// Errors from JetStream while settling a message are logged and the
// message is put back; Claim then goes on waiting. It returns ctx.Err()
// when ctx ends and queue.ErrClosed once Close is called.
func (s *Store) Claim(ctx context.Context) (*queue.Delivery, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	leave, err := s.enter()
	if err != nil {
		return nil, fmt.Errorf("natsq: claim: %w", err)
	}
	leave()
	backoff := 50 * time.Millisecond
	for {
		m := s.disp.wait(ctx.Done())
		if m == nil {
			select {
			case <-s.done:
				return nil, fmt.Errorf("natsq: claim: %w", queue.ErrClosed)
			default:
				return nil, ctx.Err()
			}
		}
		d, err := s.take(context.WithoutCancel(ctx), m)
		if d != nil {
			return d, nil
		}
		if err == nil {
			backoff = 50 * time.Millisecond
			continue
		}
		if errors.Is(err, queue.ErrClosed) {
			_ = m.Nak()
			return nil, fmt.Errorf("natsq: claim: %w", err)
		}
		s.log.Error("settling a queue message failed; it goes back to the queue", "err", err)
		_ = m.NakWithDelay(backoff)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-s.done:
			return nil, fmt.Errorf("natsq: claim: %w", queue.ErrClosed)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// take decides what to do with one delivered message: it returns the
// claimed delivery, or nil and nil when the message was settled otherwise,
// or an error (the caller puts the message back).
func (s *Store) take(ctx context.Context, m jetstream.Msg) (*queue.Delivery, error) {
	leave, err := s.enter()
	if err != nil {
		return nil, err
	}
	defer leave()
	ctx, cancel := context.WithTimeout(ctx, DefaultOpTimeout)
	defer cancel()
	md, err := m.Metadata()
	if err != nil {
		_ = m.Term()
		s.log.Error("dropping a queue message without metadata", "err", err)
		return nil, nil
	}
	id := string(m.Data())
	msgID := m.Headers().Get(jetstream.MsgIDHeader)
	for {
		r, rev, err := s.getRecord(ctx, id)
		if errors.Is(err, queue.ErrNotFound) {
			s.log.Error("dropping a queue message whose delivery is not in the log", "id", id)
			_ = m.Term()
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		if r.MsgID != msgID || r.Status.Final() {
			_ = m.Ack() // stale: replayed since, or already settled
			return nil, nil
		}
		if s.held.redelivered(id, m) {
			return nil, nil // our own run: in-progress acks came late
		}
		now := s.now()
		reason, quarantined := "", false
		if q := s.opts.QuarantineAfter; q > 0 && r.Attempts-r.Finished >= q {
			reason = fmt.Sprintf("quarantined: %d runs did not finish", r.Attempts-r.Finished)
			quarantined = true
		} else if int(md.NumDelivered) >= s.opts.maxDeliver() {
			// JetStream delivers it no more: run it now or never.
			reason = fmt.Sprintf("delivery limit reached: %d deliveries", md.NumDelivered)
		} else if r.Status == queue.StatusQueued && r.NotBefore.After(now) {
			_ = m.NakWithDelay(r.NotBefore.Sub(now))
			return nil, nil
		}
		if reason != "" {
			err := s.kill(ctx, m, r, rev, reason)
			if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
				continue
			}
			if err == nil && quarantined && s.opts.OnQuarantine != nil {
				s.opts.OnQuarantine(id)
			}
			return nil, err
		}
		r.Status = queue.StatusRunning
		r.Attempts++
		r.UpdatedAt = now
		rev, err = s.putRecord(ctx, r, rev)
		if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			continue
		}
		if err != nil {
			return nil, err
		}
		e, err := s.envelopes.Get(ctx, token(id))
		var env []byte
		if err == nil {
			env = e.Value()
		} else if !errors.Is(err, jetstream.ErrKeyNotFound) {
			// Not held yet: put the message back; the unfinished attempt
			// counts, as for a crash.
			return nil, fmt.Errorf("read envelope %s: %w", id, err)
		}
		d, err := r.delivery(env)
		if err != nil {
			// An unreadable envelope would fail every run: give up on it.
			s.log.Error("claimed delivery is unreadable; marking it dead", "id", id, "err", err)
			if err := s.kill(ctx, m, r, rev, "unreadable: "+err.Error()); err != nil {
				return nil, err
			}
			return nil, nil
		}
		s.held.add(id, m, r.Attempts)
		return d, nil
	}
}

// kill marks the record dead with reason (compare-and-set at rev),
// publishes a dead letter and terminates the message.
func (s *Store) kill(ctx context.Context, m jetstream.Msg, r *record, rev uint64, reason string) error {
	r.Status = queue.StatusDead
	r.Error = reason
	r.NotBefore = time.Time{}
	r.UpdatedAt = s.now()
	if _, err := s.putRecord(ctx, r, rev); err != nil {
		return err
	}
	s.log.Warn("delivery dead-lettered", "id", r.ID, "reason", reason)
	s.deadLetter(ctx, r)
	_ = m.TermWithReason(reason)
	return nil
}

// held are the messages of the deliveries this replica is running.
type heldSet struct {
	mu sync.Mutex
	m  map[string]*heldMsg
}

type heldMsg struct {
	msg     jetstream.Msg
	attempt int // the record's Attempts when claimed
}

func newHeldSet() *heldSet { return &heldSet{m: map[string]*heldMsg{}} }

func (h *heldSet) add(id string, m jetstream.Msg, attempt int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.m[id] = &heldMsg{msg: m, attempt: attempt}
}

// redelivered swaps in m when id is held: JetStream redelivered a message
// this replica is still running.
func (h *heldSet) redelivered(id string, m jetstream.Msg) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	hm, ok := h.m[id]
	if ok {
		hm.msg = m
	}
	return ok
}

func (h *heldSet) get(id string) (heldMsg, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	hm, ok := h.m[id]
	if !ok {
		return heldMsg{}, false
	}
	return *hm, true
}

// take removes id and returns its current message.
func (h *heldSet) take(id string) jetstream.Msg {
	h.mu.Lock()
	defer h.mu.Unlock()
	hm := h.m[id]
	delete(h.m, id)
	if hm == nil {
		return nil
	}
	return hm.msg
}

func (h *heldSet) msgs() []jetstream.Msg {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]jetstream.Msg, 0, len(h.m))
	for _, hm := range h.m {
		out = append(out, hm.msg)
	}
	return out
}

// nakAll puts back every held message (Close with runs unfinished).
func (h *heldSet) nakAll() {
	h.mu.Lock()
	all := h.m
	h.m = map[string]*heldMsg{}
	h.mu.Unlock()
	for _, hm := range all {
		_ = hm.msg.Nak()
	}
}

// keepalive sends in-progress acks for held and spare messages every
// AckWait/3, so JetStream gives them to no other replica while this one
// is alive.
func (s *Store) keepalive() {
	defer s.bg.Done()
	t := time.NewTicker(max(s.opts.AckWait/3, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-s.disp.stop:
			return
		case <-t.C:
		}
		for _, m := range append(s.held.msgs(), s.disp.spares()...) {
			if err := m.InProgress(); err != nil {
				s.log.Warn("in-progress ack failed", "err", err)
			}
		}
	}
}
