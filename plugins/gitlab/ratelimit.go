package gitlab

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/time/rate"
)

// errRateLimited says a call could not get a slot from the client-side
// limiters before its context ends.
var errRateLimited = errors.New("client-side rate limit")

// wait takes a slot from the instance's overall limiter, and from its notes
// limiter for note creation, waiting as long as needed. When the wait would
// outlast ctx's deadline, or ctx ends while waiting, the slots are given
// back and it returns an error wrapping errRateLimited (or ctx's error) with
// the delay still needed, so the run can be retried after it.
func (c *Client) wait(ctx context.Context, note bool) (time.Duration, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	now := time.Now()
	rs := [2]*rate.Reservation{c.limit.ReserveN(now, 1)}
	if note {
		rs[1] = c.notes.ReserveN(now, 1)
	}
	cancel := func() {
		for _, r := range rs {
			if r != nil {
				r.CancelAt(now)
			}
		}
	}
	var delay time.Duration
	for _, r := range rs {
		if r == nil {
			continue
		}
		if !r.OK() {
			cancel()
			return 0, fmt.Errorf("%w: burst too small", errRateLimited)
		}
		delay = max(delay, r.DelayFrom(now))
	}
	if delay <= 0 {
		return 0, nil
	}
	if dl, ok := ctx.Deadline(); ok && dl.Sub(now) < delay {
		cancel()
		return delay, fmt.Errorf("%w: next slot in %s, after the deadline", errRateLimited, delay.Round(time.Millisecond))
	}
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-t.C:
		return 0, nil
	case <-ctx.Done():
		cancel()
		return delay, fmt.Errorf("%w: waiting: %w", errRateLimited, ctx.Err())
	}
}
