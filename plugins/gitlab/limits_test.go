package gitlab

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestCallRecordLimits: a dry run records calls without sending them and
// without rate limits, so one run looping on gitlab.comment with a long
// body used to write without bound into the delivery log. Now a run makes
// at most MaxCallsPerRun calls, each record keeps at most
// MaxCallBodyBytes of body and a run's records MaxCallBodiesBytes, marked
// where cut; arguments repeating one long string stop at their budget.
func TestCallRecordLimits(t *testing.T) {
	f := newFake(t, func(g got) answer {
		t.Errorf("dry run sent %s %s", g.Method, g.Path)
		return answer{500, "{}", nil}
	})
	s := f.scope(t, mrNoteEnv(), func(i *Instance) { i.DryRun = true })
	L := newLua(t, WithScope(t.Context(), s))
	err := L.DoString(`
		local body = ("é"):rep(20000)
		for i = 1, 2000 do gitlab.comment(i .. body) end`)
	want := "gitlab: POST /projects/5/merge_requests/7/notes: more than 1000 API calls in one run"
	if gerr := goError(err); gerr == nil || !strings.HasSuffix(gerr.Error(), want) {
		t.Fatalf("looping calls: %v, want %q", goError(err), want)
	}
	calls := s.Calls()
	if len(calls) != MaxCallsPerRun {
		t.Fatalf("%d calls recorded, want %d", len(calls), MaxCallsPerRun)
	}
	total := 0
	for i, c := range calls {
		total += len(c.Body)
		var text string
		if err := json.Unmarshal(c.Body, &text); err != nil || !utf8.ValidString(text) || !strings.Contains(text, "…(truncated: 400") {
			t.Fatalf("call %d: body %.80q: %v", i, c.Body, err)
		}
		if len(c.Body) > MaxCallBodyBytes {
			t.Fatalf("call %d: %d bytes of body", i, len(c.Body))
		}
	}
	if total > MaxCallBodiesBytes+MaxCallsPerRun*64 {
		t.Errorf("the run's call records hold %d bytes of bodies", total)
	}
	// The first body is cut at its start, the ones past the run's total
	// keep only the mark.
	var first, last string
	_ = json.Unmarshal(calls[0].Body, &first)
	_ = json.Unmarshal(calls[len(calls)-1].Body, &last)
	if !strings.HasPrefix(first, `{"body":"1éé`) || last != "…(truncated: 40015 bytes)" {
		t.Errorf("first %.40q..., last %q", first, last)
	}

	// Small bodies are kept whole, as JSON objects.
	s2 := f.scope(t, mrNoteEnv(), func(i *Instance) { i.DryRun = true })
	L2 := newLua(t, WithScope(t.Context(), s2))
	if err := L2.DoString(`gitlab.add_labels{"a", "b"}`); err != nil {
		t.Fatal(err)
	}
	if b := string(s2.Calls()[0].Body); b != `{"add_labels":"a,b"}` {
		t.Errorf("small body %s", b)
	}

	// A list repeating one 1 MiB string stops at the argument budget
	// before any body is built.
	err = L2.DoString(`
		local s, list = ("x"):rep(1048576), {}
		for i = 1, 100 do list[i] = s end
		gitlab.add_labels(list)`)
	if err == nil || !strings.Contains(err.Error(), "gitlab.add_labels: arguments: too large (max 8388608 bytes)") {
		t.Errorf("labels over the budget: %v", err)
	}
	if n := len(s2.Calls()); n != 1 {
		t.Errorf("%d calls after the refused one", n)
	}
}
