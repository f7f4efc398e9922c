package sdk_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway/envelope"
	"github.com/hookgate/hookgate/plugins"
	"github.com/hookgate/hookgate/sdk"
	"github.com/hookgate/hookgate/sdk/plugintest"
)

type ticket struct {
	ID    int      `json:"id"`
	URL   string   `json:"url"`
	Tags  []string `json:"tags"`
	Empty string   `json:"empty,omitempty"`
}

func TestNewModule(t *testing.T) {
	var seen []any
	var seenPlugin string
	var seenDeadline bool
	mod := sdk.NewModule("company", map[string]sdk.Func{
		"echo": func(ctx context.Context, args []any) (any, error) {
			seen = args
			info, _ := plugins.RunInfoFrom(ctx)
			seenPlugin = info.Plugin
			_, seenDeadline = ctx.Deadline()
			return args, nil
		},
		"ticket": func(ctx context.Context, args []any) (any, error) {
			plugins.Log(ctx, "info", "ticket made", map[string]any{"title": args[0]})
			return ticket{ID: 7, URL: "https://t/7", Tags: []string{"a"}}, nil
		},
		"none":  func(context.Context, []any) (any, error) { return nil, nil },
		"fail":  func(context.Context, []any) (any, error) { return nil, errors.New("service said no") },
		"busy":  func(context.Context, []any) (any, error) { return nil, plugins.Retry("service busy", 30*time.Second) },
		"panic": func(context.Context, []any) (any, error) { panic("boom") },
		"bad":   func(context.Context, []any) (any, error) { return func() {}, nil },
	})
	dir := t.TempDir()
	src := `function handle(event, params)
  if params.call == "echo" then return company.echo("s", 2, 2.5, true, { 1, 2 }, { k = "v" }) end
  if params.call == "ticket" then
    local tk = company.ticket("Build broke")
    return { id = tk.id, url = tk.url, tag = tk.tags[1], empty = tk.empty == nil }
  end
  if params.call == "none" then return { none = company.none() == nil } end
  if params.call == "caught" then
    local ok, err = pcall(company.fail)
    return { ok = ok, err = tostring(err) }
  end
  return company[params.call]()
end`
	if err := os.WriteFile(filepath.Join(dir, "p.lua"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	h := plugintest.Load(t, dir, plugintest.WithModules(mod))
	cases := []struct {
		call       string
		status     string
		value      string // JSON, when status is ok
		errHas     string
		retryAfter time.Duration
	}{
		{"echo", "ok", `["s",2,2.5,true,[1,2],{"k":"v"}]`, "", 0},
		{"ticket", "ok", `{"empty":true,"id":7,"tag":"a","url":"https://t/7"}`, "", 0},
		{"none", "ok", `{"none":true}`, "", 0},
		{"caught", "ok", `{"err":"p.lua:9: company.fail: service said no","ok":false}`, "", 0},
		{"fail", "error", "", "company.fail: service said no", 0},
		{"busy", "retry", "", "company.busy: retry: service busy", 30 * time.Second},
		{"panic", "error", "", "company.panic", 0},
		{"bad", "error", "", "company.bad: result is not JSON", 0},
	}
	for _, c := range cases {
		t.Run(c.call, func(t *testing.T) {
			res := h.Run(t, "p", &envelope.Envelope{ID: "d1"}, map[string]any{"call": c.call})
			if res.Status != c.status || !strings.Contains(res.Error, c.errHas) || res.RetryAfter != c.retryAfter {
				t.Fatalf("got %s retryAfter %s; want status %s error containing %q", res, res.RetryAfter, c.status, c.errHas)
			}
			if c.value != "" && string(res.Value) != c.value {
				t.Fatalf("value = %s, want %s", res.Value, c.value)
			}
		})
	}
	want := []any{"s", int64(2), 2.5, true, []any{int64(1), int64(2)}, map[string]any{"k": "v"}}
	if !reflect.DeepEqual(seen, want) || seenPlugin != "p" || !seenDeadline {
		t.Errorf("echo saw args %#v plugin %q deadline %v", seen, seenPlugin, seenDeadline)
	}
	res := h.Run(t, "p", nil, map[string]any{"call": "ticket"})
	if got := res.LogLines(); !reflect.DeepEqual(got, []string{"info: ticket made"}) || res.Logs[0].Fields["title"] != "Build broke" {
		t.Errorf("logs = %v %v", got, res.Logs)
	}
}

// A module function is not called once the run's deadline has passed.
func TestNewModuleHonoursDeadline(t *testing.T) {
	called := make(chan struct{}, 1)
	mod := sdk.NewModule("slow", map[string]sdk.Func{
		"wait": func(ctx context.Context, _ []any) (any, error) {
			called <- struct{}{}
			<-ctx.Done()
			return nil, ctx.Err()
		},
	})
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "p.lua"), []byte("function handle() slow.wait() end"), 0o644); err != nil {
		t.Fatal(err)
	}
	h := plugintest.Load(t, dir, plugintest.WithModules(mod), plugintest.WithTimeout(50*time.Millisecond))
	start := time.Now()
	res := h.Run(t, "p", nil, nil)
	if res.Status != plugins.StatusRetry || !strings.Contains(res.Error, "timed out") {
		t.Fatalf("got %s, want a timeout retry", res)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("run took %s", d)
	}
	<-called
}

// An embedder's module is checked like the built-in ones: a plugin calling
// a function the module does not have is refused when plugins load (so by
// `hookgate check`), with the names taken from the module itself.
func TestNewModuleFunctionsAreChecked(t *testing.T) {
	mod := sdk.NewModule("company", map[string]sdk.Func{
		"ticket": func(context.Context, []any) (any, error) { return nil, nil },
	})
	dir := t.TempDir()
	src := "function handle()\n  return company.tickt(\"x\")\nend\n"
	if err := os.WriteFile(filepath.Join(dir, "p.lua"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := plugins.Load(dir, plugins.Options{Modules: []plugins.Module{mod}})
	if s == nil {
		t.Fatal(err)
	}
	defer s.Close()
	want := filepath.Join(dir, "p.lua") + ":2:10: company.tickt is not a function of the company module; did you mean company.ticket?"
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %s", err, want)
	}
}
