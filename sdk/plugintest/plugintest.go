// Package plugintest is a harness for testing hookgate Lua plugins from Go
// tests: load plugins, feed an event, get the run's status, returned value,
// log lines and the GitLab API calls it made. GitLab is a dry run by
// default (calls recorded with their bodies, never sent) and the kv module
// is backed by memory, so tests need no network and no files but the
// plugins.
//
//	func TestBuild(t *testing.T) {
//		h := plugintest.Load(t, "plugins")
//		ev := plugintest.Event(t, "testdata/note.json", "") // kind from the payload
//		res := h.Run(t, "packit", ev, map[string]any{"chroots": []any{"fedora-rawhide-x86_64"}})
//		if res.Status != "ok" { t.Fatal(res.Error) }
//		// res.CallLines(): ["POST /projects/5/merge_requests/1/notes", ...]
//	}
//
// RunDir checks a folder of sample events against expected results, the
// layout of examples/ (see package samples).
package plugintest

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookgate/hookgate/diag"
	"github.com/hookgate/hookgate/gateway/envelope"
	"github.com/hookgate/hookgate/gateway/queue"
	"github.com/hookgate/hookgate/plugins"
	"github.com/hookgate/hookgate/plugins/gitlab"
)

// Option configures Load (and RunDir: only WithModules and WithUpdate apply
// there).
type Option func(*options)

type options struct {
	modules   []plugins.Module
	kv        plugins.KV
	gitlabURL string
	token     string
	timeout   time.Duration
	logger    *slog.Logger
	update    bool
}

// WithModules gives the plugins extra Lua modules, e.g. fakes of the
// modules an embedding program registers with gateway.WithModules.
func WithModules(mods ...plugins.Module) Option {
	return func(o *options) { o.modules = append(o.modules, mods...) }
}

// WithKV backs the kv module with kv instead of a fresh MemKV.
func WithKV(kv plugins.KV) Option { return func(o *options) { o.kv = kv } }

// WithGitLab sends the plugins' GitLab calls to a real API at url (e.g. an
// httptest server serving /api/v4/...) with token, instead of the dry
// run. Calls are still recorded, with the status the server answered; use
// it to test how a plugin handles GitLab's answers (access levels, files,
// 4xx and 5xx).
func WithGitLab(url, token string) Option {
	return func(o *options) { o.gitlabURL, o.token = url, token }
}

// WithTimeout bounds each run (default: the runtime's 5s).
func WithTimeout(d time.Duration) Option { return func(o *options) { o.timeout = d } }

// WithLogger receives the runtime's and the plugins' log lines (default:
// discarded; the lines of each run are in Result.Logs either way).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithUpdate makes RunDir rewrite the expected files from the current
// output instead of comparing (typically wired to a -update test flag).
func WithUpdate(update bool) Option { return func(o *options) { o.update = update } }

func buildOptions(opts []Option) options {
	var o options
	for _, f := range opts {
		if f != nil {
			f(&o)
		}
	}
	if o.logger == nil {
		o.logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return o
}

// Harness is a loaded set of plugins with a dry-run (or test-server) GitLab
// and a kv store. It is safe for concurrent use, like the runtime.
type Harness struct {
	set    *plugins.Set
	gitlab *gitlab.Clients
	kv     plugins.KV
	mem    *MemKV
}

// Load compiles the plugins of dir (every dir/*.lua, named after its file)
// or the single plugin file dir names (NAME.lua), as the gateway does, and
// fails the test with every problem as file:line:col: message if any does
// not load. The plugins are closed when the test ends.
func Load(t testing.TB, dir string, opts ...Option) *Harness {
	t.Helper()
	o := buildOptions(opts)
	if strings.HasSuffix(dir, ".lua") {
		dir = copyToTemp(t, dir)
	}
	set, err := plugins.Load(dir, plugins.Options{
		Timeout: o.timeout,
		Modules: append([]plugins.Module{gitlab.Module}, o.modules...),
		KV:      kvOrMem(&o),
		Logger:  o.logger,
	})
	if set != nil {
		t.Cleanup(func() { _ = set.Close() })
	}
	if err != nil {
		t.Fatalf("plugintest: loading %s:\n%s", dir, strings.Join(diag.Lines(err), "\n"))
	}
	var instances []gitlab.Instance
	if o.gitlabURL != "" {
		instances = []gitlab.Instance{{URL: o.gitlabURL, Token: o.token}}
	}
	gl, err := gitlab.New(instances, o.logger)
	if err != nil {
		t.Fatalf("plugintest: %v", err)
	}
	h := &Harness{set: set, gitlab: gl, kv: o.kv}
	if mem, ok := o.kv.(*MemKV); ok {
		h.mem = mem
	}
	return h
}

// kvOrMem returns o.kv, setting it to a fresh MemKV when none was given.
func kvOrMem(o *options) plugins.KV {
	if o.kv == nil {
		o.kv = NewMemKV()
	}
	return o.kv
}

// copyToTemp copies one plugin file into a fresh folder, so it loads alone.
func copyToTemp(t testing.TB, file string) string {
	t.Helper()
	src, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("plugintest: %v", err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, filepath.Base(file)), src, 0o644); err != nil {
		t.Fatalf("plugintest: %v", err)
	}
	return dir
}

