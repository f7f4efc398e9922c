package local

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hookgate/hookgate/gateway/queue"
)

// Limits of the ingest path.
const (
	walMaxBatch      = 4096                 // enqueues per log write
	walMaxBatchBytes = 16 << 20             // bytes per log write (a single bigger delivery still goes alone)
	walMaxInflight   = 64 << 20             // logged bytes not yet in bbolt before enqueues wait for the mover
	moveMaxRecords   = 2048                 // records per move transaction
	moveEvery        = 2 * time.Millisecond // least time between two moves, under load
)

// ingest is the state shared by the log writer, the mover and the readers:
// which deliveries are logged but not yet in bbolt. Guarded by mu.
type ingest struct {
	mu       sync.Mutex
	room     *sync.Cond             // signalled when inflight bytes shrink
	keys     map[string]pendingKey  // idempotency key -> logged delivery
	ids      map[string]*walBatch   // delivery id -> its batch
	inflight map[*walBatch]struct{} // logged batches not yet in bbolt
	bytes    int64                  // their size
	gaveUp   bool                   // a move failed during Close: later ones must not land either

	reqs      chan *enqueueOp // to the log writer
	walDone   chan struct{}   // closed when the log writer returns
	moves     chan *walBatch  // log writer -> mover
	moverDone chan struct{}   // closed when the mover returns
	err       error           // sticky log failure; set and read under mu
	moveErr   error           // the last move's failure, nil once one succeeds; under mu

	// fault, when set (by tests), fails moves with its error.
	fault atomic.Pointer[error]
}

// pendingKey is an idempotency key of a logged delivery.
type pendingKey struct {
	id string
	at time.Time
}

// walBatch is one log write: the deliveries it logged, the log position
// after it, and a channel closed once they are in bbolt.
type walBatch struct {
	ops     []*enqueueOp
	pos     walPos
	size    int64
	applied chan struct{}
}

func newIngest() *ingest {
	in := &ingest{
		keys:      map[string]pendingKey{},
		ids:       map[string]*walBatch{},
		inflight:  map[*walBatch]struct{}{},
		reqs:      make(chan *enqueueOp, walMaxBatch),
		walDone:   make(chan struct{}),
		moves:     make(chan *walBatch, 64),
		moverDone: make(chan struct{}),
	}
	in.room = sync.NewCond(&in.mu)
	return in
}

