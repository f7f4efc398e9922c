package fair

import (
	"strings"
	"testing"
	"time"

	"github.com/hookgate/hookgate/plugins/gitlab"
)

func TestAdmissionRunsWhileNotBacklogged(t *testing.T) {
	var nilAdmission *Admission
	if d := nilAdmission.Admit("p", gitlab.Pressure{Backlogged: true, Wait: time.Hour, Turn: time.Second}, 1, t0); !d.Run {
		t.Fatal("a nil Admission deferred")
	}
	nilAdmission.Done("p", t0)

	a := &Admission{MaxWait: 2 * time.Second, MaxDeferrals: 8}
	for range 100 {
		if d := a.Admit("p", gitlab.Pressure{}, 1, t0); !d.Run {
			t.Fatalf("deferred without pressure: %+v", d)
		}
	}
	for range 100 {
		a.Done("p", t0)
	}
	if n := a.Projects(); n != 0 {
		t.Fatalf("%d projects kept after their runs ended", n)
	}
}

// A backlogged project runs as many deliveries as its turns within MaxWait;
// the rest go back, each a turn after the one before, starting at its
// next turn. Other projects are not affected.
func TestAdmissionDefersBacklogged(t *testing.T) {
	a := &Admission{MaxWait: 2500 * time.Millisecond, MaxDeferrals: 8}
	p := gitlab.Pressure{Backlogged: true, Waiting: 1, Wait: time.Second, Turn: time.Second}
	for i := range 2 {
		if d := a.Admit("noisy", p, 1, t0); !d.Run {
			t.Fatalf("run %d deferred: %+v (2 turns fit in 2.5s)", i+1, d)
		}
	}
	for i := range 3 {
		d := a.Admit("noisy", p, 1, t0)
		want := t0.Add(time.Duration(i+1) * time.Second)
		if d.Run || !d.RetryAt.Equal(want) {
			t.Fatalf("delivery %d: %+v, want deferred to %s", i+3, d, want)
		}
		if !strings.Contains(d.Reason, "wait for budget") {
			t.Fatalf("reason = %q", d.Reason)
		}
	}
	// The turns already given out are kept when the wait shrinks...
	if d := a.Admit("noisy", gitlab.Pressure{Backlogged: true, Turn: time.Second}, 1, t0); d.Run || !d.RetryAt.Equal(t0.Add(4*time.Second)) {
		t.Fatalf("next deferral = %+v, want at 4s", d)
	}
	// ...and a turn further off than the spaced ones moves them on.
	far := gitlab.Pressure{Backlogged: true, Waiting: 9, Wait: 10 * time.Second, Turn: 2 * time.Second}
	if d := a.Admit("noisy", far, 1, t0); d.Run || !d.RetryAt.Equal(t0.Add(10*time.Second)) {
		t.Fatalf("deferral = %+v, want at 10s", d)
	}
	if d := a.Admit("noisy", far, 1, t0); d.Run || !d.RetryAt.Equal(t0.Add(12*time.Second)) {
		t.Fatalf("deferral = %+v, want at 12s", d)
	}
	// A quiet project runs, whatever the noisy one's turns.
	if d := a.Admit("quiet", gitlab.Pressure{Wait: 2 * time.Second, Turn: 2 * time.Second}, 1, t0); !d.Run {
		t.Fatalf("quiet project deferred: %+v", d)
	}
	// A delivery put back too often runs anyway.
	if d := a.Admit("noisy", far, 9, t0); !d.Run {
		t.Fatalf("delivery claimed 9 times deferred again: %+v", d)
	}
	// Ending a run makes room for the next within MaxWait.
	for range 3 {
		a.Done("noisy", t0)
	}
	if d := a.Admit("noisy", p, 1, t0.Add(20*time.Second)); !d.Run {
		t.Fatalf("deferred after the runs in flight ended: %+v", d)
	}
	a.Done("noisy", t0.Add(20*time.Second))
	a.Done("quiet", t0.Add(20*time.Second))
	if n := a.Projects(); n != 0 {
		t.Fatalf("%d projects kept after their runs and turns ended", n)
	}
}

// A project whose next call is further off than MaxWait does not start a
// run at all, even with none in flight.
func TestAdmissionWaitBeyondMax(t *testing.T) {
	a := &Admission{MaxWait: 2 * time.Second, MaxDeferrals: 8}
	d := a.Admit("p", gitlab.Pressure{Backlogged: true, Wait: 3 * time.Second, Turn: time.Second}, 1, t0)
	if d.Run || !d.RetryAt.Equal(t0.Add(3*time.Second)) {
		t.Fatalf("decision = %+v, want deferred to 3s", d)
	}
}

// A delivery claimed before (deferred or retried) comes back at the turn it
// was given: it runs while the wait is short, even with the project's runs
// in flight at the cap, and goes to the end of the line when it is not.
func TestAdmissionReturningDelivery(t *testing.T) {
	a := &Admission{MaxWait: 2500 * time.Millisecond, MaxDeferrals: 8}
	p := gitlab.Pressure{Backlogged: true, Waiting: 2, Wait: 2 * time.Second, Turn: time.Second}
	for range 2 {
		a.Admit("noisy", p, 1, t0)
	}
	if d := a.Admit("noisy", p, 1, t0); d.Run {
		t.Fatal("a new delivery ran with the project's runs at the cap")
	}
	if d := a.Admit("noisy", p, 2, t0); !d.Run {
		t.Fatalf("a returning delivery was deferred again: %+v", d)
	}
	far := gitlab.Pressure{Backlogged: true, Waiting: 5, Wait: 5 * time.Second, Turn: time.Second}
	if d := a.Admit("noisy", far, 2, t0); d.Run || !d.RetryAt.Equal(t0.Add(5*time.Second)) {
		t.Fatalf("returning delivery with its turn 5s away: %+v, want deferred to 5s", d)
	}
}
