package fair

import (
	"fmt"
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
// backlogged (its calls are not waiting for budget), and otherwise only
// while its next call would get its turn within MaxWait and either it has
// fewer runs in flight than turns fit in MaxWait or the delivery has been
// claimed before (it comes back at the turn it was given: a retry or a
// deferral). Any other delivery of the project is put back with a retry
// time at its turn: the first at the project's next turn, each further one
// a turn later, so a flood is spread over the time the budget needs to
// serve it instead of coming back at once. A run that started anyway and finds its turn past its deadline is
// refused by the limiter at once and retried (plugins/gitlab).
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
	projects map[string]*projectTurns
}

// projectTurns is one project's runs in flight and the next turn a put-back
// delivery of it gets.
type projectTurns struct {
	inflight int
	next     time.Time
}

// Decision is what Admit decided. When Run is false the delivery goes back
// to the queue until RetryAt, with Reason in the delivery log.
type Decision struct {
	Run     bool
	RetryAt time.Time
	Reason  string
}

// Admit decides for a delivery of project (a key that stands for it, as
// Who.Key) that has been claimed claims times, given how the project
// stands with the rate limits. When it runs, Done(project) must be called
// once the run ends.
func (a *Admission) Admit(project string, p gitlab.Pressure, claims int, now time.Time) Decision {
	if a == nil {
		return Decision{Run: true}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.projects == nil {
		a.projects = map[string]*projectTurns{}
	}
	st := a.projects[project]
	if st == nil {
		a.sweep(now)
		st = &projectTurns{}
		a.projects[project] = st
	}
	if !p.Backlogged || claims > a.MaxDeferrals || p.Turn <= 0 {
		st.inflight++
		return Decision{Run: true}
	}
	fit := max(1, int(a.MaxWait/p.Turn))
	if p.Wait <= a.MaxWait && (st.inflight < fit || claims > 1) {
		st.inflight++
		return Decision{Run: true}
	}
	at := now.Add(p.Wait)
	if st.next.After(at) {
		at = st.next
	}
	st.next = at.Add(p.Turn)
	return Decision{RetryAt: at, Reason: fmt.Sprintf(
		"deferred: this project's GitLab API calls wait for budget (%d waiting, %d runs in flight); its turn is in %s",
		p.Waiting, st.inflight, at.Sub(now).Round(time.Millisecond))}
}

// sweep drops the projects with nothing in flight and no turn ahead once
// there are minSweep of them (Done drops most of them itself).
func (a *Admission) sweep(now time.Time) {
	if len(a.projects) < minSweep {
		return
	}
	for k, st := range a.projects {
		if st.inflight <= 0 && !st.next.After(now) {
			delete(a.projects, k)
		}
	}
}

// Done ends a run that Admit let start.
func (a *Admission) Done(project string, now time.Time) {
	if a == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	st := a.projects[project]
	if st == nil {
		return
	}
	st.inflight--
	if st.inflight <= 0 && !st.next.After(now) {
		delete(a.projects, project)
	}
}

// Projects counts the projects Admission keeps turns for (for tests).
func (a *Admission) Projects() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.projects)
}
