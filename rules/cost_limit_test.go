package rules

import (
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Costly conditions over a 1 MB note stop quickly, with little memory, and
// say which limit they hit.
func TestConditionCostLimits(t *testing.T) {
	text := strings.Repeat("word ", 200_000) // 1 MB
	deep := strings.Repeat("[", 5000) + strings.Repeat("]", 5000)
	for _, c := range []struct {
		src  string
		want []string // any of them
	}{
		{`len(reduce(1..50, #acc + note, "")) > 0`, []string{"more than 8388608 bytes of strings built (+)"}},
		{`len(reduce(split(note, " "), #acc + #, "")) > 0`, []string{"more than 8388608 bytes of strings built (+)"}},
		{`len(reduce(split(note, " "), upper(note), "")) > 0`, []string{"more than 8388608 bytes of strings built (upper)"}},
		{`len(repeat(note, 1000000)) > 0`, []string{"more than 8388608 bytes of strings built (repeat)"}},
		{`len(replace(note, "", note)) > 0`, []string{"more than 8388608 bytes of strings built (replace)"}},
		{`len(join(split(note, " "), note)) > 0`, []string{"more than 8388608 bytes of strings built (join)"}},
		{`len(split(note, "")) > 0`, []string{"more than 8388608 bytes of strings built (split)"}},
		{`len(toJSON(fromJSON(payload.deep))) > 0`, []string{"more than 8388608 bytes of strings built (toJSON)"}},
		{`fromJSON(note + note) != nil`, []string{"more than 8388608 bytes of strings built (fromJSON)"}},
		{`note matches ("^" + note)`, []string{"a pattern built at run time is longer than 1024 bytes (matches)"}},
		// A short pattern can still be a big program: \pL{1000} over 1 MB.
		{`note matches (repeat("\\pL", 1) + "{1000}b")`, []string{"a pattern built at run time of 1003 instructions over 1000000 bytes of text is past the limit of 50000000 (matches)"}},
		{`all(1..1000, all(1..1000, true))`, []string{"more than 100000 list and map elements built"}},
		{`let xs = split(note, " ")[0:2000]; any(xs, any(xs, false))`, []string{"more than 1000000 loop steps"}},
		{`any(split(note, " "), note contains "zzz")`, []string{"ran longer than 250ms"}},
	} {
		t.Run(c.src, func(t *testing.T) {
			set := loadRules(t, fmt.Sprintf("[[rule]]\nname = \"costly\"\nwhen = '%s'\nplugin = \"p\"\n\n[[rule]]\nname = \"fine\"\nplugin = \"p\"\n", c.src))
			env := event(t, "note_merge_request", note(text))
			env.Payload = []byte(`{"deep": "` + deep + `"}`)
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			start := time.Now()
			res := set.Match(t.Context(), env, Deps{})
			took := time.Since(start)
			runtime.ReadMemStats(&after)
			alloc := after.TotalAlloc - before.TotalAlloc
			t.Logf("%v, %d MiB allocated: %v", took.Round(time.Millisecond), alloc>>20, summary(res))
			if len(res.Errors) != 1 || res.Errors[0].Rule != "costly" || len(res.Matches) != 1 || res.Matches[0].Rule.Name != "fine" {
				t.Fatalf("result %v, want an error for costly and a match for fine", summary(res))
			}
			var ce *CostError
			if !errors.As(res.Errors[0].Err, &ce) {
				t.Errorf("error %v is not a *CostError", res.Errors[0].Err)
			}
			msg := res.Errors[0].Err.Error()
			// The clock may stop any of them first on a loaded machine.
			ok := strings.Contains(msg, "when: cost limit exceeded: ran longer than 250ms")
			for _, w := range c.want {
				ok = ok || strings.Contains(msg, "when: cost limit exceeded: "+w)
			}
			if !ok {
				t.Errorf("error %q, want one of %q", msg, c.want)
			}
			// Generous for -race on a loaded 2-core machine; unbounded they
			// take from 7 s to hours, and from 1 GB to a crash.
			if took > 3*time.Second {
				t.Errorf("took %v", took)
			}
			// The note and payload are copied into the event; the rest is
			// the budget (8 MiB of strings) and what one step builds.
			if alloc > 64<<20 {
				t.Errorf("allocated %d MiB", alloc>>20)
			}
		})
	}
}

// glob() reads strings of at most 4 KiB with at most two "**": matching
// takes time up to the string's segments to the power of the "**"s.
func TestGlobBounds(t *testing.T) {
	dir := writeFiles(t, t.TempDir(), map[string]string{"rules.toml": "[[rule]]\nname = \"g\"\nwhen = 'glob(\"**/a/**/b/**\", note)'\nplugin = \"p\"\n"})
	if _, err := Load([]string{filepath.Join(dir, "*.toml")}, Options{}); err == nil ||
		!strings.Contains(err.Error(), `at most 2 "**" in a pattern`) {
		t.Fatalf("three **: %v", err)
	}
	set := loadRules(t, "[[rule]]\nname = \"g\"\nwhen = 'glob(\"**/a/**/b\", note)'\nplugin = \"p\"\n")
	start := time.Now()
	res := set.Match(t.Context(), event(t, "note_merge_request", note(strings.Repeat("a/", 20_000))), Deps{})
	if took := time.Since(start); len(res.Errors) != 1 || !strings.Contains(res.Errors[0].Err.Error(), "glob reads at most 4096") || took > 2*time.Second {
		t.Fatalf("glob over a 40 KB note: %v in %v", summary(res), took)
	}
	res = set.Match(t.Context(), event(t, "note_merge_request", note(strings.Repeat("a/", 2000)+"b")), Deps{})
	if len(res.Matches) != 1 {
		t.Fatalf("glob over a 4 KB note: %v", summary(res))
	}
}
