package gitlab

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// fairLimiter is a token bucket (one token every interval, at most burst
// saved up) shared by every project of an instance, as GitLab's own limits
// are: one bot token is one budget. While tokens are plentiful a call takes
// one at once. When they run short, callers wait in one queue per project
// and each new token goes to the next project in turn (round robin), not to
// the caller that asked first: a project with 200 calls waiting and a
// project with one get every other token, so the second project's call
// waits for at most one token per busy project, however long the first
// project's queue.
//
// A caller whose turn would come after its context's deadline is not
// queued: it is promised a turn instead (see promise) and told at once how
// far off it is (see acquire), so a plugin run gives back its worker
// instead of holding it until the deadline, and comes back at its turn.
// It is safe for concurrent use.
type fairLimiter struct {
	interval time.Duration
	burst    float64
	now      func() time.Time

	mu     sync.Mutex
	tokens float64 // saved up as of last, at most burst
	last   time.Time
	queues map[string][]*waiter // per project key, in arrival order
	// ring holds the keys that have waiters, in serving order: ring[0]
	// gets the next token and then goes to the back.
	ring []string
	// promised is, per key, the end of the turns promised to its calls
	// that did not wait (see promise): the project is behind on its
	// budget until then.
	promised map[string]time.Time
	timer    *time.Timer
	due      time.Time // when timer fires; zero when it is not set
}

// waiter is one call waiting for a token. ready is closed once granted.
type waiter struct {
	ready   chan struct{}
	granted bool
}

// tokenEpsilon absorbs float rounding, so a timer that fires when a token
// is due finds one.
const tokenEpsilon = 1e-9

// maxPromised bounds the promised map; expired entries are dropped when it
// is reached.
const maxPromised = 1024

// newFairLimiter allows perMinute calls a minute, as many as perMinute at
// once after a quiet minute (GitLab's limits are per minute). perMinute
// must be positive.
func newFairLimiter(perMinute int, now func() time.Time) *fairLimiter {
	if now == nil {
		now = time.Now
	}
	return &fairLimiter{
		interval: time.Minute / time.Duration(perMinute),
		burst:    float64(perMinute),
		now:      now,
		tokens:   float64(perMinute),
		last:     now(),
		queues:   map[string][]*waiter{},
		promised: map[string]time.Time{},
	}
}

// acquire takes a token for a call of project key, waiting for the key's
// turn if there is none to spare. When the turn would come after ctx's
// deadline it does not wait: it promises the key a turn and returns an
// error wrapping errRateLimited with the delay until it. When ctx ends
// while waiting, it leaves the queue and does the same.
func (l *fairLimiter) acquire(ctx context.Context, key string) (time.Duration, error) {
	l.mu.Lock()
	now := l.now()
	l.advance(now)
	if len(l.ring) == 0 && l.tokens >= 1-tokenEpsilon {
		l.tokens--
		l.mu.Unlock()
		return 0, nil
	}
	if dl, ok := ctx.Deadline(); ok && dl.Sub(now) < l.eta(key) {
		after := l.promiseLocked(key, now)
		l.mu.Unlock()
		return after, fmt.Errorf("%w: next slot in %s, after the deadline", errRateLimited, after.Round(time.Millisecond))
	}
	w := &waiter{ready: make(chan struct{})}
	if len(l.queues[key]) == 0 {
		l.ring = append(l.ring, key)
	}
	l.queues[key] = append(l.queues[key], w)
	l.grant()
	l.arm(now)
	l.mu.Unlock()

	select {
	case <-w.ready:
		return 0, nil
	case <-ctx.Done():
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if w.granted {
		// Granted as ctx ended: the call will not be made; the token
		// goes to the next in turn.
		l.refundLocked()
	} else {
		l.remove(key, w)
	}
	return l.promiseLocked(key, l.now()), fmt.Errorf("%w: waiting: %w", errRateLimited, ctx.Err())
}

// refund gives back a token taken for a call that was not made (e.g. its
// other limiter refused it).
func (l *fairLimiter) refund() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.refundLocked()
}

func (l *fairLimiter) refundLocked() {
	l.advance(l.now())
	l.tokens = min(l.burst, l.tokens+1)
	l.grant()
}

// release is the timer's function: it hands out the tokens that came due.
func (l *fairLimiter) release() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.due = time.Time{}
	now := l.now()
	l.advance(now)
	l.grant()
	l.arm(now)
}

// advance adds the tokens earned since l.last.
func (l *fairLimiter) advance(now time.Time) {
	if now.After(l.last) {
		l.tokens = min(l.burst, l.tokens+float64(now.Sub(l.last))/float64(l.interval))
		l.last = now
	}
}

// grant gives the available tokens to the waiters, one per key in ring
// order; a key that still has waiters goes to the back of the ring.
func (l *fairLimiter) grant() {
	for len(l.ring) > 0 && l.tokens >= 1-tokenEpsilon {
		key := l.ring[0]
		q := l.queues[key]
		w := q[0]
		q[0] = nil
		q = q[1:]
		l.ring = append(l.ring[:0], l.ring[1:]...)
		if len(q) > 0 {
			l.queues[key] = q
			l.ring = append(l.ring, key)
		} else {
			delete(l.queues, key)
		}
		l.tokens = max(l.tokens-1, 0)
		w.granted = true
		close(w.ready)
	}
}