// appendWAL hands o to the log writer and waits for its answer or ctx.
func (s *Store) appendWAL(ctx context.Context, o *enqueueOp) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return queue.ErrClosed
	}
	o.prepare()
	s.in.reqs <- o // the log writer keeps draining
	s.mu.RUnlock()
	select {
	case <-o.waitCh():
		return o.result()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// runWAL is the log writer: it takes every enqueue waiting, decides which
// are new, appends those with one write and one fdatasync, answers all of
// them, then hands the batch to the mover.
func (s *Store) runWAL() {
	defer close(s.in.walDone)
	defer close(s.in.moves)
	batch := make([]*enqueueOp, 0, walMaxBatch)
	for first := range s.in.reqs {
		batch = append(batch[:0], first)
		size := len(first.rec) + len(first.env)
	fill:
		for len(batch) < walMaxBatch && size < walMaxBatchBytes {
			select {
			case o, ok := <-s.in.reqs:
				if !ok {
					break fill
				}
				batch = append(batch, o)
				size += len(o.rec) + len(o.env)
			default:
				break fill
			}
		}
		s.logBatch(batch)
		clear(batch)
	}
}

// logBatch logs one batch and answers its callers.
func (s *Store) logBatch(batch []*enqueueOp) {
	in := s.in
	in.mu.Lock()
	for in.bytes > walMaxInflight && in.err == nil {
		in.room.Wait() // the mover is behind: wait for room
	}
	err := in.err
	in.mu.Unlock()
	if err != nil {
		replyAll(batch, err)
		return
	}
	b := &walBatch{applied: make(chan struct{})}
	answers, err := s.decide(batch, b)
	if err != nil {
		replyAll(batch, err)
		return
	}
	if len(b.ops) == 0 { // duplicates and refusals only: nothing to write
		for i, o := range batch {
			o.reply(answers[i])
		}
		return
	}
	turn := s.wal.end >= s.wal.rotateAt
	if turn {
		// The other file is reused: what it holds must all be in bbolt.
		// It was left a whole turn ago, so this rarely waits.
		other := s.wal.other()
		in.mu.Lock()
		for in.err == nil && holdsGen(in.inflight, b, other) {
			in.room.Wait()
		}
		in.mu.Unlock()
	}
	if err := s.wal.append(b.ops, turn); err != nil {
		s.log.Error("ingest log write failed; refusing deliveries until restart", "err", err)
		in.mu.Lock()
		in.err = err
		in.mu.Unlock()
		s.settled([]*walBatch{b}) // never logged: forget it
		replyAll(batch, err)
		return
	}
	b.pos = walPos{gen: s.wal.gen(), off: s.wal.end}
	s.commits.Add(1)
	s.committed.Add(uint64(len(batch)))
	for i, o := range batch {
		o.reply(answers[i])
	}
	in.moves <- b
}

// holdsGen reports whether a batch of generation gen, other than self
// (not logged yet), is not in bbolt yet.
func holdsGen(inflight map[*walBatch]struct{}, self *walBatch, gen uint64) bool {
	for b := range inflight {
		if b != self && b.pos.gen == gen {
			return true
		}
	}
	return false
}

func replyAll(batch []*enqueueOp, err error) {
	for _, o := range batch {
		o.reply(err)
	}
}

// decide finds, in order, which enqueues of batch are new; it sets each
// op's receipt, returns each op's refusal (nil when none), and registers
// the new ones as logged in b. Deduplication is exact: a key is looked up
// among the logged deliveries first, then in bbolt in a read transaction
// begun afterwards; the mover drops a key from the logged set only after
// the transaction storing it committed, so every key is seen in one place
// or the other.
func (s *Store) decide(batch []*enqueueOp, b *walBatch) ([]error, error) {
	in := s.in
	window := s.opts.DedupeWindow
	answers := make([]error, len(batch))
	open := make([]bool, len(batch)) // still undecided after the logged set
	in.mu.Lock()
	for i, o := range batch {
		o.receipt = queue.Receipt{}
		if window > 0 && o.r.Key != "" {
			if p, ok := in.keys[o.r.Key]; ok && o.at.Sub(p.at) < window {
				o.receipt = queue.Receipt{ID: p.id, Duplicate: true}
				continue
			}
		}
		if _, ok := in.ids[o.r.ID]; ok {
			answers[i] = fmt.Errorf("%w: %s", ErrDuplicateID, o.r.ID)
			continue
		}
		open[i] = true
	}
	in.mu.Unlock()

	tx, err := s.db.Begin(false)
	if err != nil {
		return nil, fmt.Errorf("local: begin read: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	deliveries := tx.Bucket(bucketDeliveries)
	var keys map[string]pendingKey // new in this batch
	var ids map[string]bool
	for i, o := range batch {
		if !open[i] {
			continue
		}
		if window > 0 && o.r.Key != "" {
			if p, ok := keys[o.r.Key]; ok && o.at.Sub(p.at) < window {
				o.receipt = queue.Receipt{ID: p.id, Duplicate: true}
				continue
			}
			o.lookedUp, o.expired = true, false
			at, first, found, err := s.keys.lookup(tx, []byte(o.r.Key))
			if err != nil {
				answers[i] = err
				continue
			}
			if found {
				if o.at.Sub(time.Unix(0, int64(at))) < window {
					o.receipt = queue.Receipt{ID: first, Duplicate: true}
					continue
				}
				o.expired, o.expiredAt = true, at // the mover replaces it
			}
		}
		if !o.generated {
			if ids[o.r.ID] || deliveries.Get([]byte(o.r.ID)) != nil {
				answers[i] = fmt.Errorf("%w: %s", ErrDuplicateID, o.r.ID)
				continue
			}
			if ids == nil {
				ids = map[string]bool{}
			}
			ids[o.r.ID] = true
		}
		if o.r.Key != "" && window > 0 {
			if keys == nil {
				keys = map[string]pendingKey{}
			}
			keys[o.r.Key] = pendingKey{id: o.r.ID, at: o.at}
		}
		o.receipt = queue.Receipt{ID: o.r.ID}
		b.ops = append(b.ops, o)
		b.size += int64(len(o.rec) + len(o.env))
	}
	if len(b.ops) == 0 {
		return answers, nil
	}
	in.mu.Lock()
	for _, o := range b.ops {
		if window > 0 && o.r.Key != "" {
			in.keys[o.r.Key] = pendingKey{id: o.r.ID, at: o.at}
		}
		in.ids[o.r.ID] = b
	}
	in.inflight[b] = struct{}{}
	in.bytes += b.size
	in.mu.Unlock()
	return answers, nil
}

// runMover applies logged batches to bbolt, in log order, merging those
// waiting into one transaction (through the writer, so they share its
// commits with claims and finishes).
func (s *Store) runMover() {
	defer close(s.in.moverDone)
	var last time.Time // when the previous move committed
	for b := range s.in.moves {
		batches, n := []*walBatch{b}, len(b.ops)
		// Under load, gather batches until moveEvery has passed since the
		// previous move: each bbolt commit rewrites the pages of seven
		// buckets, so bigger moves cost less per delivery. When idle,
		// the first batch moves at once.
		var wait <-chan time.Time
		var timer *time.Timer
		if d := moveEvery - time.Since(last); d > 0 {
			timer = time.NewTimer(d)
			wait = timer.C
		}
	fill:
		for n < moveMaxRecords {
			select {
			case nb, ok := <-s.in.moves:
				if !ok {
					break fill
				}
				batches = append(batches, nb)
				n += len(nb.ops)
				continue
			default:
			}
			if wait == nil {
				break fill
			}
			select {
			case nb, ok := <-s.in.moves:
				if !ok {
					break fill
				}
				batches = append(batches, nb)
				n += len(nb.ops)
			case <-wait:
				break fill
			}
		}
		if timer != nil {
			timer.Stop()
		}
		s.move(batches)
		last = time.Now()
	}
}

// move applies batches in one transaction, retrying on failure until it
// succeeds or the store closes (the batches then stay in the log and are
// replayed by the next Open).
func (s *Store) move(batches []*walBatch) {
	o := &moveOp{batches: batches}
	delay := 100 * time.Millisecond
	for {
		s.in.mu.Lock()
		gaveUp := s.in.gaveUp
		s.in.mu.Unlock()
		if gaveUp {
			s.settled(batches)
			return
		}
		o.prepare()
		s.ops <- o // open until the mover is done
		<-o.waitCh()
		err := o.result()
		s.in.mu.Lock()
		s.in.moveErr = err
		s.in.mu.Unlock()
		if err == nil {
			s.settled(batches)
			return
		}
		s.log.Error("moving acknowledged deliveries from the ingest log into the store failed; retrying", "err", err)
		select {
		case <-s.done:
			s.log.Error("store closing: the deliveries stay in the ingest log and are stored at the next start")
			s.in.mu.Lock()
			s.in.gaveUp = true
			s.in.mu.Unlock()
			s.settled(batches)
			return
		case <-time.After(delay):
			delay = min(2*delay, 5*time.Second)
		}
	}
}

// settled forgets batches as logged-only (they are in bbolt now, or were
// never logged) and wakes whoever waits for them.
func (s *Store) settled(batches []*walBatch) {
	in := s.in
	in.mu.Lock()
	for _, b := range batches {
		for _, o := range b.ops {
			if in.ids[o.r.ID] == b {
				delete(in.ids, o.r.ID)
			}
			if p, ok := in.keys[o.r.Key]; ok && p.id == o.r.ID {
				delete(in.keys, o.r.Key)
			}
		}
		if _, ok := in.inflight[b]; ok {
			delete(in.inflight, b)
			in.bytes -= b.size
		}
	}
	in.room.Broadcast()
	in.mu.Unlock()
	for _, b := range batches {
		close(b.applied)
	}
}

// moveOp stores logged deliveries in bbolt and records the log position
// they reach, in the same transaction.
type moveOp struct {
	done
	batches []*walBatch
}

func (o *moveOp) apply(w *wtx) error {
	if err := w.s.in.fault.Load(); err != nil {
		return *err
	}
	for _, b := range o.batches {
		for _, e := range b.ops {
			if err := e.store(w); err != nil {
				return err
			}
		}
	}
	last := o.batches[len(o.batches)-1].pos
	if err := w.bucket(bucketMeta).Put(walPosKey, last.bytes()); err != nil {
		return fmt.Errorf("record ingest log position: %w", err)
	}
	return nil
}

var _ waiter = (*moveOp)(nil)

// settle waits until every delivery acknowledged before the call is in
// bbolt, so reads see it.
func (s *Store) settle(ctx context.Context) error {
	if s.in == nil {
		return nil
	}
	s.in.mu.Lock()
	waits := make([]chan struct{}, 0, len(s.in.inflight))
	for b := range s.in.inflight {
		waits = append(waits, b.applied)
	}
	s.in.mu.Unlock()
	for _, ch := range waits {
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// settleID waits until delivery id, if it is logged only, is in bbolt.
func (s *Store) settleID(ctx context.Context, id string) error {
	if s.in == nil {
		return nil
	}
	s.in.mu.Lock()
	b := s.in.ids[id]
	s.in.mu.Unlock()
	if b == nil {
		return nil
	}
	select {
	case <-b.applied:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// loggedDeliveries lists the records of the deliveries logged but not yet
// in bbolt.
func (s *Store) loggedDeliveries() []*record {
	if s.in == nil {
		return nil
	}
	s.in.mu.Lock()
	defer s.in.mu.Unlock()
	out := make([]*record, 0, len(s.in.ids))
	for b := range s.in.inflight {
		for _, o := range b.ops {
			out = append(out, o.r)
		}
	}
	return out
}

// ingestErr is the sticky log failure, if any, else the failure of the
// last move into bbolt while moves keep failing (a full disk: the log
// still takes deliveries, in its preallocated files, until the moves are
// too far behind).
func (s *Store) ingestErr() error {
	if s.in == nil {
		return nil
	}
	s.in.mu.Lock()
	defer s.in.mu.Unlock()
	if s.in.err != nil {
		return s.in.err
	}
	if s.in.moveErr != nil {
		return fmt.Errorf("moving logged deliveries into the store fails: %w", s.in.moveErr)
	}
	return nil
}
