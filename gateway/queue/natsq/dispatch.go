package natsq

import (
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// pullWait bounds one pull request. It is short so that Close does not
// wait long for an outstanding pull.
const pullWait = time.Second

// dispatcher is the one goroutine that pulls messages from the consumer,
// for the Claim calls waiting at that moment: a pull asks for as many
// messages as there are waiting claimers, so a replica never takes work it
// has no idle worker for. A pull request cannot be withdrawn, so a claimer
// that gives up (ctx ended) does not cancel it; a message arriving with
// nobody waiting is kept as a spare (with in-progress acks) for the next
// Claim, and put back (nak) on Close.
type dispatcher struct {
	s    *Store
	wake chan struct{} // capacity 1: a claimer started waiting
	stop chan struct{}

	mu      sync.Mutex
	waiters []*waiter
	spare   []jetstream.Msg
}

type waiter struct{ ch chan jetstream.Msg } // capacity 1

func newDispatcher(s *Store) *dispatcher {
	return &dispatcher{s: s, wake: make(chan struct{}, 1), stop: make(chan struct{})}
}

// wait returns the next message for one claimer, or nil when done is
// closed or giveUp fires.
func (d *dispatcher) wait(giveUp <-chan struct{}) jetstream.Msg {
	d.mu.Lock()
	if len(d.spare) > 0 {
		m := d.spare[0]
		d.spare = d.spare[1:]
		d.mu.Unlock()
		return m
	}
	w := &waiter{ch: make(chan jetstream.Msg, 1)}
	d.waiters = append(d.waiters, w)
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
	select {
	case m := <-w.ch:
		return m
	case <-giveUp:
	case <-d.s.done:
	}
	d.mu.Lock()
	i := slices.Index(d.waiters, w)
	if i >= 0 {
		d.waiters = slices.Delete(d.waiters, i, i+1)
	}
	d.mu.Unlock()
	if i < 0 { // a message was handed to w meanwhile: pass it on
		d.deliver(<-w.ch)
	}
	return nil
}

// deliver hands m to the longest-waiting claimer, or keeps it as a spare.
func (d *dispatcher) deliver(m jetstream.Msg) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.waiters) > 0 {
		w := d.waiters[0]
		d.waiters = d.waiters[1:]
		w.ch <- m
		return
	}
	d.spare = append(d.spare, m)
}

// demand is how many messages to pull now.
func (d *dispatcher) demand() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return min(len(d.waiters), 64)
}

// spares returns the spare messages (for the keepalive).
func (d *dispatcher) spares() []jetstream.Msg {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.spare)
}

// run pulls while claimers wait, until close.
func (d *dispatcher) run() {
	defer d.s.bg.Done()
	backoff := 50 * time.Millisecond
	for {
		select {
		case <-d.stop:
			return
		case <-d.wake:
		}
		for n := d.demand(); n > 0; n = d.demand() {
			select {
			case <-d.stop:
				return
			default:
			}
			err := d.pull(n)
			if err == nil {
				backoff = 50 * time.Millisecond
				continue
			}
			d.s.log.Warn("pulling from the queue failed; retrying", "err", err, "in", backoff.String())
			select {
			case <-d.stop:
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 5*time.Second)
		}
	}
}

// pull fetches up to n messages and hands each out as it arrives.
func (d *dispatcher) pull(n int) error {
	batch, err := d.s.cons.Fetch(n, jetstream.FetchMaxWait(pullWait))
	if err != nil {
		return err
	}
	for m := range batch.Messages() {
		d.deliver(m)
	}
	if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
		return err
	}
	return nil
}

// close stops the puller (after its current pull) and puts the spare
// messages back. Waiting claimers leave on the store's done channel.
func (d *dispatcher) close() {
	close(d.stop)
}

// nakSpares puts back every spare message; called once the puller ended.
func (d *dispatcher) nakSpares() {
	d.mu.Lock()
	spare := d.spare
	d.spare = nil
	d.mu.Unlock()
	for _, m := range spare {
		_ = m.Nak()
	}
}