// arm sets the timer for the next token when someone waits for it.
func (l *fairLimiter) arm(now time.Time) {
	if len(l.ring) == 0 {
		return
	}
	d := max(time.Duration((1-l.tokens)*float64(l.interval)), 0)
	at := now.Add(d)
	if !l.due.IsZero() && !l.due.After(at) {
		return // set already, early enough
	}
	l.due = at
	if l.timer == nil {
		l.timer = time.AfterFunc(d, l.release)
	} else {
		l.timer.Reset(d)
	}
}

// remove takes w, which gave up, out of key's queue.
func (l *fairLimiter) remove(key string, w *waiter) {
	q := l.queues[key]
	i := slices.Index(q, w)
	if i < 0 {
		return
	}
	q = slices.Delete(q, i, i+1)
	if len(q) > 0 {
		l.queues[key] = q
		return
	}
	delete(l.queues, key)
	if j := slices.Index(l.ring, key); j >= 0 {
		l.ring = slices.Delete(l.ring, j, j+1)
	}
}

// eta estimates how long a new call of key would wait: the tokens granted
// before its turn (key's own waiters, and every other waiting key's turns
// in the rounds up to key's) come one interval apart, less what is saved
// up. Keys that start waiting later can only add to it.
func (l *fairLimiter) eta(key string) time.Duration {
	m := len(l.queues[key]) // the new call is served in round m (from 0)
	pos := slices.Index(l.ring, key)
	before := m
	for i, k := range l.ring {
		if k == key {
			continue
		}
		n := len(l.queues[k])
		c := min(n, m) // k's turns in rounds 0..m-1
		if n > m && (pos < 0 || i < pos) {
			c++ // and its turn in round m, ahead of key
		}
		before += c
	}
	need := float64(before+1) - l.tokens
	if need <= tokenEpsilon {
		return 0
	}
	return time.Duration(need * float64(l.interval))
}

// promise gives key a turn for a call that will come back for it rather
// than wait now (a call refused for its deadline, a delivery put back in
// the queue), and returns how far off it is: the turn a new call would
// get now, or the one after the turns already promised to key, whichever
// is later. Each promise moves key's next one a turn further (a turn is
// one token per project waiting or promised), so calls that come back
// come one turn apart instead of all at once. Nothing is reserved: a
// call back at its turn queues like any other.
func (l *fairLimiter) promise(key string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	l.advance(now)
	return l.promiseLocked(key, now)
}

func (l *fairLimiter) promiseLocked(key string, now time.Time) time.Duration {
	if len(l.promised) >= maxPromised {
		for k, t := range l.promised {
			if !t.After(now) {
				delete(l.promised, k)
			}
		}
	}
	at := now.Add(l.eta(key))
	if p := l.promised[key]; p.After(at) {
		at = p
	}
	l.promised[key] = at.Add(l.turn(key, now))
	return at.Sub(now)
}

// turn is how far apart key's turns come while tokens are short: one
// token for every project with calls waiting or turns promised, key
// included.
func (l *fairLimiter) turn(key string, now time.Time) time.Duration {
	n := len(l.ring)
	if len(l.queues[key]) == 0 {
		n++
	}
	for k, t := range l.promised {
		if k != key && len(l.queues[k]) == 0 && t.After(now) {
			n++
		}
	}
	return time.Duration(n) * l.interval
}

// Pressure is how one project stands with an instance's rate limits.
type Pressure struct {
	// Backlogged is true when the project's calls wait for their turn, or
	// turns are promised to it (calls and deliveries that will come back
	// for them): the budget is short and the project is asking for it.
	Backlogged bool
	// Waiting is how many of the project's calls wait now.
	Waiting int
	// Wait is how long a new call of the project would wait (0 when a
	// token is free for it).
	Wait time.Duration
	// Turn is how far apart the project's turns come while the budget is
	// short: one token for each project waiting or promised turns, this
	// one included.
	Turn time.Duration
}

// pressure reports how key stands with this limiter.
func (l *fairLimiter) pressure(key string) Pressure {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	l.advance(now)
	p := Pressure{Waiting: len(l.queues[key])}
	if until, ok := l.promised[key]; ok && !until.After(now) {
		delete(l.promised, key)
	}
	p.Backlogged = p.Waiting > 0 || l.promised[key].After(now)
	if len(l.ring) > 0 || l.tokens < 1-tokenEpsilon {
		p.Wait = l.eta(key)
	}
	p.Turn = l.turn(key, now)
	return p
}

// waiting reports how many calls wait and for how many projects.
func (l *fairLimiter) waiting() (calls, projects int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, q := range l.queues {
		calls += len(q)
	}
	return calls, len(l.ring)
}
