package local

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway/queue"
	"github.com/hookgate/hookgate/gateway/queue/queuetest"
)

// open opens a store in path and closes it at the end of the test.
func open(t *testing.T, path string, opts Options) *Store {
	t.Helper()
	if opts.SweepInterval == 0 {
		opts.SweepInterval = -1 // tests sweep explicitly unless they test the janitor
	}
	if opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	s, err := Open(path, opts)
	return queuetest.Opened(t, s, err)
}

// testLogger writes the store's log into the test's output.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// The helpers both backends' tests share.
var (
	ctx       = queuetest.Context
	delivery  = queuetest.Delivery
	mustClaim = queuetest.Claim
)

func mustEnqueue(t *testing.T, s *Store, d *queue.Delivery) string {
	t.Helper()
	rc, err := s.Enqueue(ctx(t), d)
	if err != nil {
		t.Fatalf("enqueue: %v", err)
	}
	return rc.ID
}

func mustGet(t *testing.T, s *Store, id string) *queue.Delivery {
	t.Helper()
	d, err := s.Get(ctx(t), id)
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	return d
}

// nothingReady asserts Claim finds nothing within a short wait.
func nothingReady(t *testing.T, s *Store) {
	t.Helper()
	queuetest.NoClaim(t, s, 50*time.Millisecond)
}

func TestConformance(t *testing.T) {
	queuetest.Run(t, func(t *testing.T) queue.Backend {
		return open(t, filepath.Join(t.TempDir(), "q.db"), Options{})
	})
}

func TestConformanceClock(t *testing.T) {
	queuetest.RunClock(t, func(t *testing.T, now func() time.Time, window time.Duration) queue.Backend {
		return open(t, filepath.Join(t.TempDir(), "q.db"), Options{Now: now, Policy: queue.Policy{DedupeWindow: window}})
	})
}

