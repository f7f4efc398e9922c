package fair

import (
	"testing"
	"time"

	"github.com/hookgate/hookgate/plugins/gitlab"
)

func TestAdmissionRunsWhileNotBacklogged(t *testing.T) {
	var nilAdmission *Admission
	if !nilAdmission.Admit("p", gitlab.Pressure{Backlogged: true, Wait: time.Hour, Turn: time.Second}, 1) {
		t.Fatal("a nil Admission deferred")
	}
	nilAdmission.Done("p")

	a := &Admission{MaxWait: 2 * time.Second, MaxDeferrals: 8}
	// Not backlogged: every delivery runs, however many are under way and
	// however long the next call would wait (the limiter is not short for
	// this project: its runs do not ask for that budget).
	for range 100 {
		if !a.Admit("p", gitlab.Pressure{Wait: time.Minute, Turn: time.Second}, 1) {
			t.Fatal("deferred without being backlogged")
		}
	}
	if n := a.InFlight("p"); n != 100 {
		t.Fatalf("%d runs in flight, want 100", n)
	}
	for range 100 {
		a.Done("p")
	}
	if n := a.InFlight("p"); n != 0 || len(a.inflight) != 0 {
		t.Fatalf("%d runs in flight, %d projects kept after the runs ended", n, len(a.inflight))
	}
}

// A backlogged project runs a delivery only while its call can expect a
// turn within MaxWait: after the calls waiting, and a turn for each run in
// flight that has not reached the limiter yet. Other projects are not
// affected.
func TestAdmissionBacklogged(t *testing.T) {
	a := &Admission{MaxWait: 2500 * time.Millisecond, MaxDeferrals: 8}
	// One call waiting, its turn a second away: two runs fit (1 s, 2 s).
	p := gitlab.Pressure{Backlogged: true, Waiting: 1, Wait: time.Second, Turn: time.Second}
	a.Admit("noisy", gitlab.Pressure{}, 1) // the run whose call waits
	for i := range 2 {
		if !a.Admit("noisy", p, 1) {
			t.Fatalf("run %d deferred: its turn is %d s away", i+1, i+1)
		}
	}
	if a.Admit("noisy", p, 1) {
		t.Fatal("a run ran with its turn 3 s away")
	}
	// A run whose call waits already counts once (in the wait), not twice.
	if !a.Admit("noisy", gitlab.Pressure{Backlogged: true, Waiting: 3, Wait: 2 * time.Second, Turn: time.Second}, 1) {
		t.Fatal("deferred with every run's call waiting and the next turn 2 s away")
	}
	if a.Admit("noisy", gitlab.Pressure{Backlogged: true, Waiting: 3, Wait: 2 * time.Second, Turn: time.Second}, 1) {
		t.Fatal("ran with a run in flight not waiting yet: its turn is 2 s + 1 turn away")
	}
	// A turn further off than MaxWait: no run, even with none in flight.
	if a.Admit("other", gitlab.Pressure{Backlogged: true, Wait: 3 * time.Second, Turn: time.Second}, 1) {
		t.Fatal("ran with its turn 3 s away")
	}
	// A quiet project runs, whatever the noisy one's turns.
	if !a.Admit("quiet", gitlab.Pressure{Wait: 2 * time.Second, Turn: 2 * time.Second}, 1) {
		t.Fatal("quiet project deferred")
	}
	// A delivery put back too often runs anyway.
	if !a.Admit("noisy", gitlab.Pressure{Backlogged: true, Waiting: 9, Wait: time.Minute, Turn: time.Second}, 9) {
		t.Fatal("a delivery claimed 9 times deferred again")
	}
}
