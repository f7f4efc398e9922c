package gitlab

import (
	"context"
	"errors"
	"time"

	"github.com/hookgate/hookgate/gateway/envelope"
)

// errRateLimited says a call could not get a slot from the client-side
// limiters before its context ends.
var errRateLimited = errors.New("client-side rate limit")

// wait takes a slot for a call of project (the scope's project key) from
// the instance's notes limiter for note creation, then from its overall
// limiter, waiting for the project's turn when slots are short (see
// fairLimiter). When the turn would come after ctx's deadline, or ctx ends
// while waiting, no slot is kept and it returns an error wrapping
// errRateLimited (or ctx's error) with the delay still needed, so the run
// can be retried after it.
func (c *Client) wait(ctx context.Context, project string, note bool) (time.Duration, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if note {
		if after, err := c.notes.acquire(ctx, project); err != nil {
			return after, err
		}
	}
	if after, err := c.limit.acquire(ctx, project); err != nil {
		if note {
			c.notes.refund()
		}
		return after, err
	}
	return 0, nil
}

// Pressure reports how the event's project stands with the client's rate
// limits: of the overall and the notes limiter, the one the project is
// backlogged on with the longer wait. A dry-run client has no limits: the
// zero Pressure.
func (c *Client) Pressure(env *envelope.Envelope) Pressure {
	_, p := c.binding(env)
	return p
}

// Defer promises the event's project a turn on the limiter it is
// backlogged on, for a delivery that is put back in the queue rather than
// run now, and returns how far off the turn is (see fairLimiter.promise):
// deliveries put back one after another get turns one after another. 0
// for a dry-run client.
func (c *Client) Defer(env *envelope.Envelope) time.Duration {
	l, _ := c.binding(env)
	if l == nil {
		return 0
	}
	return l.promise(c.Scope(env, "").pidPath)
}

// binding returns, of the overall and the notes limiter, the one the
// event's project is backlogged on with the longer wait (else the one
// with the longer wait), and the project's pressure there (zero when it
// is backlogged on neither); nil for a dry-run client.
func (c *Client) binding(env *envelope.Envelope) (*fairLimiter, Pressure) {
	if c.dryRun || c.api == nil {
		return nil, Pressure{}
	}
	key := c.Scope(env, "").pidPath
	all, notes := c.limit.pressure(key), c.notes.pressure(key)
	switch {
	case all.Backlogged && (!notes.Backlogged || all.Wait >= notes.Wait):
		return c.limit, all
	case notes.Backlogged:
		return c.notes, notes
	case all.Wait >= notes.Wait:
		return c.limit, Pressure{}
	}
	return c.notes, Pressure{}
}

// Waiting counts the calls waiting for a slot, over every instance.
type Waiting struct {
	// Calls and CallProjects: calls waiting for the overall limits, and
	// the projects they belong to.
	Calls, CallProjects int
	// Notes and NoteProjects: the same for the notes limits.
	Notes, NoteProjects int
}

// Waiting reports how many calls wait for a slot now (for metrics).
func (cs *Clients) Waiting() Waiting {
	var w Waiting
	for _, c := range cs.clients {
		calls, projects := c.limit.waiting()
		w.Calls += calls
		w.CallProjects += projects
		notes, noteProjects := c.notes.waiting()
		w.Notes += notes
		w.NoteProjects += noteProjects
	}
	return w
}
