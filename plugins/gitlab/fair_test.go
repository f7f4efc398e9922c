package gitlab

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// fakeClock is a clock the test moves by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// drained returns a limiter of one call a minute (so its own timer never
// fires during a test) whose saved-up token is spent, on a fake clock.
func drained(t *testing.T) (*fairLimiter, *fakeClock) {
	t.Helper()
	clk := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	l := newFairLimiter(1, clk.now)
	if _, err := l.acquire(t.Context(), "warm-up"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		l.mu.Lock()
		if l.timer != nil {
			l.timer.Stop()
		}
		l.mu.Unlock()
	})
	return l, clk
}

// enqueueCaller starts a caller of key that waits for a token and reports its name
// on got once granted; it returns once the caller is queued.
func enqueueCaller(t *testing.T, l *fairLimiter, ctx context.Context, key, name string, got chan<- string, errs chan<- error) {
	t.Helper()
	before, _ := l.waiting()
	go func() {
		if _, err := l.acquire(ctx, key); err != nil {
			errs <- err
			return
		}
		got <- name
	}()
	for deadline := time.Now().Add(5 * time.Second); ; {
		if n, _ := l.waiting(); n > before {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never queued", name)
		}
		time.Sleep(time.Millisecond)
	}
}

// tick moves the clock one interval and hands out the token due.
func tick(l *fairLimiter, clk *fakeClock) {
	clk.add(l.interval)
	l.release()
}

func next(t *testing.T, got <-chan string) string {
	t.Helper()
	select {
	case name := <-got:
		return name
	case <-time.After(5 * time.Second):
		t.Fatal("no caller granted")
		return ""
	}
}

// Tokens go to the waiting projects in turn: the quiet ones do not wait
// behind the noisy one's queue, and the noisy one keeps its own order.
func TestFairLimiterRoundRobin(t *testing.T) {
	l, clk := drained(t)
	got, errs := make(chan string, 16), make(chan error, 16)
	ctx := t.Context()
	for _, name := range []string{"noisy1", "noisy2", "noisy3", "noisy4"} {
		enqueueCaller(t, l, ctx, "noisy", name, got, errs)
	}
	enqueueCaller(t, l, ctx, "quiet", "quiet1", got, errs)
	enqueueCaller(t, l, ctx, "other", "other1", got, errs)
	enqueueCaller(t, l, ctx, "quiet", "quiet2", got, errs)

	want := []string{"noisy1", "quiet1", "other1", "noisy2", "quiet2", "noisy3", "noisy4"}
	for i, w := range want {
		tick(l, clk)
		if g := next(t, got); g != w {
			t.Fatalf("grant %d went to %s, want %s (order %v)", i+1, g, w, want)
		}
		select {
		case g := <-got:
			t.Fatalf("one token granted twice: also to %s", g)
		default:
		}
	}
	if n, keys := l.waiting(); n != 0 || keys != 0 || len(l.queues) != 0 {
		t.Fatalf("waiting %d calls of %d projects after all were served (queues %v)", n, keys, l.queues)
	}
}

// A project that starts waiting behind a long queue is served within one
// round, and the estimate says so; the noisy project's next call is
// estimated behind its own queue.
func TestFairLimiterNoStarvation(t *testing.T) {
	l, clk := drained(t)
	got, errs := make(chan string, 64), make(chan error, 64)
	for i := range 20 {
		enqueueCaller(t, l, t.Context(), "noisy", "noisy"+string(rune('a'+i)), got, errs)
	}
	// The next token is one interval away (the warm-up spent the saved
	// one); the quiet project's call comes after the noisy project's turn.
	if p := l.pressure("quiet"); p.Wait != 2*l.interval || p.Backlogged || p.Turn != 2*l.interval {
		t.Fatalf("quiet pressure = %+v, want wait and turn 2 intervals, not backlogged", p)
	}
	if p := l.pressure("noisy"); p.Wait != 21*l.interval || !p.Backlogged || p.Waiting != 20 || p.Turn != l.interval {
		t.Fatalf("noisy pressure = %+v, want wait 21 intervals, 20 waiting", p)
	}
	enqueueCaller(t, l, t.Context(), "quiet", "quiet", got, errs)
	served := 0
	for {
		tick(l, clk)
		served++
		if next(t, got) == "quiet" {
			break
		}
	}
	if served > 2 {
		t.Fatalf("quiet served after %d tokens, want at most 2", served)
	}
}

