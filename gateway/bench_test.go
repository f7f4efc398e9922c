package gateway_test

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/hookgate/hookgate/gateway"
	"github.com/hookgate/hookgate/gateway/envelope"
	"github.com/hookgate/hookgate/gateway/queue"
	"github.com/hookgate/hookgate/plugins"
	"github.com/hookgate/hookgate/plugins/gitlab"
	"github.com/hookgate/hookgate/rules"
)

const commentPlugin = `
function handle(event, params)
  gitlab.comment("Build queued for " .. event.sha)
  return { ok = true }
end
`

// BenchmarkPluginRun is one plugin run as workers do it: a pooled state,
// the envelope handed to Lua, one dry-run gitlab.comment recorded.
func BenchmarkPluginRun(b *testing.B) {
	dir := b.TempDir()
	writeFiles(b, dir, map[string]string{"plugins/comment.lua": commentPlugin})
	ps, err := plugins.Load(filepath.Join(dir, "plugins"), plugins.Options{Modules: []plugins.Module{gitlab.Module}})
	if err != nil {
		b.Fatal(err)
	}
	gl, _ := gitlab.New(nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	env, err := envelope.Normalize("Note Hook", withNote(b, "/packit build"), "")
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		scope := gl.For(env).Scope(env, "uuid")
		res := ps.Run(gitlab.WithScope(ctx, scope), "comment", env, nil)
		if res.Status != plugins.StatusOK || len(scope.Calls()) != 1 {
			b.Fatalf("run: %+v", res)
		}
	}
}

// BenchmarkPipeline is the processing of one delivery: match against the
// rules, run the one matching plugin with a dry-run comment.
func BenchmarkPipeline(b *testing.B) {
	dir := b.TempDir()
	writeFiles(b, dir, map[string]string{
		"plugins/comment.lua": commentPlugin,
		"rules/r.toml":        "[[rule]]\nname = \"build\"\non = [\"note\"]\nwhen = 'has_command(\"/packit\", \"build\")'\nplugin = \"comment\"\n",
	})
	ps, err := plugins.Load(filepath.Join(dir, "plugins"), plugins.Options{Modules: []plugins.Module{gitlab.Module}})
	if err != nil {
		b.Fatal(err)
	}
	rs, err := rules.Load([]string{filepath.Join(dir, "rules", "*.toml")}, rules.Options{PluginExists: ps.Has})
	if err != nil {
		b.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	gl, _ := gitlab.New(nil, log)
	bundle := &gateway.Bundle{Rules: rs, Plugins: ps}
	p := &gateway.Pipeline{Bundle: func() *gateway.Bundle { return bundle }, GitLab: gl, Logger: log,
		Retry: gateway.RetryPolicy{MaxAttempts: 5}}
	env, err := envelope.Normalize("Note Hook", withNote(b, "/packit build"), "")
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		d := &queue.Delivery{ID: "bench", Envelope: *env, Attempts: 1}
		r := p.Process(ctx, d)
		if r.Status != queue.StatusDone || len(r.Outcomes) != 1 {
			b.Fatalf("process: %+v", r)
		}
	}
}