// Names are the loaded plugins' names, sorted.
func (h *Harness) Names() []string { return h.set.Names() }

// Info is what the named plugin declares in its plugin table.
func (h *Harness) Info(name string) plugins.Info { return h.set.Info(name) }

// KV is the in-memory store behind the kv module, to seed or inspect
// (nil when WithKV gave another store).
func (h *Harness) KV() *MemKV { return h.mem }

// Result is the outcome of one run.
type Result struct {
	// Status is "ok", "error" (final failure) or "retry" (transient:
	// retry(), a timeout, a GitLab 5xx).
	Status string
	// Value is what handle returned, as JSON; nil when it returned nothing.
	Value json.RawMessage
	// Error is the failure's message ("build.lua:3: msg"); "" when ok.
	Error string
	// RetryAfter is the delay a retry asked for (0: the backoff's).
	RetryAfter time.Duration
	// Logs are the lines the run logged.
	Logs []queue.LogLine
	// Calls are the GitLab API calls the run made, in order: method, path
	// below /api/v4, JSON body; DryRun true unless WithGitLab.
	Calls []queue.Call
}

// Run runs handle(event, params) of the named plugin once, as a rule of
// the gateway would, and returns what happened. A nil event is an empty
// envelope; params may be nil. A plugin failing is a Result, not a test
// failure: assert on Status and Error.
func (h *Harness) Run(t testing.TB, name string, event *envelope.Envelope, params map[string]any) Result {
	t.Helper()
	if !h.set.Has(name) {
		t.Fatalf("plugintest: no plugin %q (loaded: %v)", name, h.set.Names())
	}
	if event == nil {
		event = &envelope.Envelope{}
	}
	scope := h.gitlab.For(event).Scope(event, "")
	res := h.set.Run(gitlab.WithScope(t.Context(), scope), name, event, params)
	r := Result{Status: res.Status, Value: res.Value, RetryAfter: res.RetryAfter, Logs: res.Logs, Calls: scope.Calls()}
	if res.Err != nil {
		r.Error = res.Err.Error()
	}
	return r
}

// Decode unmarshals the returned value into v, failing the test if it
// cannot.
func (r Result) Decode(t testing.TB, v any) {
	t.Helper()
	if r.Value == nil {
		t.Fatalf("plugintest: the run returned no value (status %s %s)", r.Status, r.Error)
	}
	if err := json.Unmarshal(r.Value, v); err != nil {
		t.Fatalf("plugintest: decoding %s: %v", r.Value, err)
	}
}

// CallLines are the calls as "METHOD PATH" strings, easy to compare.
func (r Result) CallLines() []string {
	out := make([]string, 0, len(r.Calls))
	for _, c := range r.Calls {
		out = append(out, c.Method+" "+c.Path)
	}
	return out
}

// LogLines are the log lines as "level: message" strings.
func (r Result) LogLines() []string {
	out := make([]string, 0, len(r.Logs))
	for _, l := range r.Logs {
		out = append(out, l.Level+": "+l.Message)
	}
	return out
}

// Body unmarshals call i's JSON body into a map, failing the test if
// there is no such call or body.
func (r Result) Body(t testing.TB, i int) map[string]any {
	t.Helper()
	if i < 0 || i >= len(r.Calls) {
		t.Fatalf("plugintest: no call %d (%d calls: %v)", i, len(r.Calls), r.CallLines())
	}
	var m map[string]any
	if err := json.Unmarshal(r.Calls[i].Body, &m); err != nil {
		t.Fatalf("plugintest: call %d (%s %s) body %s: %v", i, r.Calls[i].Method, r.Calls[i].Path, r.Calls[i].Body, err)
	}
	return m
}

// String summarizes the result for test failure messages.
func (r Result) String() string {
	return fmt.Sprintf("status=%s error=%q value=%s calls=%v logs=%v", r.Status, r.Error, r.Value, r.CallLines(), r.LogLines())
}
