package fair

import (
	"sync"
	"time"

	"github.com/hookgate/hookgate/plugins/gitlab"
)

// Admission decides, for each claimed delivery, whether it runs now or
// goes back to the queue until its project's turn for GitLab API budget.
//
// The queue hands deliveries out in arrival order, so after one project's
// flood every worker would hold one of its runs, each waiting in the rate
// limiter for a turn that comes once per busy project per token, and the
// other projects' deliveries behind the flood would not even be claimed.
// Admission lets a project's delivery run while the project is not
// backlogged (no call of it waits for budget and no turn is promised to
// it), and otherwise only while the run's call can expect its turn within
// MaxWait: after the project's calls already waiting, and one turn for
// each of its runs in flight that has not reached the limiter yet. Any
// other delivery is put back in the queue by the caller, with a retry time
// at a turn the limiter promises the project (gitlab.Client.Defer), each
// one a turn after the one before: a flood comes back spread over the time
// the budget needs to serve it, not all at once.
//
// It is safe for concurrent use; a nil *Admission admits everything.
type Admission struct {
	// MaxWait is how long a run of a backlogged project may expect to wait
	// for budget; keep it well below the plugin timeout, which the wait
	// counts against.
	MaxWait time.Duration
	// MaxDeferrals bounds how often one delivery is put back: a delivery
	// claimed more often than this runs whatever the budget, so a NATS
	// consumer's delivery limit (which counts every put-back) is never
	// reached through deferrals alone.
	MaxDeferrals int

	mu       sync.Mutex
	inflight map[string]int // runs under way, per project
}

// Admit reports whether a delivery of project (a key that stands for it,
// as Who.Key), claimed claims times, runs now, given how the project
// stands with the rate limits. When it does, Done(project) must be called
// once the run ends.
func (a *Admission) Admit(project string, p gitlab.Pressure, claims int) bool {
	if a == nil {
		return true
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	n := a.inflight[project]
	if p.Backlogged && claims <= a.MaxDeferrals && p.Turn > 0 {
		expect := p.Wait + time.Duration(max(n-p.Waiting, 0))*p.Turn
		if expect > a.MaxWait {
			return false
		}
	}
	if a.inflight == nil {
		a.inflight = map[string]int{}
	}
	a.inflight[project] = n + 1
	return true
}

// Done ends a run that Admit let start.
func (a *Admission) Done(project string) {
	if a == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if n := a.inflight[project]; n > 1 {
		a.inflight[project] = n - 1
	} else {
		delete(a.inflight, project)
	}
}

// InFlight counts the runs under way for project (for tests and logs).
func (a *Admission) InFlight(project string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.inflight[project]
}
