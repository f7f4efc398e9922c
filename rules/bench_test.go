package rules

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

var benchKinds = []string{"note", "push", "merge_request", "issue", "pipeline", "build", "tag_push", "wiki_page", "deployment", "release"}

// benchRules writes n rules spread over the 10 kinds, each waiting for its
// own command.
func benchRules(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "[[rule]]\nname = \"r%d\"\non = [%q]\nwhen = 'note contains \"/cmd-%d\"'\nplugin = \"p\"\n\n", i, benchKinds[i%len(benchKinds)], i)
	}
	return b.String()
}

// BenchmarkMatch matches one note event against 1 and 1,000 rules (100 of
// which are for notes); the last note rule matches.
func BenchmarkMatch(b *testing.B) {
	for _, n := range []int{1, 1000} {
		b.Run(fmt.Sprintf("rules=%d", n), func(b *testing.B) {
			set := loadRules(b, benchRules(n))
			last := (n - 1) / 10 * 10 // the last rule on "note"
			env := event(b, "note_merge_request", note(fmt.Sprintf("/cmd-%d please", last)))
			ctx := context.Background()
			deps := botDeps(nil)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				res := set.Match(ctx, env, deps)
				if len(res.Matches) != 1 {
					b.Fatalf("matches = %v", summary(res))
				}
			}
		})
	}
}

// BenchmarkMatchPayload measures a rule that reads the raw payload, which
// is decoded once per event.
func BenchmarkMatchPayload(b *testing.B) {
	set := loadRules(b, `[[rule]]
name = "p"
when = 'payload.object_attributes?.noteable_type == "MergeRequest"'
plugin = "p"
`)
	env := event(b, "note_merge_request", nil)
	b.ReportAllocs()
	for b.Loop() {
		if res := set.Match(context.Background(), env, Deps{}); len(res.Matches) != 1 {
			b.Fatal(summary(res))
		}
	}
}
