package plugins_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/hookgate/hookgate/plugins"
	"github.com/hookgate/hookgate/sdk"
)

// TestModuleArgumentsBudget: the arguments of an SDK module's function
// are converted within plugins.ArgBudget: a table sharing one subtable
// (24^6 leaves) or one string (200 x 1 MiB) fails the call before the Go
// function runs, at once and with little memory, naming the function and
// the limit. Unbudgeted, the table ran past the plugin timeout and out of
// memory.
func TestModuleArgumentsBudget(t *testing.T) {
	called := 0
	mod := sdk.NewModule("company", map[string]sdk.Func{
		"take": func(context.Context, []any) (any, error) { called++; return nil, nil },
	})
	dir := t.TempDir()
	files := map[string]string{
		"dag": `local t = { leaf = "x" }
for level = 1, 6 do
  local n = {}
  for i = 1, 24 do n[i] = t end
  t = n
end
function handle() company.take(t) end`,
		"strings": `function handle()
  local s, list = ("x"):rep(1048576), {}
  for i = 1, 200 do list[i] = s end
  company.take("a", list)
end`,
		"fine": `function handle() local s = { 1, 2 } company.take(s, s, { s = s }) end`,
	}
	for name, src := range files {
		if err := os.WriteFile(filepath.Join(dir, name+".lua"), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s, err := plugins.Load(dir, plugins.Options{
		Timeout: 10 * time.Second,
		Modules: []plugins.Module{mod},
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for name, want := range map[string]string{
		"dag":     "dag.lua:7: company.take: arguments: too large (max 65536 values)",
		"strings": "strings.lua:4: company.take: arguments: too large (max 8388608 bytes)",
	} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		start := time.Now()
		r := s.Run(context.Background(), name, nil, nil)
		took := time.Since(start)
		runtime.ReadMemStats(&after)
		if r.Status != plugins.StatusError || r.Err == nil || r.Err.Error() != want {
			t.Errorf("%s: %s %v, want %q", name, r.Status, r.Err, want)
		}
		if alloc := after.TotalAlloc - before.TotalAlloc; took > 8*time.Second || alloc > 64<<20 {
			t.Errorf("%s: took %v, allocated %d MiB", name, took, alloc>>20)
		}
	}
	if called != 0 {
		t.Errorf("the Go function ran %d times on arguments over the budget", called)
	}
	if r := s.Run(context.Background(), "fine", nil, nil); r.Status != plugins.StatusOK || called != 1 {
		t.Errorf("arguments within budget: %s %v, called %d", r.Status, r.Err, called)
	}
	if err := plugins.ArgBudget(nil, "x").Add(plugins.MaxArgValues+1, 0); err == nil || !strings.Contains(err.Error(), "x: too large (max 65536 values)") {
		t.Errorf("Add past the budget: %v", err)
	}
}
