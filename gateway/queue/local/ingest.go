package local

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/hookgate/hookgate/gateway/queue"
)

// Limits of the ingest path.
const (
	walMaxBatch      = 4096     // enqueues per log write
	walMaxBatchBytes = 16 << 20 // bytes per log write (a single bigger delivery still goes alone)
	moveMaxRecords   = 1000     // records per move transaction
	// Past either bound the mover stores logged deliveries in bbolt ahead
	// of the workers; past a quarter more, enqueues wait for it. 1 GiB is
	// about 500,000 deliveries of 4 KB (compressed to 2 KB): half a
	// minute of a full-speed burst with no worker taking any. The queue
	// of logged deliveries costs 50-70 bytes of memory each.
	loggedMoveBytes = 1 << 30
	loggedMoveCount = 500_000
)

// ingest is the state shared by the log writer, the writer goroutine
// (which takes logged deliveries into bbolt), the mover and the readers.
// Guarded by mu.
type ingest struct {
	mu sync.Mutex
	q  *loggedQueue // the deliveries logged and not in bbolt, in log order
	// applied is the log position up to which records are in bbolt:
	// segments of older generations are free.
	applied walPos
	// flushTo asks the mover to take every entry numbered below it.
	flushTo uint64
	// moveBytes and moveCount are the bounds past which the mover moves
	// (loggedMoveBytes, loggedMoveCount; lowered by tests).
	moveBytes int64
	moveCount int
	moving    *sync.Cond    // wakes the mover
	room      *sync.Cond    // wakes the log writer waiting for the mover
	popped    chan struct{} // closed and replaced whenever entries are taken
	closing   bool          // Close began: the log writer stops waiting for room
	stop      bool          // the mover is to return
	err       error         // sticky log failure
	noSpace   error         // the last log write's lack of room, nil once one succeeds
	noSpaceAt time.Time     // when it failed
	moveErr   error         // the last move's failure, nil once one succeeds

	reqs      chan *enqueueOp // to the log writer
	walDone   chan struct{}   // closed when the log writer returns
	moverDone chan struct{}   // closed when the mover returns
	prepDone  chan struct{}   // closed when the segment preparer returns

	// fault, when set (by tests), fails every taking of a logged delivery
	// with its error.
	fault atomic.Pointer[error]
}

func newIngest(applied walPos) *ingest {
	in := &ingest{
		q:         newLoggedQueue(),
		applied:   applied,
		moveBytes: loggedMoveBytes,
		moveCount: loggedMoveCount,
		popped:    make(chan struct{}),
		reqs:      make(chan *enqueueOp, walMaxBatch),
		walDone:   make(chan struct{}),
		moverDone: make(chan struct{}),
		prepDone:  make(chan struct{}),
	}
	in.moving = sync.NewCond(&in.mu)
	in.room = sync.NewCond(&in.mu)
	return in
}

// mustMove reports whether the mover has work: the backlog is past its
// bounds, or a reader waits for entries. Under mu.
func (in *ingest) mustMove() bool {
	q := in.q
	return q.n > 0 && (q.bytes > in.moveBytes || q.n > in.moveCount || in.flushTo > q.seq)
}

