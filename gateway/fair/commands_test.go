package fair

import (
	"fmt"
	"testing"
	"time"
)

var t0 = time.Date(2025, 5, 1, 12, 0, 0, 0, time.UTC)

func user(name string) Who    { return Who{Key: "u:" + name, Name: name} }
func project(name string) Who { return Who{Key: "p:" + name, Name: name} }

func TestCommandLimitsPerUser(t *testing.T) {
	c := NewCommandLimits(3, 100, time.Minute)
	for i := range 3 {
		if r, ok := c.Allow(user("root"), project("a/b"), t0.Add(time.Duration(i)*time.Second)); !ok {
			t.Fatalf("command %d refused: %+v", i+1, r)
		}
	}
	r, ok := c.Allow(user("root"), project("a/b"), t0.Add(10*time.Second))
	if ok || r.Limit != "user" || !r.First {
		t.Fatalf("4th command: %+v %v, want refused by the user limit, first", r, ok)
	}
	if got, want := r.Reason(), "rate limited: user root sent more than 3 commands in 1m"; got != want {
		t.Fatalf("reason = %q, want %q", got, want)
	}
	if r, ok := c.Allow(user("root"), project("a/b"), t0.Add(20*time.Second)); ok || r.First {
		t.Fatalf("5th command: %+v %v, want refused, not first", r, ok)
	}
	// Another user of the same project is not held back.
	if _, ok := c.Allow(user("alice"), project("a/b"), t0.Add(20*time.Second)); !ok {
		t.Fatal("another user refused")
	}
	// The window slides: a minute after the first command one slot is free
	// again (refusals were not counted), and only one.
	if _, ok := c.Allow(user("root"), project("a/b"), t0.Add(time.Minute+time.Millisecond)); !ok {
		t.Fatal("refused after the first command left the window")
	}
	if _, ok := c.Allow(user("root"), project("a/b"), t0.Add(time.Minute+2*time.Millisecond)); ok {
		t.Fatal("a second command allowed while two are still in the window")
	}
	// A refusal a window after the last warning is worth a warning again.
	at := t0.Add(70 * time.Second) // only the command at 1m is in the window
	for range 2 {
		if _, ok := c.Allow(user("root"), project("a/b"), at); !ok {
			t.Fatal("refused with one command in the window")
		}
	}
	if r, ok := c.Allow(user("root"), project("a/b"), at); ok || !r.First {
		t.Fatalf("refusal a window after the first: %+v %v, want first again", r, ok)
	}
}

func TestCommandLimitsPerProject(t *testing.T) {
	c := NewCommandLimits(2, 5, 30*time.Second)
	n := 0
	for i := range 10 {
		if _, ok := c.Allow(user(fmt.Sprint("u", i)), project("noisy/app"), t0); ok {
			n++
		}
	}
	if n != 5 {
		t.Fatalf("%d commands of 10 users accepted, want the project's 5", n)
	}
	r, ok := c.Allow(user("late"), project("noisy/app"), t0)
	if ok || r.Limit != "project" || r.Reason() != "rate limited: project noisy/app received more than 5 commands in 30s" {
		t.Fatalf("refusal = %+v (%q), %v", r, r.Reason(), ok)
	}
	// A user refused by their own limit does not use the project's count.
	c = NewCommandLimits(1, 2, time.Minute)
	c.Allow(user("root"), project("p"), t0)
	for range 5 {
		if r, ok := c.Allow(user("root"), project("p"), t0); ok || r.Limit != "user" {
			t.Fatalf("root: %+v %v, want refused by the user limit", r, ok)
		}
	}
	if _, ok := c.Allow(user("alice"), project("p"), t0); !ok {
		t.Fatal("the project's second command refused: a refused one was counted")
	}
	// Other projects are not affected.
	if _, ok := c.Allow(user("bob"), project("quiet"), t0); !ok {
		t.Fatal("quiet project refused")
	}
}

func TestCommandLimitsOff(t *testing.T) {
	for _, c := range []*CommandLimits{NewCommandLimits(0, -1, time.Minute), NewCommandLimits(5, 5, 0)} {
		if c != nil {
			t.Fatalf("limits = %+v, want nil (off)", c)
		}
		for range 100 {
			if _, ok := c.Allow(user("u"), project("p"), t0); !ok {
				t.Fatal("nil limits refused")
			}
		}
	}
	// Only one kind set: the other is not kept.
	c := NewCommandLimits(-1, 2, time.Minute)
	for i := range 2 {
		c.Allow(user("u"), project(fmt.Sprint("p", i)), t0)
	}
	if len(c.users) != 0 {
		t.Fatalf("user counts kept with no user limit: %d", len(c.users))
	}
}

// Counts of users and projects with nothing left in the window are dropped
// as new ones come, so the maps do not grow without bound.
func TestCommandLimitsSweep(t *testing.T) {
	c := NewCommandLimits(1, 1, time.Minute)
	for i := range 3 * minSweep {
		now := t0.Add(time.Duration(i) * 100 * time.Millisecond) // 600 a minute
		c.Allow(user(fmt.Sprint("u", i)), project(fmt.Sprint("p", i)), now)
	}
	if len(c.users) > 2*minSweep || len(c.projects) > 2*minSweep {
		t.Fatalf("%d users and %d projects kept, want at most %d", len(c.users), len(c.projects), 2*minSweep)
	}
}

func TestShortDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{time.Minute: "1m", 90 * time.Second: "1m30s",
		time.Hour: "1h", 45 * time.Second: "45s", 2*time.Hour + 5*time.Minute: "2h5m"} {
		if got := shortDuration(d); got != want {
			t.Errorf("shortDuration(%s) = %q, want %q", d, got, want)
		}
	}
}