func TestReopenKeepsEverything(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "dir", "q.db")
	s, err := Open(path, Options{Policy: queue.Policy{SweepInterval: -1}, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	done := mustEnqueue(t, s, delivery("note"))
	queued := delivery("push")
	queued.Key = "idem"
	mustEnqueue(t, s, queued)
	d := mustClaim(t, s)
	if err := s.Finish(ctx(t), d.ID, queue.Report{Status: queue.StatusDone, Outcomes: []queue.Outcome{
		{Rule: "r", Status: "ok", Result: json.RawMessage(`{"n":1}`)},
	}}); err != nil {
		t.Fatal(err)
	}
	if err := s.KVPut(ctx(t), "plugin", "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	before, err := s.List(ctx(t), queue.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open(t, path, Options{})
	after, err := s.List(ctx(t), queue.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	b1, _ := json.Marshal(before)
	b2, _ := json.Marshal(after)
	if string(b1) != string(b2) {
		t.Errorf("after reopen:\n got %s\nwant %s", b2, b1)
	}
	if v, ok, err := s.KVGet(ctx(t), "plugin", "k"); err != nil || !ok || string(v) != "v" {
		t.Errorf("kv after reopen = %q, %v, %v", v, ok, err)
	}
	again := delivery("push")
	again.Key = "idem"
	if rc, err := s.Enqueue(ctx(t), again); err != nil || !rc.Duplicate {
		t.Errorf("idempotency key forgotten across reopen: %+v, %v", rc, err)
	}
	if got := mustClaim(t, s); got.ID != queued.ID {
		t.Errorf("claimed %s after reopen, want the queued %s", got.ID, queued.ID)
	}
	if got := mustGet(t, s, done); got.Status != queue.StatusDone {
		t.Errorf("done delivery is %s after reopen", got.Status)
	}
}

// TestCrashRecovery simulates a process dying during a run: claim, then
// close without finishing, then reopen.
func TestCrashRecovery(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	var id string
	for run := 1; run <= DefaultQuarantineAfter; run++ {
		s, err := Open(path, Options{Policy: queue.Policy{SweepInterval: -1}, Logger: testLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		if run == 1 {
			id = mustEnqueue(t, s, delivery("note"))
		} else if got := mustGet(t, s, id); got.Status != queue.StatusQueued || got.Attempts != run-1 {
			t.Fatalf("reopen %d: status %s attempts %d, want queued with %d", run, got.Status, got.Attempts, run-1)
		}
		if d := mustClaim(t, s); d.ID != id || d.Attempts != run || d.Finished != 0 {
			t.Fatalf("run %d: claimed %s attempts %d finished %d", run, d.ID, d.Attempts, d.Finished)
		}
		if err := s.Close(); err != nil { // the "crash": no Finish
			t.Fatal(err)
		}
	}

	s := open(t, path, Options{})
	next := mustEnqueue(t, s, delivery("push"))
	if d := mustClaim(t, s); d.ID != next {
		t.Fatalf("claimed %s, want %s: the crashing delivery must be quarantined", d.ID, next)
	}
	got := mustGet(t, s, id)
	if got.Status != queue.StatusDead || got.Error != "quarantined: 3 runs did not finish" || got.Attempts != 3 {
		t.Errorf("crashing delivery: status %s error %q attempts %d", got.Status, got.Error, got.Attempts)
	}
	nothingReady(t, s)

	// Replay gives it a fresh unfinished count.
	if err := s.Requeue(ctx(t), id, ""); err != nil {
		t.Fatal(err)
	}
	if d := mustClaim(t, s); d.ID != id || d.Attempts != 4 || d.Finished != 3 {
		t.Errorf("replayed: %s attempts %d finished %d; want %s, 4, 3", d.ID, d.Attempts, d.Finished, id)
	}
}

func TestQuarantineOptions(t *testing.T) {
	cases := []struct {
		name     string
		after    int
		crashes  int
		wantDead bool
	}{
		{"below limit", 2, 1, false},
		{"at limit", 2, 2, true},
		{"disabled", -1, 5, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "q.db")
			opts := Options{Policy: queue.Policy{QuarantineAfter: tc.after, SweepInterval: -1}, Logger: testLogger(t)}
			s, err := Open(path, opts)
			if err != nil {
				t.Fatal(err)
			}
			id := mustEnqueue(t, s, delivery("note"))
			for range tc.crashes {
				mustClaim(t, s)
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
				if s, err = Open(path, opts); err != nil {
					t.Fatal(err)
				}
			}
			c, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
			defer cancel()
			d, err := s.Claim(c)
			if tc.wantDead != (d == nil) {
				t.Errorf("claim = %v, %v; want dead %v", d, err, tc.wantDead)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s = open(t, path, opts)
			dead := mustGet(t, s, id).Status == queue.StatusDead
			if dead != tc.wantDead {
				t.Errorf("dead = %v, want %v", dead, tc.wantDead)
			}
		})
	}
}

func TestOpen(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{})
	if got := s.db.Path(); got != filepath.Join(dir, DefaultFileName) {
		t.Errorf("store in a directory opened %s", got)
	}
	start := time.Now()
	_, err := Open(dir, Options{})
	if err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("second open of a file in use: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("second open took %v", d)
	}
	if _, err := Open("", Options{}); err == nil {
		t.Error("open with an empty path succeeded")
	}
}

// TestRecordMirrorsDelivery fails when queue.Delivery gains a field the
// record does not carry: it would be lost in storage.
func TestRecordMirrorsDelivery(t *testing.T) {
	rt := reflect.TypeFor[record]()
	dt := reflect.TypeFor[queue.Delivery]()
	for i := range dt.NumField() {
		f := dt.Field(i)
		if f.Name == "Envelope" {
			continue
		}
		rf, ok := rt.FieldByName(f.Name)
		if !ok {
			t.Errorf("record lacks Delivery.%s", f.Name)
			continue
		}
		if tag, rtag := strings.Split(f.Tag.Get("json"), ",")[0], strings.Split(rf.Tag.Get("json"), ",")[0]; tag != rtag {
			t.Errorf("record.%s json name %q, Delivery's %q", f.Name, rtag, tag)
		}
	}
}

func TestEnqueueInvalid(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "q.db"), Options{})
	long := delivery("note")
	long.ID = strings.Repeat("x", MaxIDLen+1)
	longKey := delivery("note")
	longKey.Key = strings.Repeat("k", MaxKeyLen+1)
	for name, d := range map[string]*queue.Delivery{"nil": nil, "long id": long, "long key": longKey} {
		if _, err := s.Enqueue(ctx(t), d); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	first := delivery("note")
	first.ID = "fixed"
	mustEnqueue(t, s, first)
	again := delivery("push")
	again.ID = "fixed"
	if _, err := s.Enqueue(ctx(t), again); !errors.Is(err, ErrDuplicateID) {
		t.Errorf("enqueue of a stored id: %v, want ErrDuplicateID", err)
	}
	if got := mustGet(t, s, "fixed"); got.Envelope.Kind != "note" {
		t.Errorf("stored delivery overwritten: kind %s", got.Envelope.Kind)
	}
}
