package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway"
	"github.com/hookgate/hookgate/gateway/config"
	"github.com/hookgate/hookgate/gateway/queue"
	"github.com/hookgate/hookgate/internal/fixtures"
)

// liveGateway is a gateway served in this process on a loopback port.
type liveGateway struct {
	cfg string // its config file
	url string
}

// startLive serves a gateway whose config names its real address, with
// the admin API on (token "admin-tok"), a rule "notes" on every note and a
// rule "boom" failing on notes containing "/boom", and "pushes" on pushes.
func startLive(t *testing.T) *liveGateway {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dir := writeTree(t, t.TempDir(), map[string]string{
		"hookgate.toml": fmt.Sprintf(`[server]
listen = %q
[queue]
path = "data/hookgate.db"
[[secret]]
project = "*"
token = "tok"
[admin]
token = "admin-tok"
`, ln.Addr().String()) + localSetup,
		"rules/r.toml": `[[rule]]
name = "notes"
on = ["note"]
plugin = "ok"

[[rule]]
name = "boom"
on = ["note"]
when = 'note contains "/boom"'
plugin = "boom"

[[rule]]
name = "pushes"
on = ["push"]
plugin = "ok"
`,
		"plugins/ok.lua":   "function handle(event, params)\n  log.info(\"fine\", { kind = event.kind })\n  return { ok = true }\nend\n",
		"plugins/boom.lua": "function handle(event, params)\n  gitlab.comment(\"about to fail\")\n  error(\"boom\")\nend\n",
	})
	cfgPath := filepath.Join(dir, "hookgate.toml")
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	g, err := gateway.New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return &liveGateway{cfg: cfgPath, url: "http://" + ln.Addr().String()}
}

// sharedFixture reads one of GitLab's documented payloads (testdata/gitlab/docs).
func sharedFixture(t *testing.T, name string) []byte {
	t.Helper()
	return fixtures.Read(t, "docs/"+name)
}

// deliver posts a payload and waits until the delivery is final.
func (g *liveGateway) deliver(t *testing.T, event string, body []byte) string {
	t.Helper()
	req, _ := http.NewRequest("POST", g.url+"/hooks/gitlab", bytes.NewReader(body))
	req.Header.Set("X-Gitlab-Event", event)
	req.Header.Set("X-Gitlab-Token", "tok")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var ans struct{ ID, Status string }
	json.NewDecoder(resp.Body).Decode(&ans)
	resp.Body.Close()
	if resp.StatusCode != 202 || ans.Status != "queued" {
		t.Fatalf("post %s: %d %+v", event, resp.StatusCode, ans)
	}
	g.waitFinished(t, ans.ID, 1)
	return ans.ID
}

