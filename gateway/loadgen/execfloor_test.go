package loadgen

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestExecFloor: one process per delivery, each fed the whole body on
// stdin; 202 only when it exits 0.
func TestExecFloor(t *testing.T) {
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skip("no /bin/sh")
	}
	p, err := NewPayload(NoteHook, "Note Hook", "/exec floor", "", "")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// Each run writes its stdin to a file of its own.
	f, err := StartExecFloor([]string{"sh", "-c", `cat > "$0/$$"`, dir})
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(context.Background(), Options{URL: f.URL, Payload: p, Conns: 4, Requests: 24})
	if cerr := f.Close(); cerr != nil {
		t.Error(cerr)
	}
	if err != nil {
		t.Fatal(err)
	}
	if res.Accepted != 24 || res.Statuses["202 queued"] != 24 {
		t.Errorf("accepted %d, statuses %v (%s)", res.Accepted, res.Statuses, res.FirstError)
	}
	files, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 24 {
		t.Errorf("%d processes wrote their input, want 24", len(files))
	}
	for _, e := range files {
		got, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, p.Body) {
			t.Fatalf("process %s read %d bytes, not the %d-byte body", e.Name(), len(got), len(p.Body))
		}
	}

	// A command that fails: every delivery answered 500, none accepted.
	f, err = StartExecFloor([]string{"sh", "-c", "cat >/dev/null; echo boom >&2; exit 3"})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err = Run(context.Background(), Options{URL: f.URL, Payload: p, Conns: 2, Requests: 6})
	if err != nil {
		t.Fatal(err)
	}
	if res.Accepted != 0 || res.Statuses["500"] != 6 {
		t.Errorf("failing command: accepted %d, statuses %v", res.Accepted, res.Statuses)
	}

	for _, argv := range [][]string{nil, {""}, {"no-such-command-hookgate"}} {
		if f, err := StartExecFloor(argv); err == nil {
			f.Close()
			t.Errorf("StartExecFloor(%q) started", argv)
		}
	}
}

// The fork/exec ratio is end to end (processed, drained) over the floor's
// accepted rate, judged against 10x; without a drained pipeline there is
// no such ratio.
func TestEvaluateExecRatio(t *testing.T) {
	gw := func(pl *Pipeline) *Result {
		return &Result{Name: "gateway", AcceptedPerSec: 5000, Sent: 10, Accepted: 10, Pipeline: pl}
	}
	exec := &Result{Name: "fork/exec floor", AcceptedPerSec: 400, Command: []string{"cat"}}
	r := &Report{Gateway: gw(&Pipeline{EndToEndPerSec: 4800, DrainTime: time.Second}), Exec: exec}
	r.Evaluate()
	if r.Ratios.EndToEndVsExec != 12 {
		t.Errorf("ratio %v, want 12", r.Ratios.EndToEndVsExec)
	}
	found := false
	for _, c := range r.Checks {
		if c.Name == checkExec {
			found = true
			if !c.OK || c.Got != "12.0x" {
				t.Errorf("check %+v", c)
			}
		}
	}
	if !found {
		t.Fatalf("no %q check in %+v", checkExec, r.Checks)
	}
	var text bytes.Buffer
	r.Print(&text)
	for _, want := range []string{"fork/exec floor", `["cat"] per delivery`, "end to end vs fork/exec floor  12.0x"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("printed report lacks %q:\n%s", want, text.String())
		}
	}

	// Slower than 10x misses; an undrained or absent pipeline has no ratio.
	r = &Report{Gateway: gw(&Pipeline{EndToEndPerSec: 3000, DrainTime: time.Second}), Exec: exec}
	r.Evaluate()
	if r.Ratios.EndToEndVsExec != 7.5 || len(r.Checks) == 0 || r.Checks[0].Name != checkExec || r.Checks[0].OK {
		t.Errorf("7.5x: ratios %+v checks %+v", r.Ratios, r.Checks)
	}
	for _, pl := range []*Pipeline{nil, {EndToEndPerSec: 3000, DrainTime: -1}, {Error: "gone", DrainTime: time.Second}} {
		r = &Report{Gateway: gw(pl), Exec: exec}
		r.Evaluate()
		if r.Ratios.EndToEndVsExec != 0 {
			t.Errorf("pipeline %+v: ratio %v", pl, r.Ratios.EndToEndVsExec)
		}
	}

	// Rounds: the median of the per-round ratios.
	rounds := []*Report{}
	for _, e2e := range []float64{3000, 4800, 6000} {
		r := &Report{Gateway: gw(&Pipeline{EndToEndPerSec: e2e, DrainTime: time.Second}), Exec: exec}
		r.Evaluate()
		rounds = append(rounds, r)
	}
	rs := Summarize(rounds)
	if rs.Median.EndToEndVsExec != 12 {
		t.Errorf("median %v, want 12", rs.Median.EndToEndVsExec)
	}
	for _, c := range rs.Checks {
		if c.Name == checkExec && (!c.OK || c.Got != "12.00x median (7.50-15.00)") {
			t.Errorf("rounds check %+v", c)
		}
	}
	text.Reset()
	rs.Print(&text)
	if !strings.Contains(text.String(), "fork/exec floor") || !strings.Contains(text.String(), "end to end vs fork/exec floor  12.0x") {
		t.Errorf("rounds print:\n%s", text.String())
	}
}