// A call whose turn would come after its deadline is refused at once with
// the wait it would have had, and its project counts as backlogged until
// then; a waiter whose context ends leaves the queue; a token granted to a
// caller that gave up goes to the next one.
func TestFairLimiterContext(t *testing.T) {
	l, clk := drained(t)
	got, errs := make(chan string, 8), make(chan error, 8)
	enqueueCaller(t, l, t.Context(), "noisy", "noisy1", got, errs)
	enqueueCaller(t, l, t.Context(), "noisy", "noisy2", got, errs)

	ctx, cancel := context.WithDeadline(t.Context(), clk.now().Add(2*l.interval))
	defer cancel()
	start := time.Now()
	wait, err := l.acquire(ctx, "noisy")
	if !errors.Is(err, errRateLimited) || wait != 3*l.interval {
		t.Fatalf("acquire past the deadline = %s, %v; want a refusal after 3 intervals", wait, err)
	}
	if time.Since(start) > time.Second {
		t.Fatalf("the refusal took %s; it must not wait", time.Since(start))
	}
	if p := l.pressure("other"); p.Backlogged {
		t.Fatalf("other project backlogged: %+v", p)
	}

	// A waiter that gives up leaves no trace.
	gaveUp, stop := context.WithCancel(t.Context())
	enqueueCaller(t, l, gaveUp, "quiet", "quiet", got, errs)
	stop()
	select {
	case err := <-errs:
		if !errors.Is(err, errRateLimited) || !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want a rate-limit error wrapping context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("cancel did not end the wait")
	}
	if n, keys := l.waiting(); n != 2 || keys != 1 {
		t.Fatalf("waiting %d calls of %d projects, want the 2 noisy ones", n, keys)
	}
	tick(l, clk)
	if g := next(t, got); g != "noisy1" {
		t.Fatalf("granted %s, want noisy1", g)
	}

	// Granted as its context ended: the token is given back, and goes to
	// the next waiter.
	l.mu.Lock()
	w := &waiter{ready: make(chan struct{})}
	l.queues["late"] = []*waiter{w}
	l.ring = append([]string{"late"}, l.ring...)
	l.mu.Unlock()
	tick(l, clk) // grants w, which nobody reads
	if !w.granted {
		t.Fatal("late waiter not granted")
	}
	l.mu.Lock()
	l.refundLocked() // what acquire does for a granted waiter whose ctx ended
	l.mu.Unlock()
	if g := next(t, got); g != "noisy2" {
		t.Fatalf("refunded token went to %s, want noisy2", g)
	}
	if p := l.pressure("noisy"); !p.Backlogged || p.Waiting != 0 {
		t.Fatalf("noisy pressure = %+v, want backlogged (refused lately), nothing waiting", p)
	}
	clk.add(time.Hour)
	if p := l.pressure("noisy"); p.Backlogged {
		t.Fatalf("noisy still backlogged an hour after its refusal: %+v", p)
	}
}

// The limiter's own timer hands out tokens as they come due.
func TestFairLimiterTimer(t *testing.T) {
	l := newFairLimiter(600, nil) // one every 100 ms, 600 saved up
	for range 600 {
		if _, err := l.acquire(t.Context(), "p"); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	var wg sync.WaitGroup
	for _, key := range []string{"a", "b", "a"} {
		wg.Go(func() {
			if _, err := l.acquire(t.Context(), key); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	// Three tokens at 100 ms intervals, with room for a loaded machine.
	if d := time.Since(start); d < 150*time.Millisecond || d > 10*time.Second {
		t.Fatalf("three waiting calls took %s, want about 300 ms", d)
	}
}

// Calls refused for their deadline, and deliveries put back, are promised
// turns one after another, so they do not all come back at once; the
// project counts as backlogged until the last one, and the promised turns
// count in every project's turn length.
func TestFairLimiterPromises(t *testing.T) {
	l, clk := drained(t)
	got, errs := make(chan string, 8), make(chan error, 8)
	enqueueCaller(t, l, t.Context(), "noisy", "noisy1", got, errs)

	ctx, cancel := context.WithDeadline(t.Context(), clk.now().Add(l.interval/2))
	defer cancel()
	var afters []time.Duration
	for range 3 {
		after, err := l.acquire(ctx, "noisy")
		if !errors.Is(err, errRateLimited) {
			t.Fatalf("err = %v, want a refusal", err)
		}
		afters = append(afters, after)
	}
	afters = append(afters, l.promise("noisy")) // a delivery put back
	// The first turn free after noisy1's (2 intervals away), then one every
	// turn: noisy is the only project, so a turn is one interval.
	for i, after := range afters {
		if want := time.Duration(2+i) * l.interval; after != want {
			t.Fatalf("promise %d is %s away, want %s (all: %v)", i+1, after, want, afters)
		}
	}
	// Another project's call is not held back by the promises (nothing is
	// reserved), and the promised project counts in its turn length.
	if p := l.pressure("quiet"); p.Backlogged || p.Wait != 2*l.interval || p.Turn != 2*l.interval {
		t.Fatalf("quiet pressure = %+v, want 2 intervals to wait, turns 2 intervals apart", p)
	}
	clk.add(4 * l.interval)
	if p := l.pressure("noisy"); !p.Backlogged {
		t.Fatalf("noisy not backlogged before its last promised turn: %+v", p)
	}
	clk.add(2 * l.interval)
	l.release()
	<-got
	if p := l.pressure("noisy"); p.Backlogged {
		t.Fatalf("noisy still backlogged after its promised turns: %+v", p)
	}
}
