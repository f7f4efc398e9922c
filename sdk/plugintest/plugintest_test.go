package plugintest_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway/envelope"
	"github.com/hookgate/hookgate/sdk/plugintest"
)

var packitEvent = filepath.Join("..", "..", "examples", "packit", "events", "note_build.json")

// TestPackitPlugin is the harness used as a plugin author would: the
// example's real plugin, its sample event, the rule's params.
func TestPackitPlugin(t *testing.T) {
	h := plugintest.Load(t, filepath.Join("..", "..", "examples", "packit", "plugins"))
	ev := plugintest.Event(t, packitEvent, "")
	if ev.Kind != "note" || ev.Command.Name != "packit" || ev.ID != "plugintest" {
		t.Fatalf("event: kind %q command %+v id %q", ev.Kind, ev.Command, ev.ID)
	}
	res := h.Run(t, "packit", ev, map[string]any{"job": "build", "chroots": []any{"fedora-rawhide-x86_64"}})
	if res.Status != "ok" {
		t.Fatalf("run: %s", res)
	}
	sha := ev.SHA
	wantCalls := []string{
		"POST /projects/5/merge_requests/1/notes/" + fmt.Sprint(ev.NoteID) + "/award_emoji",
		"POST /projects/5/statuses/" + sha,
		"POST /projects/5/merge_requests/1/notes",
	}
	if got := res.CallLines(); !reflect.DeepEqual(got, wantCalls) {
		t.Fatalf("calls = %v, want %v", got, wantCalls)
	}
	if b := res.Body(t, 1); b["state"] != "pending" || b["name"] != "packit/build/fedora-rawhide-x86_64" {
		t.Errorf("status body = %v", b)
	}
	if !res.Calls[0].DryRun {
		t.Error("calls are not marked dry run")
	}
	var v struct {
		Job     string `json:"job"`
		Chroots int    `json:"chroots"`
	}
	res.Decode(t, &v)
	if v.Job != "build" || v.Chroots != 1 {
		t.Errorf("value = %s", res.Value)
	}
	if got := res.LogLines(); !reflect.DeepEqual(got, []string{"info: packit job queued"}) {
		t.Errorf("logs = %v", got)
	}
	if info := h.Info("packit"); len(info.Commands) != 3 {
		t.Errorf("info = %+v", info)
	}
}

const outcomes = `
function handle(event, params)
  local c = params.case
  if c == "error" then error("nope") end
  if c == "table" then error({ code = 42 }) end
  if c == "retry" then retry("later", 30) end
  if c == "loop" then while true do end end
  if c == "count" then
    local n = tonumber(kv.get("n") or "0") + 1
    kv.set("n", n)
    return n
  end
  if c == "event" then return { kind = event.kind, mr = event.merge_request.iid, labels = event.labels } end
  if c == "nothing" then return end
  gitlab.comment("hi " .. event.user.username)
  return true
end
`

func TestRunOutcomes(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "outcomes.lua")
	if err := os.WriteFile(file, []byte(outcomes), 0o644); err != nil {
		t.Fatal(err)
	}
	// A single file loads alone (a README or other plugins beside it do not matter).
	h := plugintest.Load(t, file, plugintest.WithTimeout(100*time.Millisecond))
	if got := h.Names(); !reflect.DeepEqual(got, []string{"outcomes"}) {
		t.Fatalf("names = %v", got)
	}
	mr := &envelope.Envelope{
		Kind: "merge_request", Project: envelope.Project{ID: 9, Path: "g/p"},
		User:         envelope.User{ID: 3, Username: "ann"},
		MergeRequest: envelope.MergeRequest{IID: 4}, Labels: []string{"bug"},
	}
	cases := []struct {
		name, status, value, errHas string
		retryAfter                  time.Duration
		calls                       []string
	}{
		{"comment", "ok", "true", "", 0, []string{"POST /projects/9/merge_requests/4/notes"}},
		{"error", "error", "", "outcomes.lua:4: nope", 0, nil},
		{"table", "error", "", `{"code":42}`, 0, nil},
		{"retry", "retry", "", "retry: later", 30 * time.Second, nil},
		{"loop", "retry", "", "timed out", 0, nil},
		{"event", "ok", `{"kind":"merge_request","labels":["bug"],"mr":4}`, "", 0, nil},
		{"nothing", "ok", "", "", 0, nil},
		{"count", "ok", "1", "", 0, nil},
		{"count", "ok", "2", "", 0, nil}, // kv persists between runs
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := h.Run(t, "outcomes", mr, map[string]any{"case": c.name})
			if res.Status != c.status || !strings.Contains(res.Error, c.errHas) || string(res.Value) != c.value || res.RetryAfter != c.retryAfter {
				t.Fatalf("got %s (retry after %s); want %s %q value %s", res, res.RetryAfter, c.status, c.errHas, c.value)
			}
			if c.status == "ok" && res.Error != "" {
				t.Fatalf("error on success: %q", res.Error)
			}
			if got := res.CallLines(); !reflect.DeepEqual(got, append([]string{}, c.calls...)) {
				t.Fatalf("calls = %v, want %v", got, c.calls)
			}
		})
	}
	if v, ok := h.KV().Get("outcomes", "n"); !ok || v != "2" {
		t.Errorf("kv n = %q %v", v, ok)
	}
	// Seeded state is what the plugin sees.
	h.KV().Set("outcomes", "n", "41")
	if res := h.Run(t, "outcomes", mr, map[string]any{"case": "count"}); string(res.Value) != "42" {
		t.Errorf("after seeding: %s", res)
	}
}