// waitFinished waits until the delivery is final after n finished runs.
func (g *liveGateway) waitFinished(t *testing.T, id string, n int) queue.Delivery {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		req, _ := http.NewRequest("GET", g.url+"/api/v1/deliveries/"+id, nil)
		req.Header.Set("Authorization", "Bearer admin-tok")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var d queue.Delivery
		json.NewDecoder(resp.Body).Decode(&d)
		resp.Body.Close()
		if d.Status.Final() && d.Finished >= n {
			return d
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivery %s not final after %d runs: %+v", id, n, d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// noteWith is the MR note fixture with its text and project replaced.
func noteWith(t *testing.T, project, note string) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(sharedFixture(t, "note_merge_request.json"), &m); err != nil {
		t.Fatal(err)
	}
	m["object_attributes"].(map[string]any)["note"] = note
	m["project"].(map[string]any)["path_with_namespace"] = project
	b, _ := json.Marshal(m)
	return b
}

// cli runs one of the admin commands in-process.
func cli(t *testing.T, cmd func([]string, io.Writer, io.Writer) int, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := cmd(args, &stdout, &stderr)
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// tableIDs returns the first column of a table's rows (header skipped).
func tableIDs(out string) []string {
	ids := []string{}
	for i, line := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		if i > 0 && line != "" {
			ids = append(ids, strings.Fields(line)[0])
		}
	}
	return ids
}

func TestDeliveriesCommand(t *testing.T) {
	g := startLive(t)
	failed := g.deliver(t, "Note Hook", noteWith(t, "team/app", "/boom please"))
	note := g.deliver(t, "Note Hook", noteWith(t, "team/lib", "hello"))
	push := g.deliver(t, "Push Hook", sharedFixture(t, "push.json"))

	cases := []struct {
		name string
		args []string
		want []string
	}{
		{"all, newest first", nil, []string{push, note, failed}},
		{"failed", []string{"--status", "failed"}, []string{failed}},
		{"by project", []string{"--project", "team/lib"}, []string{note}},
		{"by kind", []string{"--kind", "note"}, []string{note, failed}},
		{"by rule", []string{"--rule", "pushes"}, []string{push}},
		{"flags combine", []string{"--kind=note", "--status=done"}, []string{note}},
		{"older than", []string{"--before", note}, []string{failed}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := cli(t, deliveries, append([]string{"--config", g.cfg}, tc.args...)...)
			if r.code != 0 || r.stderr != "" {
				t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
			}
			if got := tableIDs(r.stdout); strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Fatalf("ids %v, want %v\n%s", got, tc.want, r.stdout)
			}
		})
	}

	// The table: a header, aligned columns, rule outcomes and the error.
	r := cli(t, deliveries, "--config", g.cfg)
	lines := strings.Split(strings.TrimRight(r.stdout, "\n"), "\n")
	if !regexp.MustCompile(`^ID +RECEIVED +STATUS +KIND +PROJECT +ATTEMPTS +RULES +ERROR$`).MatchString(lines[0]) {
		t.Fatalf("header %q", lines[0])
	}
	col := strings.Index(lines[0], "STATUS")
	for _, l := range lines[1:] {
		if !strings.HasPrefix(l[col:], "done ") && !strings.HasPrefix(l[col:], "failed ") {
			t.Fatalf("columns not aligned:\n%s", r.stdout)
		}
	}
	if !strings.Contains(lines[3], "team/app") || !strings.Contains(lines[3], "notes:ok boom:error") || !strings.Contains(lines[3], "a rule failed") {
		t.Fatalf("failed row %q", lines[3])
	}

	// Paging: --limit with a hint for the next page on stderr.
	r = cli(t, deliveries, "--config", g.cfg, "--limit", "2")
	if got := tableIDs(r.stdout); len(got) != 2 || r.stderr != "more: add --before "+note+"\n" {
		t.Fatalf("limit 2: %v, stderr %q", got, r.stderr)
	}

	// JSON is the API's answer.
	r = cli(t, deliveries, "--config", g.cfg, "--json", "--status", "failed")
	var page struct {
		Deliveries []queue.Delivery `json:"deliveries"`
		Next       string           `json:"next"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &page); err != nil || r.code != 0 {
		t.Fatalf("--json: %v\n%s", err, r.stdout)
	}
	if len(page.Deliveries) != 1 || page.Deliveries[0].ID != failed || len(page.Deliveries[0].Outcomes) != 2 {
		t.Fatalf("--json: %+v", page)
	}

	// The binary has the commands too, with the token from the environment.
	t.Setenv(adminEnv, "admin-tok")
	r = hookgate(t, t.TempDir(), "deliveries", "--url", g.url, "--status", "failed")
	if got := tableIDs(r.stdout); r.code != 0 || strings.Join(got, ",") != failed {
		t.Fatalf("binary: exit %d, ids %v, stderr %q", r.code, got, r.stderr)
	}
	if r := hookgate(t, t.TempDir(), "help"); !strings.Contains(r.stdout, "hookgate deliveries show ID") || !strings.Contains(r.stdout, "hookgate replay ID") {
		t.Fatalf("usage lacks the commands:\n%s", r.stdout)
	}
}

func TestDeliveriesShowAndReplay(t *testing.T) {
	g := startLive(t)
	id := g.deliver(t, "Note Hook", noteWith(t, "team/app", "/boom now"))

	r := cli(t, deliveries, "show", id, "--config", g.cfg)
	if r.code != 0 {
		t.Fatalf("show: exit %d: %s", r.code, r.stderr)
	}
	for _, want := range []string{
		"id:", id, "status:", "failed (attempts 1, finished 1)", "project:", "team/app", "note:", "/boom now",
		"RULE", "notes", "boom", "error", "boom.lua:3: boom",
		`{"ok":true}`,
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("show lacks %q:\n%s", want, r.stdout)
		}
	}
	for _, re := range []string{
		`(?m)^notes:\n  log +info +fine +\{"kind":"note"\}\n  result +\{"ok":true\}$`,
		`(?m)^boom:\n  call +POST /projects/5/merge_requests/1/notes +dry run$`,
	} {
		if !regexp.MustCompile(re).MatchString(r.stdout) {
			t.Errorf("show does not match %s:\n%s", re, r.stdout)
		}
	}
	r = cli(t, deliveries, "show", "--json", id, "--config", g.cfg)
	var d queue.Delivery
	if err := json.Unmarshal([]byte(r.stdout), &d); err != nil || d.ID != id || d.Envelope.Note != "/boom now" {
		t.Fatalf("show --json: %v %+v", err, d)
	}

	// Replay one rule, then all.
	first := g.waitFinished(t, id, 1)
	r = cli(t, replay, id, "--rule", "boom", "--config", g.cfg)
	if r.code != 0 || !strings.Contains(r.stdout, id+" queued again (rule boom)") {
		t.Fatalf("replay --rule: exit %d, %q %q", r.code, r.stdout, r.stderr)
	}
	second := g.waitFinished(t, id, 2)
	if !second.Outcomes[0].Started.Equal(first.Outcomes[0].Started) || !second.Outcomes[1].Started.After(first.Outcomes[1].Started) {
		t.Fatalf("replay of boom: notes %v -> %v, boom %v -> %v", first.Outcomes[0].Started, second.Outcomes[0].Started,
			first.Outcomes[1].Started, second.Outcomes[1].Started)
	}
	r = cli(t, replay, "--config", g.cfg, "--json", id)
	var ans map[string]string
	if err := json.Unmarshal([]byte(r.stdout), &ans); err != nil || ans["status"] != "queued" || ans["id"] != id {
		t.Fatalf("replay --json: %v %q", err, r.stdout)
	}
	if third := g.waitFinished(t, id, 3); !third.Outcomes[0].Started.After(second.Outcomes[0].Started) {
		t.Fatal("replay of every rule did not re-run notes")
	}

	// Errors: unknown id, wrong token, missing argument, nobody listening.
	cases := []struct {
		name string
		cmd  func([]string, io.Writer, io.Writer) int
		args []string
		code int
		err  string
	}{
		{"show unknown", deliveries, []string{"show", "nope", "--config", g.cfg}, 1, "404 Not Found: no such delivery"},
		{"replay unknown", replay, []string{"nope", "--config", g.cfg}, 1, "404 Not Found: no such delivery"},
		{"wrong token", deliveries, []string{"--config", g.cfg, "--token", "nope"}, 1, "401 Unauthorized: missing or wrong admin token"},
		{"show without id", deliveries, []string{"show", "--config", g.cfg}, 2, "want one delivery id"},
		{"replay without id", replay, []string{"--config", g.cfg}, 2, "want one delivery id"},
		{"stray argument", deliveries, []string{"--config", g.cfg, "extra"}, 2, `unexpected argument "extra"`},
		{"nobody there", deliveries, []string{"--url", freeAddr(t), "--token", "x"}, 1, "cannot reach the admin API at http://127.0.0.1:"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := cli(t, tc.cmd, tc.args...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.err) {
				t.Fatalf("exit %d, stderr %q; want %d and %q", r.code, r.stderr, tc.code, tc.err)
			}
			if strings.Contains(r.stderr, "admin-tok") {
				t.Fatal("the token is printed")
			}
		})
	}
}

func TestAdminTargetResolution(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"receiver.toml":  "[server]\nlisten = \"0.0.0.0:9001\"\n[admin]\ntoken = \"from-config\"\n",
		"admin.toml":     "[server]\nlisten = \"127.0.0.1:9001\"\n[admin]\ntoken = \"file:admin-token\"\nlisten = \"[::]:9002\"\n",
		"admin-token":    "from-file\n",
		"needs-env.toml": "[admin]\ntoken = \"env:HOOKGATE_TEST_UNSET_TOKEN\"\n",
		"admin-off.toml": "[server]\nlisten = \"127.0.0.1:9001\"\n",
		"broken.toml":    "[server\n",
		"others-unset.toml": "[[gitlab]]\nurl = \"https://gl\"\ntoken = \"env:HOOKGATE_TEST_UNSET_TOKEN\"\n" +
			"[admin]\ntoken = \"lit\"\nlisten = \"127.0.0.1:9003\"\n",
	})
	cases := []struct {
		name             string
		env              string
		args             []string
		wantURL, wantTok string
		err              string
	}{
		{"receiver address, unspecified host", "", []string{"--config", filepath.Join(dir, "receiver.toml")}, "http://127.0.0.1:9001", "from-config", ""},
		{"admin listen wins; file: token", "", []string{"--config", filepath.Join(dir, "admin.toml")}, "http://[::1]:9002", "from-file", ""},
		{"environment beats config", "from-env", []string{"--config", filepath.Join(dir, "receiver.toml")}, "http://127.0.0.1:9001", "from-env", ""},
		{"flags beat both", "from-env", []string{"--config", filepath.Join(dir, "receiver.toml"), "--url", "gw.internal:81/", "--token", "from-flag"}, "http://gw.internal:81", "from-flag", ""},
		{"flags need no config", "", []string{"--config", filepath.Join(dir, "broken.toml"), "--url", "https://gw", "--token", "t"}, "https://gw", "t", ""},
		{"other secrets need not be set", "", []string{"--config", filepath.Join(dir, "others-unset.toml")}, "http://127.0.0.1:9003", "lit", ""},
		{"embedded defaults: no token", "", nil, "", "", "no admin token"},
		{"embedded defaults with a token", "t", nil, "http://127.0.0.1:8080", "t", ""},
		{"admin API off", "", []string{"--config", filepath.Join(dir, "admin-off.toml")}, "", "", "no admin token"},
		{"broken config", "", []string{"--config", filepath.Join(dir, "broken.toml")}, "", "", "or pass --url and --token"},
		{"unset env secret", "", []string{"--config", filepath.Join(dir, "needs-env.toml")}, "", "", "HOOKGATE_TEST_UNSET_TOKEN"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(adminEnv, tc.env)
			fs := flag.NewFlagSet("test", flag.ContinueOnError)
			af := newAdminFlags(fs)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			c, err := af.client()
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.base != tc.wantURL || c.token != tc.wantTok {
				t.Fatalf("got %s with token %q, want %s with %q", c.base, c.token, tc.wantURL, tc.wantTok)
			}
		})
	}
}

// freeAddr is a loopback address nobody listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