// full reports whether enqueues must wait for the mover. Under mu.
func (in *ingest) full() bool {
	return in.q.bytes > in.moveBytes+in.moveBytes/4 || in.q.n > in.moveCount+in.moveCount/4
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
	select {
	case s.in.reqs <- o: // the log writer keeps draining, unless it waits for room
	case <-ctx.Done():
		s.mu.RUnlock()
		return ctx.Err()
	}
	s.mu.RUnlock()
	select {
	case <-o.waitCh():
		return o.result()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// runWAL is the log writer: it takes every enqueue waiting, decides which
// are new, appends those with one write and one fdatasync, queues them as
// logged, wakes the claimers and answers every enqueue.
//
// Woken by the first enqueue, it yields once before taking the others:
// the handlers that are runnable then (woken by the previous batch's
// answers, or parsing their next delivery) get to add theirs, so each
// fdatasync (60-80 us of the kernel's CPU here) carries more deliveries.
// Measured in 6 alternating pairs of 6 s runs: 10% more deliveries per
// second (median), 6.4 to 8 per write.
func (s *Store) runWAL() {
	defer close(s.in.walDone)
	batch := make([]*enqueueOp, 0, walMaxBatch)
	for first := range s.in.reqs {
		runtime.Gosched()
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
	for in.err == nil && !in.closing && in.full() {
		in.room.Wait() // the mover is behind: wait for room
	}
	err, applied := in.err, in.applied.gen
	in.mu.Unlock()
	if err != nil {
		replyAll(batch, err)
		return
	}
	fresh, answers, err := s.decide(batch)
	if err != nil {
		replyAll(batch, err)
		return
	}
	if len(fresh) > 0 {
		err := s.logFresh(fresh, applied)
		in.mu.Lock()
		switch {
		case err == nil:
			in.noSpace = nil
		case isNoSpace(err):
			// A full disk (the log needed a new segment): refused for
			// now, tried again with the next batch, at the same place.
			if in.noSpace == nil {
				s.log.Error("ingest log write failed for lack of disk space; refusing deliveries until there is room", "err", err)
			}
			in.noSpace, in.noSpaceAt = err, time.Now()
		default:
			// Anything else (an I/O error) may have lost what the
			// kernel held of earlier writes: stop for good.
			s.log.Error("ingest log write failed; refusing deliveries until restart", "err", err)
			in.err = err
		}
		in.mu.Unlock()
		if err != nil {
			replyAll(batch, err)
			return
		}
		s.notify() // claimers take logged deliveries
		s.commits.Add(1)
		s.committed.Add(uint64(len(fresh)))
	}
	for i, o := range batch {
		if answers[i] == nil && !o.receipt.Duplicate && !o.r.NotBefore.IsZero() {
			go s.answerWhenStored(o)
			continue
		}
		o.reply(answers[i])
	}
}

// answerWhenStored answers a delivery enqueued with a NotBefore once the
// mover (asked by logFresh) has it in bbolt's ready index, which orders
// it among the others by that time: the logged queue is in arrival order.
// It is acknowledged whatever happens meanwhile: it is in the log, and a
// store that closes first stores it in bbolt on its way out or at the
// next Open.
func (s *Store) answerWhenStored(o *enqueueOp) {
	_ = s.settleTo(context.Background(), o.seq+1)
	o.reply(nil)
}

// logFresh appends fresh to the log, turning to another segment first when the
// current one is full, and queues them as logged.
func (s *Store) logFresh(fresh []*enqueueOp, applied uint64) error {
	w, in := s.wal, s.in
	var to *walFile
	var gen uint64
	if w.end >= w.rotateAt {
		gen = w.last + 1
		var err error
		if to, err = w.turnTo(applied, gen); err != nil {
			return err
		}
		w.prune(applied)
	}
	if err := w.append(fresh, to, gen); err != nil {
		if to != nil {
			to.gen.Store(0) // not turned to after all: free again
		}
		return err
	}
	if !w.poked && w.end >= w.rotateAt/2 {
		w.poked = true
		select { // the preparer makes the next segment ready meanwhile
		case w.prep <- struct{}{}:
		default:
		}
	}
	dedupe := s.opts.DedupeWindow > 0
	in.mu.Lock()
	for _, o := range fresh {
		e := o.logged
		e.ready, e.idHash = readyAt(o.at, o.r.NotBefore), in.q.hash(o.r.ID)
		e.delayed = !o.r.NotBefore.IsZero()
		key := o.r.Key
		if !dedupe {
			key = ""
		}
		o.seq = in.q.push(e, key)
		if e.delayed {
			in.flushTo = max(in.flushTo, o.seq+1)
		}
	}
	if in.mustMove() {
		in.moving.Signal()
	}
	in.mu.Unlock()
	return nil
}

func replyAll(batch []*enqueueOp, err error) {
	for _, o := range batch {
		o.reply(err)
	}
}

// decide finds, in order, which enqueues of batch are new; it sets each
// op's receipt, returns the new ones and each op's refusal (nil when
// none). Deduplication is exact: a key is looked up among the logged
// deliveries first, then in bbolt in a read transaction begun afterwards;
// a logged delivery leaves the logged queue only after the transaction
// storing it committed, so every key is seen in one place or the other.
// Records of logged deliveries are read to confirm a hash; only the log
// writer reuses segments, so they stay readable meanwhile.
func (s *Store) decide(batch []*enqueueOp) ([]*enqueueOp, []error, error) {
	in := s.in
	window := s.opts.DedupeWindow
	answers := make([]error, len(batch))
	var cands map[int][]loggedAt // op -> logged deliveries that may share its key
	in.mu.Lock()
	for i, o := range batch {
		if window > 0 && o.r.Key != "" {
			if c := in.q.findKey(o.r.Key); c != nil {
				if cands == nil {
					cands = map[int][]loggedAt{}
				}
				cands[i] = c
			}
		}
	}
	in.mu.Unlock()

	var tx *bolt.Tx // begun when first needed, after the logged deliveries were searched
	defer func() {
		if tx != nil {
			_ = tx.Rollback()
		}
	}()
	begin := func() (*bolt.Tx, error) {
		if tx == nil {
			var err error
			if tx, err = s.db.Begin(false); err != nil {
				return nil, fmt.Errorf("local: begin read: %w", err)
			}
		}
		return tx, nil
	}
	var fresh []*enqueueOp
	var keys map[string]pendingKey // new in this batch
	var ids map[string]bool
next:
	for i, o := range batch {
		o.receipt = queue.Receipt{}
		dedupe := window > 0 && o.r.Key != ""
		for _, c := range cands[i] {
			lo, _, err := s.wal.read(c.logged)
			if err != nil {
				answers[i] = err
				continue next
			}
			if lo.r.Key == o.r.Key && o.at.Sub(lo.at) < window {
				o.receipt = queue.Receipt{ID: lo.r.ID, Duplicate: true}
				continue next
			}
		}
		// A preset id (never the receiver's: it lets the store make
		// them) may name a logged delivery: a scan of the logged queue.
		if !o.generated {
			if _, ok := s.findLogged(o.r.ID); ok {
				answers[i] = fmt.Errorf("%w: %s", ErrDuplicateID, o.r.ID)
				continue
			}
		}
		if dedupe {
			if p, ok := keys[o.r.Key]; ok && o.at.Sub(p.at) < window {
				o.receipt = queue.Receipt{ID: p.id, Duplicate: true}
				continue
			}
			at, first, found, err := s.keys.lookupLazy(begin, []byte(o.r.Key))
			if err != nil {
				answers[i] = err
				continue
			}
			if found && o.at.Sub(time.Unix(0, int64(at))) < window {
				o.receipt = queue.Receipt{ID: first, Duplicate: true}
				continue
			}
		}
		if !o.generated {
			if ids[o.r.ID] {
				answers[i] = fmt.Errorf("%w: %s", ErrDuplicateID, o.r.ID)
				continue
			}
			tx, err := begin()
			if err != nil {
				return nil, nil, err
			}
			if tx.Bucket(bucketDeliveries).Get([]byte(o.r.ID)) != nil {
				answers[i] = fmt.Errorf("%w: %s", ErrDuplicateID, o.r.ID)
				continue
			}
			if ids == nil {
				ids = map[string]bool{}
			}
			ids[o.r.ID] = true
		}
		if dedupe {
			if keys == nil {
				keys = map[string]pendingKey{}
			}
			keys[o.r.Key] = pendingKey{id: o.r.ID, at: o.at}
		}
		o.receipt = queue.Receipt{ID: o.r.ID}
		fresh = append(fresh, o)
	}
	return fresh, answers, nil
}

// noSpaceFor is how long Ping reports a log write refused for lack of
// room after the last one.
const noSpaceFor = 10 * time.Second

// isNoSpace reports whether err is a full disk or quota: not the log's
// fault, and over once there is room.
func isNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// pendingKey is an idempotency key new in a batch being decided.
type pendingKey struct {
	id string
	at time.Time
}

// nextLogged returns the first logged delivery this transaction has not
// taken yet. Only the writer goroutine takes entries, so what it returns
// stays first until taken.
func (w *wtx) nextLogged() (logged, bool) {
	in := w.s.in
	if in == nil {
		return logged{}, false
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if len(w.took) >= in.q.n {
		return logged{}, false
	}
	return *in.q.at(len(w.took)), true
}

// takeLogged reads e, the entry nextLogged returned, and counts it taken
// by this transaction: once it commits, e leaves the logged queue and the
// applied position passes it. A record that does not read back (damaged
// on disk after it was acknowledged) is taken and dropped with an error
// in the log, so the queue behind it is not stuck: d is then nil.
func (w *wtx) takeLogged(e logged) (d *enqueueOp, err error) {
	if f := w.s.in.fault.Load(); f != nil {
		return nil, *f
	}
	d, end, err := w.s.wal.read(e)
	key := ""
	if err != nil {
		w.s.log.Error("acknowledged delivery lost: its record in the ingest log does not read back", "err", err)
		d = nil
	} else if w.s.opts.DedupeWindow > 0 {
		key = d.r.Key
	}
	w.took = append(w.took, key)
	w.tookEnd = end
	return d, nil
}

// moveLogged takes e, the entry nextLogged returned, and stores its
// delivery as it is (queued), unless a delivery with its id is stored
// already (never expected: Enqueue refuses duplicate ids) or its record
// does not read back.
func (w *wtx) moveLogged(e logged) error {
	d, err := w.takeLogged(e)
	if err != nil || d == nil {
		return err
	}
	if w.bucket(bucketDeliveries).Get([]byte(d.r.ID)) != nil {
		w.s.log.Error("logged delivery already stored; keeping the stored one", "id", d.r.ID)
		return nil
	}
	return d.store(w)
}

// taken removes the entries a committed transaction took from the logged
// queue and moves the applied position past them. The writer calls it
// with commitMu held, so readers see a delivery counted either as logged
// or in bbolt, never both.
func (in *ingest) taken(keys []string, end walPos) {
	in.mu.Lock()
	in.q.pop(keys)
	in.applied = end
	in.moveErr = nil // taking into bbolt works (again), whoever did it
	close(in.popped)
	in.popped = make(chan struct{})
	in.room.Broadcast()
	in.mu.Unlock()
}

// runMover moves logged deliveries into bbolt ahead of the workers while
// the backlog is past its bounds or a reader waits for them, a
// transaction of up to moveMaxRecords at a time (through the writer, so
// they share its commits with claims and finishes).
func (s *Store) runMover() {
	defer close(s.in.moverDone)
	in := s.in
	delay := 100 * time.Millisecond
	for {
		in.mu.Lock()
		for !in.stop && !in.mustMove() {
			in.moving.Wait()
		}
		stop := in.stop
		in.mu.Unlock()
		if stop {
			return
		}
		o := &moveOp{max: moveMaxRecords}
		err := s.do(context.Background(), o)
		if err == queue.ErrClosed {
			return
		}
		in.mu.Lock()
		in.moveErr = err
		in.mu.Unlock()
		if err == nil {
			delay = 100 * time.Millisecond
			continue
		}
		s.log.Error("moving acknowledged deliveries from the ingest log into the store failed; retrying", "err", err)
		select {
		case <-s.done:
			return // they stay in the log, and are stored at the next Open
		case <-time.After(delay):
			delay = min(2*delay, 5*time.Second)
		}
	}
}

// moveOp stores up to max logged deliveries in bbolt, queued, in log
// order.
type moveOp struct {
	done
	max int
}

func (o *moveOp) apply(w *wtx) error {
	for range o.max {
		e, ok := w.nextLogged()
		if !ok {
			return nil
		}
		if err := w.moveLogged(e); err != nil {
			return err
		}
	}
	return nil
}

var _ waiter = (*moveOp)(nil)

// drainLog stores every delivery still only in the ingest log in bbolt,
// for Close once the mover and the log writer stopped: after a clean
// Close the store file alone holds every acknowledged delivery (a cold
// backup copies it alone) and the log holds nothing the file lacks. A
// move that fails (a full disk) leaves the rest in the log, stored by the
// next Open.
func (s *Store) drainLog() {
	moved := 0
	for {
		s.in.mu.Lock()
		left := s.in.q.n
		s.in.mu.Unlock()
		if left == 0 {
			break
		}
		o := &moveOp{max: moveMaxRecords}
		o.prepare()
		s.ops <- o // the writer runs until Close closes ops, after this
		<-o.waitCh()
		if err := o.result(); err != nil {
			s.log.Error("closing: deliveries still only in the ingest log are stored at the next start",
				"count", left, "err", err)
			return
		}
		moved += min(left, moveMaxRecords)
	}
	if moved > 0 {
		s.log.Info("closing: deliveries no worker took yet moved from the ingest log into the store", "count", moved)
	}
}

// settle waits until every delivery acknowledged before the call is in
// bbolt, having the mover store them ahead of the workers.
func (s *Store) settle(ctx context.Context) error {
	if s.in == nil {
		return nil
	}
	s.in.mu.Lock()
	target := s.in.q.tail()
	s.in.mu.Unlock()
	return s.settleTo(ctx, target)
}

// settleTo waits until every logged entry numbered below target is in
// bbolt.
func (s *Store) settleTo(ctx context.Context, target uint64) error {
	in := s.in
	for {
		in.mu.Lock()
		if in.q.seq >= target {
			in.mu.Unlock()
			return nil
		}
		if target > in.flushTo {
			in.flushTo = target
			in.moving.Signal()
		}
		ch := in.popped
		in.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-s.done:
			return queue.ErrClosed
		}
	}
}

// settleID waits until delivery id, if it is logged only, is in bbolt.
func (s *Store) settleID(ctx context.Context, id string) error {
	if s.in == nil {
		return nil
	}
	if seq, ok := s.findLogged(id); ok {
		return s.settleTo(ctx, seq+1)
	}
	return nil
}

// findLogged returns the number of the logged entry of delivery id, if
// it is logged only: a scan of the logged queue, findChunk entries per
// hold of the lock. A candidate taken meanwhile may be read after its
// segment was reused: it is then no longer logged, whatever the read says.
func (s *Store) findLogged(id string) (uint64, bool) {
	in := s.in
	h := in.q.hash(id) // the seed never changes: no lock needed
	in.mu.Lock()
	from, to := in.q.seq, in.q.tail()
	in.mu.Unlock()
	for ; from < to; from += findChunk {
		in.mu.Lock()
		cands := in.q.findID(h, from, from+findChunk)
		in.mu.Unlock()
		for _, c := range cands {
			d, _, err := s.wal.read(c.logged)
			in.mu.Lock()
			still := c.seq >= in.q.seq
			in.mu.Unlock()
			if still && err == nil && d.r.ID == id {
				return c.seq, true
			}
		}
	}
	return 0, false
}

// findChunk is the number of logged entries findLogged scans per hold of
// the lock (about 20 us).
const findChunk = 16384

// loggedHead counts the logged deliveries and finds when the first was
// received. The caller holds commitMu, so that none is taken meanwhile.
func (s *Store) loggedHead() (int, time.Time) {
	if s.in == nil {
		return 0, time.Time{}
	}
	s.in.mu.Lock()
	n := s.in.q.n
	var first logged
	if n > 0 {
		first = *s.in.q.at(0)
	}
	s.in.mu.Unlock()
	if n == 0 {
		return 0, time.Time{}
	}
	d, _, err := s.wal.read(first)
	if err != nil {
		return n, time.Time{}
	}
	return n, d.r.ReceivedAt
}

// ingestErr is the sticky log failure, if any, else the lack of room of
// the last log write while writes keep failing for it (for noSpaceFor
// after the last failure: a load balancer that stopped sending deliveries
// on it would otherwise never see it end), else the failure of the last
// move into bbolt while moves keep failing (a full disk: the log still
// takes deliveries, in its free segments, until it needs a new one).
func (s *Store) ingestErr() error {
	if s.in == nil {
		return nil
	}
	s.in.mu.Lock()
	defer s.in.mu.Unlock()
	if s.in.err != nil {
		return s.in.err
	}
	if s.in.noSpace != nil && time.Since(s.in.noSpaceAt) < noSpaceFor {
		return s.in.noSpace
	}
	if s.in.moveErr != nil {
		return fmt.Errorf("moving logged deliveries into the store fails: %w", s.in.moveErr)
	}
	return nil
}