// TestWithGitLab points the binding at a test server: real requests,
// GitLab's answers reach the plugin, failures are classified.
func TestWithGitLab(t *testing.T) {
	var mu sync.Mutex
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Method+" "+r.URL.Path+" "+r.Header.Get("PRIVATE-TOKEN"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/api/v4/projects/5/members/all/7":
			fmt.Fprint(w, `{"id": 7, "username": "dev", "access_level": 30}`)
		case "/api/v4/projects/5/members/all/8":
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"message": "404 Not found"}`)
		default:
			w.WriteHeader(http.StatusBadGateway)
			fmt.Fprint(w, `{"message": "down"}`)
		}
	}))
	defer srv.Close()
	dir := t.TempDir()
	src := `function handle(event, params)
  if params.user then return gitlab.access_level(params.user) end
  gitlab.comment("x")
end`
	if err := os.WriteFile(filepath.Join(dir, "p.lua"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	h := plugintest.Load(t, dir, plugintest.WithGitLab(srv.URL, "tok"))
	ev := &envelope.Envelope{Kind: "merge_request", Project: envelope.Project{ID: 5}, MergeRequest: envelope.MergeRequest{IID: 1}}
	cases := []struct {
		params map[string]any
		status string
		value  string
		code   int
	}{
		{map[string]any{"user": 7}, "ok", "30", 200},
		{map[string]any{"user": 8}, "ok", "0", 404},
		{nil, "retry", "", 502},
	}
	for _, c := range cases {
		res := h.Run(t, "p", ev, c.params)
		if res.Status != c.status || string(res.Value) != c.value || len(res.Calls) != 1 || res.Calls[0].Status != c.code || res.Calls[0].DryRun {
			t.Errorf("%v: got %s calls %+v", c.params, res, res.Calls)
		}
	}
	want := []string{
		"GET /api/v4/projects/5/members/all/7 tok",
		"GET /api/v4/projects/5/members/all/8 tok",
		"POST /api/v4/projects/5/merge_requests/1/notes tok",
	}
	mu.Lock()
	defer mu.Unlock()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("server saw %v, want %v", got, want)
	}
}

// fatalRecorder is a testing.TB whose Fatal ends only the calling
// goroutine, so a test can check what the harness reports.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (r *fatalRecorder) Helper() {}
func (r *fatalRecorder) Fatalf(format string, args ...any) {
	r.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// expectFatal runs f with a recorder and returns the fatal message.
func expectFatal(t *testing.T, f func(tb testing.TB)) string {
	t.Helper()
	rec := &fatalRecorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(rec)
	}()
	<-done
	if rec.msg == "" {
		t.Fatal("no test failure reported")
	}
	return rec.msg
}

func TestHarnessReportsMisuse(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"ok.lua":       "function handle() end",
		"syntax.lua":   "function handle(\n  x = = 1\nend",
		"nohandle.lua": "local x = 1",
	}
	for name, src := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	msg := expectFatal(t, func(tb testing.TB) { plugintest.Load(tb, dir) })
	for _, want := range []string{filepath.Join(dir, "syntax.lua") + ":2:", filepath.Join(dir, "nohandle.lua") + ":1:1: plugin does not define function handle"} {
		if !strings.Contains(msg, want) {
			t.Errorf("load failure %q does not contain %q", msg, want)
		}
	}

	okDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(okDir, "ok.lua"), []byte(files["ok.lua"]), 0o644); err != nil {
		t.Fatal(err)
	}
	h := plugintest.Load(t, okDir)
	if msg := expectFatal(t, func(tb testing.TB) { h.Run(tb, "missing", nil, nil) }); !strings.Contains(msg, `no plugin "missing" (loaded: [ok])`) {
		t.Errorf("run of a missing plugin: %q", msg)
	}
	if msg := expectFatal(t, func(tb testing.TB) { plugintest.EventJSON(tb, []byte(`{"object_kind": "nonsense"}`), "") }); !strings.Contains(msg, "cannot tell the event type") {
		t.Errorf("unknown kind: %q", msg)
	}
	if msg := expectFatal(t, func(tb testing.TB) { plugintest.EventJSON(tb, []byte(`[1]`), "Note Hook") }); !strings.Contains(msg, "normalizing") {
		t.Errorf("not an object: %q", msg)
	}
	res := h.Run(t, "ok", nil, nil)
	if msg := expectFatal(t, func(tb testing.TB) { res.Body(tb, 0) }); !strings.Contains(msg, "no call 0") {
		t.Errorf("body of a missing call: %q", msg)
	}
}

// TestRunDir checks an example folder as `hookgate test --dir` does, and
// rewrites expected files with WithUpdate.
func TestRunDir(t *testing.T) {
	plugintest.RunDir(t, filepath.Join("..", "..", "examples", "packit"))

	// A copy whose expected file is stale is rewritten with WithUpdate.
	src := filepath.Join("..", "..", "examples", "labeler")
	dir := t.TempDir()
	for _, sub := range []string{"rules", "plugins", "events", "expected"} {
		if err := os.CopyFS(filepath.Join(dir, sub), os.DirFS(filepath.Join(src, sub))); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := os.ReadFile(filepath.Join(src, "hookgate.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "hookgate.toml"), cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(dir, "expected", "mr_open_fix.json")
	if err := os.WriteFile(stale, []byte("[]"), 0o644); err != nil {
		t.Fatal(err)
	}
	plugintest.RunDir(t, filepath.Join(dir, "hookgate.toml"), plugintest.WithUpdate(true))
	got, _ := os.ReadFile(stale)
	want, _ := os.ReadFile(filepath.Join(src, "expected", "mr_open_fix.json"))
	if !strings.Contains(string(got), `"add_labels"`) || len(got) < len(want)/2 {
		t.Fatalf("not rewritten: %s", got)
	}
	plugintest.RunDir(t, dir) // and now passes
}
