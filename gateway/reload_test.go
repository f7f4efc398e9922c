package gateway_test

import (
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway/queue"
)

// reloadConfig serves rules/*.toml and plugins/ with the admin API on;
// tail goes into the [rules] table.
func reloadConfig(tail string) string {
	return starConfig + "\n[rules]\npaths = [\"rules/*.toml\"]\n" + tail + "\n[plugins]\ndir = \"plugins\"\n"
}

// noteRule is a rule file with one rule running "record" on notes that
// contain text. The when line is line 4.
func noteRule(name, text string) string {
	return fmt.Sprintf("[[rule]]\nname = %q\non = [\"note\"]\nwhen = 'note contains %q'\nplugin = \"record\"\n", name, text)
}

// brokenWhen is noteRule with a condition that does not compile; the
// expression 'note contains' starts at line 4, column 9.
const brokenWhen = "[[rule]]\nname = \"three\"\non = [\"note\"]\nwhen = 'note contains'\nplugin = \"record\"\n"

// replaceFile writes content beside path and renames it over path, as
// editors and deploy tools do.
func replaceFile(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// rulesView is GET /api/v1/rules.
type rulesView struct {
	Rules []struct {
		Name   string `json:"name"`
		Plugin string `json:"plugin"`
		File   string `json:"file"`
		Line   int    `json:"line"`
		When   string `json:"when"`
	} `json:"rules"`
	Plugins          []string `json:"plugins"`
	LastReloadErrors []string `json:"last_reload_errors"`
}

func (g *testGateway) rules(t *testing.T) rulesView {
	t.Helper()
	var v rulesView
	if code := g.admin(t, "GET", "/rules", "admin-tok", &v); code != 200 {
		t.Fatalf("GET /rules: %d", code)
	}
	return v
}

func (v rulesView) names() string {
	var n []string
	for _, r := range v.Rules {
		n = append(n, r.Name)
	}
	return strings.Join(n, ",")
}

// waitRules polls GET /rules until cond holds and returns what it saw.
func (g *testGateway) waitRules(t *testing.T, what string, cond func(rulesView) bool) rulesView {
	t.Helper()
	var v rulesView
	deadline := time.Now().Add(10 * time.Second)
	for {
		v = g.rules(t)
		if cond(v) {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: rules %q, errors %q", what, v.names(), v.LastReloadErrors)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ranRules posts a note and returns "rule:status" for each outcome of the
// processed delivery.
func (g *testGateway) ranRules(t *testing.T, note string) string {
	t.Helper()
	r := g.post(t, withNote(t, note), map[string]string{"X-Gitlab-Event": "Note Hook", "X-Gitlab-Token": "tok-a"})
	if r.Status != 202 || r.Body["status"] != "queued" {
		t.Fatalf("post %q: %d %v", note, r.Status, r.Body)
	}
	d := g.waitFinal(t, r.Body["id"].(string))
	var out []string
	for _, o := range d.Outcomes {
		if o.Status == "ok" && !strings.Contains(string(o.Result), `"kind":"note"`) {
			t.Fatalf("rule %s: result %s, want the record plugin's", o.Rule, o.Result)
		}
		out = append(out, o.Rule+":"+o.Status)
	}
	if d.Status != queue.StatusDone {
		t.Fatalf("delivery %s: %s (%s), outcomes %v", note, d.Status, d.Error, out)
	}
	return strings.Join(out, ",")
}

// positionIn checks that every problem is "file:line:col: msg" with file
// ending in name, and returns the first one's line and column.
func positionIn(t *testing.T, problems []string, name string) (line, col int) {
	t.Helper()
	if len(problems) == 0 {
		t.Fatal("no problems reported")
	}
	re := regexp.MustCompile(`^(.+):(\d+):(\d+): \S`)
	for _, p := range problems {
		m := re.FindStringSubmatch(p)
		if m == nil || !strings.HasSuffix(m[1], name) {
			t.Fatalf("problem %q is not %s:line:col: message", p, name)
		}
	}
	m := re.FindStringSubmatch(problems[0])
	line, _ = strconv.Atoi(m[2])
	col, _ = strconv.Atoi(m[3])
	return line, col
}

func TestReloadOnFileChangeKeepsLastGoodRules(t *testing.T) {
	g := startGateway(t, reloadConfig(""), map[string]string{
		"rules/r.toml":       noteRule("one", "/one"),
		"plugins/record.lua": recordPlugin,
	})
	ruleFile := filepath.Join(g.Dir, "rules", "r.toml")
	if got := g.ranRules(t, "please /one"); got != "one:ok" {
		t.Fatalf("before reload: ran %q, want one:ok", got)
	}

	// A new rule replaces the file by rename; the watcher reloads it.
	replaceFile(t, ruleFile, noteRule("two", "/two"))
	v := g.waitRules(t, "rule two", func(v rulesView) bool { return v.names() == "two" })
	if v.LastReloadErrors != nil || v.Rules[0].When != `note contains "/two"` || v.Rules[0].Line != 1 {
		t.Fatalf("after reload: %+v", v)
	}
	if got := g.ranRules(t, "please /two"); got != "two:ok" {
		t.Fatalf("after reload: /two ran %q, want two:ok", got)
	}
	if got := g.ranRules(t, "please /one"); got != "" {
		t.Fatalf("after reload: /one ran %q, want nothing (rule one is gone)", got)
	}

	// A broken condition: the last good set keeps serving.
	replaceFile(t, ruleFile, brokenWhen)
	v = g.waitRules(t, "reload errors", func(v rulesView) bool { return len(v.LastReloadErrors) > 0 })
	if v.names() != "two" {
		t.Fatalf("broken reload swapped the rules: %q", v.names())
	}
	line, col := positionIn(t, v.LastReloadErrors, filepath.Join("rules", "r.toml"))
	if line != 4 || col < 9 || col > len("when = 'note contains'") {
		t.Fatalf("problem %q: want line 4 and a column inside the expression (9..21)", v.LastReloadErrors[0])
	}
	if got := g.ranRules(t, "please /two"); got != "two:ok" {
		t.Fatalf("with a broken file: /two ran %q, want two:ok (last good set)", got)
	}

	// Fixed again: swapped in and the errors are cleared.
	replaceFile(t, ruleFile, noteRule("three", "/three"))
	g.waitRules(t, "rule three, errors cleared", func(v rulesView) bool {
		return v.names() == "three" && v.LastReloadErrors == nil
	})
	if got := g.ranRules(t, "please /three /two"); got != "three:ok" {
		t.Fatalf("after fix: ran %q, want three:ok", got)
	}
}

func TestReloadBrokenPluginKeepsLastGoodSet(t *testing.T) {
	g := startGateway(t, reloadConfig(""), map[string]string{
		"rules/r.toml":       noteRule("two", "/two"),
		"plugins/record.lua": recordPlugin,
	})
	plugin := filepath.Join(g.Dir, "plugins", "record.lua")
	// Line 3 is a syntax error.
	replaceFile(t, plugin, "function handle(event, params)\n  return {\nend\n")
	v := g.waitRules(t, "plugin errors", func(v rulesView) bool { return len(v.LastReloadErrors) > 0 })
	if v.names() != "two" || strings.Join(v.Plugins, ",") != "record" {
		t.Fatalf("broken plugin swapped the set: rules %q, plugins %v", v.names(), v.Plugins)
	}
	var pluginProblem string
	for _, p := range v.LastReloadErrors {
		if strings.Contains(p, "record.lua:") {
			pluginProblem = p
		}
	}
	if line, _ := positionIn(t, []string{pluginProblem}, filepath.Join("plugins", "record.lua")); line != 3 {
		t.Fatalf("plugin problem %q: want line 3; all: %q", pluginProblem, v.LastReloadErrors)
	}
	// The old, compiled plugin still runs.
	if got := g.ranRules(t, "/two"); got != "two:ok" {
		t.Fatalf("with a broken plugin: ran %q, want two:ok", got)
	}

	// A new plugin version is picked up: its result tells them apart.
	replaceFile(t, plugin, "function handle(event, params)\n  return { kind = event.kind, version = 2 }\nend\n")
	g.waitRules(t, "errors cleared", func(v rulesView) bool { return v.LastReloadErrors == nil })
	r := g.post(t, withNote(t, "/two"), map[string]string{"X-Gitlab-Event": "Note Hook", "X-Gitlab-Token": "tok-a"})
	d := g.waitFinal(t, r.Body["id"].(string))
	if len(d.Outcomes) != 1 || string(d.Outcomes[0].Result) != `{"kind":"note","version":2}` {
		t.Fatalf("after fix: outcomes %+v, want the new plugin's result", d.Outcomes)
	}
}

func TestReloadByAdminAPIAndSIGHUP(t *testing.T) {
	g := startGateway(t, reloadConfig("watch = false"), map[string]string{
		"rules/r.toml":       noteRule("one", "/one"),
		"plugins/record.lua": recordPlugin,
	})
	ruleFile := filepath.Join(g.Dir, "rules", "r.toml")
	reload := func() (int, map[string]any) {
		var body map[string]any
		code := g.admin(t, "POST", "/reload", "admin-tok", &body)
		return code, body
	}
	if code := g.admin(t, "POST", "/reload", "", nil); code != 401 {
		t.Fatalf("reload without the admin token: %d, want 401", code)
	}

	replaceFile(t, ruleFile, noteRule("two", "/two"))
	if code, body := reload(); code != 200 || body["status"] != "reloaded" {
		t.Fatalf("reload: %d %v, want 200 reloaded", code, body)
	}
	if v := g.rules(t); v.names() != "two" {
		t.Fatalf("after reload: rules %q, want two", v.names())
	}

	replaceFile(t, ruleFile, brokenWhen)
	code, body := reload()
	if code != 422 || body["status"] != "failed" {
		t.Fatalf("broken reload: %d %v, want 422 failed", code, body)
	}
	var problems []string
	for _, p := range body["errors"].([]any) {
		problems = append(problems, p.(string))
	}
	if line, _ := positionIn(t, problems, filepath.Join("rules", "r.toml")); line != 4 {
		t.Fatalf("problems %q: want line 4", problems)
	}
	v := g.rules(t)
	if v.names() != "two" || strings.Join(v.LastReloadErrors, "\n") != strings.Join(problems, "\n") {
		t.Fatalf("after broken reload: rules %q, errors %q; want two and %q", v.names(), v.LastReloadErrors, problems)
	}
	if got := g.ranRules(t, "/two"); got != "two:ok" {
		t.Fatalf("after broken reload: ran %q, want two:ok", got)
	}

	// SIGHUP reloads (watch = false: nothing else would). The test holds
	// its own registration too, so a stray SIGHUP can never kill the test
	// binary; the gateway registered before it answered /healthz.
	replaceFile(t, ruleFile, noteRule("hup", "/hup"))
	mine := make(chan os.Signal, 1)
	signal.Notify(mine, syscall.SIGHUP)
	defer signal.Stop(mine)
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	g.waitRules(t, "SIGHUP reload", func(v rulesView) bool { return v.names() == "hup" && v.LastReloadErrors == nil })
	if got := g.ranRules(t, "/hup"); got != "hup:ok" {
		t.Fatalf("after SIGHUP: ran %q, want hup:ok", got)
	}
}
