// Package fair keeps one project's or one user's flood from starving the
// others of the gateway's shared resources: the bot's GitLab API budget
// (one token, one budget, whatever the project) and the workers.
//
//   - CommandLimits refuse commands beyond a per-user and a per-project
//     count in a sliding window, before they cost any API call.
//   - Admission says when a claimed delivery goes back to the queue
//     without running, because its project's calls already wait for
//     budget; the caller puts it back until a turn the rate limiter
//     promises the project. So workers do not sit in the rate limiter for
//     one project's flood, and the other projects' deliveries behind it in
//     the queue are reached.
//
// The GitLab binding's limiters (plugins/gitlab, fair.go) give the tokens
// themselves to the waiting projects in turn. Everything here is per
// process: with several replicas each keeps its own counts.
package fair

import (
	"fmt"
	"strings"
	"sync"
	"time"
)

// Who is a user or project a limit is kept for: Key identifies it (the
// instance and the numeric id), Name is what messages show.
type Who struct {
	Key  string
	Name string
}

// Limits a command can be refused by (Refusal.Limit).
const (
	LimitUser    = "user"    // the user's commands over all projects
	LimitProject = "project" // the project's commands from all its users
)

// Refusal says which limit refused a command.
type Refusal struct {
	// Limit is LimitUser or LimitProject.
	Limit  string
	Name   string
	Max    int
	Window time.Duration
	// First is true for the first refusal of this user or project within
	// a window: worth a log line at warning level; the rest are not.
	First bool
}

// Reason is the refusal as the delivery log shows it, e.g. "rate limited:
// user root sent more than 10 commands in 1m".
func (r Refusal) Reason() string {
	if r.Limit == LimitUser {
		return fmt.Sprintf("rate limited: user %s sent more than %d commands in %s", r.Name, r.Max, shortDuration(r.Window))
	}
	return fmt.Sprintf("rate limited: project %s received more than %d commands in %s", r.Name, r.Max, shortDuration(r.Window))
}

// CommandLimits counts commands per user and per project over a sliding
// window and refuses those beyond the maximum. A refused command is not
// counted, so a user who keeps flooding gets commands through again as
// the accepted ones age out of the window. It is safe for concurrent use.
type CommandLimits struct {
	perUser, perProject int // < 1: no limit
	window              time.Duration

	mu        sync.Mutex
	users     map[string]*recent
	projects  map[string]*recent
	nextSweep int // map size at which expired entries are dropped
}

// recent holds the times of the commands accepted within the window,
// oldest first, and when a refusal was last worth a warning.
type recent struct {
	times  []time.Time
	warned time.Time
}

// minSweep is the map size below which expired entries are left alone.
const minSweep = 4096

// NewCommandLimits allows perUser commands per user and perProject per
// project within window; a value below 1 means no limit of that kind.
// It returns nil (no limits at all; Allow accepts everything) when
// neither limit is set or window is not positive.
func NewCommandLimits(perUser, perProject int, window time.Duration) *CommandLimits {
	if (perUser < 1 && perProject < 1) || window <= 0 {
		return nil
	}
	return &CommandLimits{perUser: perUser, perProject: perProject, window: window,
		users: map[string]*recent{}, projects: map[string]*recent{}, nextSweep: minSweep}
}

// Allow counts a command by user in project at now, or, when the user or
// the project already had its maximum within the window, counts nothing
// and says which limit refused it (the user's is checked first). A nil
// *CommandLimits allows everything.
func (c *CommandLimits) Allow(user, project Who, now time.Time) (Refusal, bool) {
	if c == nil {
		return Refusal{}, true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	since := now.Add(-c.window)
	u := c.entry(c.users, user.Key, c.perUser, since)
	if u != nil && len(u.times) >= c.perUser {
		return c.refuse(u, LimitUser, user.Name, c.perUser, now), false
	}
	p := c.entry(c.projects, project.Key, c.perProject, since)
	if p != nil && len(p.times) >= c.perProject {
		return c.refuse(p, LimitProject, project.Name, c.perProject, now), false
	}
	for _, r := range []*recent{u, p} {
		if r != nil {
			r.times = append(r.times, now)
		}
	}
	return Refusal{}, true
}

// entry returns key's counts in m with the times before since dropped,
// creating it; nil when max says there is no limit.
func (c *CommandLimits) entry(m map[string]*recent, key string, max int, since time.Time) *recent {
	if max < 1 {
		return nil
	}
	r, ok := m[key]
	if !ok {
		c.sweep(m, since)
		r = &recent{times: make([]time.Time, 0, min(max, 16))}
		m[key] = r
	}
	i := 0
	for i < len(r.times) && !r.times[i].After(since) {
		i++
	}
	if i > 0 {
		r.times = append(r.times[:0], r.times[i:]...)
	}
	return r
}

// sweep drops the entries of m with nothing in the window once m has
// grown to nextSweep, and sets the next size to sweep at, so a sweep's
// cost is spread over as many new entries.
func (c *CommandLimits) sweep(m map[string]*recent, since time.Time) {
	if len(m) < c.nextSweep {
		return
	}
	for k, r := range m {
		if len(r.times) == 0 || !r.times[len(r.times)-1].After(since) {
			delete(m, k)
		}
	}
	c.nextSweep = max(minSweep, 2*len(m))
}

func (c *CommandLimits) refuse(r *recent, limit, name string, max int, now time.Time) Refusal {
	first := now.Sub(r.warned) >= c.window
	if first {
		r.warned = now
	}
	return Refusal{Limit: limit, Name: name, Max: max, Window: c.window, First: first}
}

// shortDuration writes d without zero units: "1m", "1h30m", "45s".
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
