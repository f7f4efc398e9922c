package gateway_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/hookgate/hookgate/gateway/queue"
)

// sandboxCases are scripts that try to leave the sandbox or take the
// gateway down. Each must end its own delivery with a clear error and
// leave the gateway serving.
var sandboxCases = []struct {
	name   string
	body   string // the body of handle(event, params)
	status string // the rule's outcome
	errs   []string
}{
	// Absent libraries and functions fail where the script touches them,
	// with the script's position (gopher-lua does not name the variable).
	{"os_execute", `os.execute("touch /tmp/hookgate-pwned")`, "error", []string{"os_execute.lua:2: attempt to index a non-table object(nil) with key 'execute'"}},
	{"io_open", `io.open("/etc/passwd"):read("*a")`, "error", []string{"io_open.lua:2: attempt to index a non-table object(nil) with key 'open'"}},
	{"require", `require("os")`, "error", []string{"require.lua:2: attempt to call a non-function object"}},
	{"load", `load("return 1")()`, "error", []string{"load.lua:2: attempt to call a non-function object"}},
	{"dofile", `dofile("/etc/passwd")`, "error", []string{"dofile.lua:2: attempt to call a non-function object"}},
	{"getfenv", `return getfenv(tostring).os.execute("id")`, "error", []string{"getfenv.lua:2: attempt to call a non-function object"}},
	// One Go call that would build a gigabyte is capped.
	{"string_rep", `return #string.rep("x", 1e9)`, "error", []string{"string_rep.lua:2: string.rep: result too large (max 1048576 bytes)"}},
	{"method_rep", `return #("x"):rep(1e9)`, "error", []string{"method_rep.lua:2: string.rep: result too large (max 1048576 bytes)"}},
	// A huge index goes to the hash part instead of padding the array.
	{"array_pad", `local t = {} t[67108863] = true return { n = #t }`, "ok", nil},
	// Endless work is stopped by the timeout: transient, so retried, then dead.
	{"loop", `while true do end`, "dead", []string{"gave up after 2 attempts: retry: plugin timed out after 200ms"}},
	{"backtrack", `return string.find(string.rep("a", 20000), ".-.-.-.-b")`, "dead", []string{"plugin timed out after 200ms"}},
	{"recursion", `local function f(n) return f(n + 1) + 1 end return f(1)`, "error", []string{"recursion.lua:2: stack overflow"}},
	{"error_table", `error({ code = 42, why = "nope" })`, "error", []string{`{"code":42,"why":"nope"}`}},
	// The binding takes no project: nothing else is reachable.
	{"other_project", `gitlab.set_commit_status{ project = 42, state = "success" }`, "error",
		[]string{"other_project.lua:2: gitlab: unknown field project (set_commit_status acts on the event's own project only)"}},
}

func TestSandboxContainsHostileScripts(t *testing.T) {
	f := newFakeGitLab(t) // no routes: any request fails the test
	files := map[string]string{
		"plugins/normal.lua": replyPlugin,
	}
	rules := "[[rule]]\nname = \"normal\"\non = [\"note\"]\nwhen = 'note == \"normal\"'\nplugin = \"normal\"\n"
	for _, c := range sandboxCases {
		files["plugins/"+c.name+".lua"] = "function handle(event, params)\n  " + c.body + "\nend\n"
		rules += fmt.Sprintf("\n[[rule]]\nname = %q\non = [\"note\"]\nwhen = 'note == %q'\nplugin = %q\n", c.name, c.name, c.name)
	}
	files["rules/sandbox.toml"] = rules
	cfg := gitlabConfig(f.URL, `retry_base = "10ms"
retry_max = "20ms"
max_attempts = 2`, `
[rules]
paths = ["rules/*.toml"]
[plugins]
dir = "plugins"
timeout = "200ms"
`)
	g := startGateway(t, cfg, files)

	// All at once: the workers run them concurrently.
	ids := map[string]string{}
	for _, c := range sandboxCases {
		r := g.post(t, withNote(t, c.name), map[string]string{"X-Gitlab-Event": "Note Hook", "X-Gitlab-Token": "tok-a"})
		if r.Status != 202 {
			t.Fatalf("%s: post: %d %v", c.name, r.Status, r.Body)
		}
		ids[c.name] = r.Body["id"].(string)
	}
	for _, c := range sandboxCases {
		t.Run(c.name, func(t *testing.T) {
			d := g.waitFinal(t, ids[c.name])
			o := outcomeOf(t, d, c.name)
			if o.Status != c.status {
				t.Fatalf("outcome = %+v, want status %s", o, c.status)
			}
			for _, want := range c.errs {
				if !strings.Contains(o.Error, want) {
					t.Errorf("error %q does not contain %q", o.Error, want)
				}
			}
			wantStatus := map[string]queue.Status{"ok": queue.StatusDone, "error": queue.StatusFailed, "dead": queue.StatusDead}[c.status]
			if d.Status != wantStatus {
				t.Errorf("delivery status = %s, want %s", d.Status, wantStatus)
			}
			if len(o.Calls) != 0 {
				t.Errorf("calls recorded: %+v", o.Calls)
			}
			t.Logf("%s: %s", c.name, o.Error)
		})
	}
	if reqs := f.requests(); len(reqs) != 0 {
		t.Fatalf("GitLab received %s", dump(reqs))
	}

	// Still serving: health, and a normal event processed end to end.
	resp, err := http.Get(g.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("healthz = %d", resp.StatusCode)
	}
	f.route("POST", mrNotes, always(201, `{"id":77,"body":"ok"}`))
	d, _ := g.deliver(t, withNote(t, "normal"), "evt-s1")
	if o := outcomeOf(t, d, "normal"); d.Status != queue.StatusDone || o.Status != "ok" || string(o.Result) != `{"note":77}` {
		t.Fatalf("normal event after the hostile ones: %s %+v", d.Status, o)
	}
}
