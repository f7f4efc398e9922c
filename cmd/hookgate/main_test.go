package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hookgate/hookgate/internal/testproc"
)

// bin is the hookgate binary built once for all tests.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "hookgate-cmd-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "hookgate")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// result is one finished run of the binary.
type result struct {
	code           int
	stdout, stderr string
}

// hookgate runs the binary in dir with args and waits (at most 30s).
func hookgate(t *testing.T, dir string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	testproc.Own(t, cmd)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	default:
		t.Fatalf("hookgate %v: %v", args, err)
	}
	return r
}

// writeTree writes name -> content under dir and returns dir.
func writeTree(t *testing.T, dir string, files map[string]string) string {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func testdata(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// localSetup is a config using rules/ and plugins/ beside it.
const localSetup = "[rules]\npaths = [\"rules/*.toml\"]\n[plugins]\ndir = \"plugins\"\n"

const okPlugin = "function handle(event, params)\n  return { ok = true }\nend\n"

func TestVersion(t *testing.T) {
	r := hookgate(t, t.TempDir(), "version")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "hookgate ") || !strings.Contains(r.stdout, "\nmodule: github.com/hookgate/hookgate\n") ||
		!strings.Contains(r.stdout, "\ngo: go1.") {
		t.Fatalf("version: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}

// TestVersionFromBuildInfo builds the binary as a user would from a
// checkout (VCS stamping on) and with a version set at link time, and
// checks that version reports what the toolchain recorded.
func TestVersionFromBuildInfo(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary twice")
	}
	dir := t.TempDir()
	stamped := filepath.Join(dir, "stamped")
	if out, err := exec.Command("go", "build", "-buildvcs=auto", "-ldflags=-X main.Version=v9.8.7", "-o", stamped, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(stamped, "version").Output()
	if err != nil || !strings.HasPrefix(string(out), "hookgate v9.8.7\n") {
		t.Fatalf("version with -X main.Version: %v\n%s", err, out)
	}
	head, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		t.Logf("not a git checkout (%v): the VCS revision is not checked", err)
		return
	}
	// The go command stamps VCS information only where .git is a folder
	// (cmd/go/internal/vcs); in a linked worktree it is a file.
	top, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if fi, serr := os.Stat(filepath.Join(strings.TrimSpace(string(top)), ".git")); err == nil && serr == nil && !fi.IsDir() {
		t.Logf("a git worktree (.git is a file), which go build does not stamp: the VCS revision is not checked")
		return
	}
	vcs := filepath.Join(dir, "vcs")
	if out, err := exec.Command("go", "build", "-buildvcs=true", "-o", vcs, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build -buildvcs=true: %v\n%s", err, out)
	}
	out, err = exec.Command(vcs, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	// Go stamps a pseudo-version naming the commit (Go 1.24+), or (devel).
	rev := strings.TrimSpace(string(head))
	first, _, _ := strings.Cut(string(out), "\n")
	if want := "vcs.revision: " + rev + "\n"; !strings.Contains(string(out), want) ||
		(first != "hookgate (devel)" && !strings.Contains(first, rev[:12])) {
		t.Errorf("version of a checkout build:\n%s\nwant %q and a version naming %s", out, want, rev[:12])
	}
}

func TestCheckEmbeddedDefaults(t *testing.T) {
	dir := t.TempDir()
	r := hookgate(t, dir, "check")
	m := regexp.MustCompile(`^ok: ([1-9]\d*) rules, ([1-9]\d*) plugins\n$`).FindStringSubmatch(r.stdout)
	if r.code != 0 || m == nil || r.stderr != "" {
		t.Fatalf("check: exit %d, stdout %q, stderr %q; want 0 and \"ok: N rules, M plugins\"", r.code, r.stdout, r.stderr)
	}
	// check writes the bundled examples to a temporary folder, not here.
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("check left %d entries in the working dir", len(ents))
	}
}

func TestCheckReportsEveryProblem(t *testing.T) {
	const rules = `[[rule]]
name = "dup"
plugin = "ok"

[[rule]]
name = "dup"
plugin = "ok"

[[rule]]
name = "unknown-key"
plugin = "ok"
colour = "red"

[[rule]]
name = "bad-expr"
on = ["note"]
when = 'note contains'
plugin = "ok"

[[rule]]
name = "no-plugin"
plugin = "nope"
`
	tests := []struct {
		name  string
		files map[string]string
		// want are the problems, in order: each "FILE:line:col" (FILE
		// relative to the temp dir) and a part of its message.
		want [][2]string
	}{
		{
			name: "unknown config key",
			files: map[string]string{
				"hookgate.toml":  "[server]\nlisten = \"127.0.0.1:0\"\nbogus = 1\n" + localSetup,
				"rules/a.toml":   "[[rule]]\nname = \"a\"\nplugin = \"ok\"\n",
				"plugins/ok.lua": okPlugin,
			},
			want: [][2]string{{"hookgate.toml:3:1", "unknown key server.bogus"}},
		},
		{
			name:  "rule file problems",
			files: map[string]string{"hookgate.toml": localSetup, "rules/a.toml": rules, "plugins/ok.lua": okPlugin},
			want: [][2]string{
				{"rules/a.toml:6:8", `duplicate rule name "dup" (first defined at `},
				{"rules/a.toml:12:1", `unknown key "colour" in [[rule]]`},
				{"rules/a.toml:17:21", "when: unexpected token EOF"},
				{"rules/a.toml:22:10", `plugin "nope" not found`},
			},
		},
		{
			name: "plugin syntax error",
			files: map[string]string{
				"hookgate.toml":      localSetup,
				"rules/a.toml":       "[[rule]]\nname = \"a\"\nplugin = \"ok\"\n",
				"plugins/ok.lua":     okPlugin,
				"plugins/broken.lua": "function handle(event, params)\n  return (\nend\n",
			},
			want: [][2]string{{"plugins/broken.lua:3:1", "syntax error near 'end'"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeTree(t, t.TempDir(), tt.files)
			r := hookgate(t, dir, "check", "--config", filepath.Join(dir, "hookgate.toml"))
			if r.code != 1 || r.stdout != "" {
				t.Fatalf("exit %d, stdout %q, want 1 and nothing on stdout; stderr:\n%s", r.code, r.stdout, r.stderr)
			}
			lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
			if len(lines) != len(tt.want) {
				t.Fatalf("%d problems, want %d:\n%s", len(lines), len(tt.want), r.stderr)
			}
			for i, w := range tt.want {
				prefix := filepath.Join(dir, w[0]) + ": "
				if !strings.HasPrefix(lines[i], prefix) || !strings.Contains(lines[i], w[1]) {
					t.Errorf("problem %d = %q, want %q... %q", i, lines[i], prefix, w[1])
				}
			}
		})
	}
}

// runTest runs `hookgate test` and decodes its JSON output.
func runTest(t *testing.T, dir string, args ...string) map[string]any {
	t.Helper()
	r := hookgate(t, dir, append([]string{"test"}, args...)...)
	if r.code != 0 {
		t.Fatalf("test %v: exit %d, stderr %q", args, r.code, r.stderr)
	}
	var out map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("test %v: output is not JSON: %v\n%s", args, err, r.stdout)
	}
	return out
}

func keys(m map[string]any) string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return strings.Join(ks, ",")
}

func TestDryRunWithEmbeddedDefaults(t *testing.T) {
	event := testdata(t, "note_packit_build.json")
	for _, tt := range []struct {
		name string
		args []string
	}{
		{"kind from payload", []string{"--event", event}},
		{"explicit event type", []string{"--event", event, "--event-type", "Note Hook"}},
	} {
		args := tt.args
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			out := runTest(t, dir, args...)
			if keys(out) != "envelope,rules" {
				t.Fatalf("top-level keys %q, want envelope,rules", keys(out))
			}
			env := out["envelope"].(map[string]any)
			if env["kind"] != "note" || env["event"] != "Note Hook" || env["command"].(map[string]any)["name"] != "packit" {
				t.Fatalf("envelope kind %v event %v command %v", env["kind"], env["event"], env["command"])
			}
			rules := out["rules"].([]any)
			if len(rules) != 1 {
				t.Fatalf("rules = %v, want packit-build only", rules)
			}
			r := rules[0].(map[string]any)
			if keys(r) != "calls,logs,plugin,result,rule,status" {
				t.Fatalf("rule keys %q", keys(r))
			}
			if r["rule"] != "packit-build" || r["plugin"] != "packit" || r["status"] != "ok" {
				t.Fatalf("rule = %v %v %v, want packit-build packit ok", r["rule"], r["plugin"], r["status"])
			}
			if res, ok := r["result"].(map[string]any); !ok || res["job"] != "build" {
				t.Fatalf("result = %v, want the plugin's table", r["result"])
			}
			if logs := r["logs"].([]any); len(logs) == 0 || logs[0].(map[string]any)["msg"] != "packit job queued" {
				t.Fatalf("logs = %v", logs)
			}
			var comment string
			for _, c := range r["calls"].([]any) {
				call := c.(map[string]any)
				if keys(call) != "body,method,path" {
					t.Fatalf("call keys %q, want body,method,path", keys(call))
				}
				if call["method"] == "POST" && call["path"] == "/projects/5/merge_requests/1/notes" {
					comment, _ = call["body"].(map[string]any)["body"].(string)
				}
			}
			if !strings.HasPrefix(comment, "Packit build queued for 562e173b") {
				t.Fatalf("calls = %v, want the MR comment recorded", r["calls"])
			}
			if ents, _ := os.ReadDir(dir); len(ents) != 0 {
				t.Fatalf("test left %d entries in the working dir", len(ents))
			}
		})
	}
}

func TestDryRunFailingPlugin(t *testing.T) {
	dir := writeTree(t, t.TempDir(), map[string]string{
		"hookgate.toml": localSetup,
		"rules/r.toml":  "[[rule]]\nname = \"explode\"\non = [\"note\"]\nwhen = 'has_command(\"/packit\", \"build\")'\nplugin = \"explode\"\n",
		"plugins/explode.lua": `function handle(event, params)
  log.warn("about to fail", { cmd = event.command.name })
  gitlab.comment("trying")
  error("exploded on " .. event.command.name)
end
`,
	})
	out := runTest(t, dir, "--config", filepath.Join(dir, "hookgate.toml"), "--event", testdata(t, "note_packit_build.json"))
	rules := out["rules"].([]any)
	if len(rules) != 1 {
		t.Fatalf("rules = %v", rules)
	}
	r := rules[0].(map[string]any)
	if r["status"] != "error" || r["error"] != "explode.lua:4: exploded on packit" || r["result"] != nil {
		t.Fatalf("outcome = %v, want status error with the script's message", r)
	}
	calls, logs := r["calls"].([]any), r["logs"].([]any)
	if len(calls) != 1 || len(logs) != 1 || logs[0].(map[string]any)["level"] != "warn" {
		t.Fatalf("calls %v logs %v: want what happened before the error", calls, logs)
	}
}

func TestDryRunUnusableInput(t *testing.T) {
	dir := writeTree(t, t.TempDir(), map[string]string{
		"notjson.json": "this is not JSON",
		"nokind.json":  `{"hello": "world"}`,
	})
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"not JSON", []string{"--event", "notjson.json"}, "not a JSON object"},
		{"no kind", []string{"--event", "nokind.json"}, "--event-type"},
		{"not JSON with type", []string{"--event", "notjson.json", "--event-type", "Note Hook"}, "hookgate test: "},
		{"missing file", []string{"--event", "missing.json"}, "missing.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := hookgate(t, dir, append([]string{"test"}, tt.args...)...)
			if r.code != 1 || r.stdout != "" || !strings.Contains(r.stderr, tt.want) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want 1 and %q", r.code, r.stdout, r.stderr, tt.want)
			}
		})
	}
}

// logBuffer collects a process's stderr; safe for concurrent use.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// server is a running `hookgate serve`.
type server struct {
	cmd    *exec.Cmd
	stderr *logBuffer
	addr   string
	done   chan struct{} // closed when the process has exited
	err    error         // Wait's result, set before done is closed
}

var listenRe = regexp.MustCompile(`"msg":"hookgate listening","addr":"([^"]+)"`)

// startServe runs `hookgate serve args...` in dir and waits until it logs
// its address and answers /healthz.
func startServe(t *testing.T, dir string, args ...string) *server {
	t.Helper()
	s := &server{stderr: &logBuffer{}, done: make(chan struct{})}
	s.cmd = testproc.Command(t, bin, append([]string{"serve"}, args...)...)
	s.cmd.Dir = dir
	s.cmd.Stderr = s.stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.err = s.cmd.Wait(); close(s.done) }()
	t.Cleanup(func() {
		select {
		case <-s.done:
		default:
			_ = s.cmd.Process.Kill()
			<-s.done
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		if m := listenRe.FindStringSubmatch(s.stderr.String()); m != nil && s.addr == "" {
			s.addr = m[1]
		}
		if s.addr != "" {
			if resp, err := http.Get("http://" + s.addr + "/healthz"); err == nil {
				resp.Body.Close()
				if resp.StatusCode != 200 {
					t.Fatalf("/healthz: %d", resp.StatusCode)
				}
				return s
			}
		}
		select {
		case <-s.done:
			t.Fatalf("hookgate serve exited while starting: %v\n%s", s.err, s.stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("hookgate serve did not start:\n%s", s.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop sends SIGTERM and expects exit status 0 within 10s.
func (s *server) stop(t *testing.T) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.done:
		if s.err != nil {
			t.Fatalf("after SIGTERM: %v\n%s", s.err, s.stderr)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("hookgate serve did not stop within 10s of SIGTERM:\n%s", s.stderr)
	}
}

// deliver posts the packit fixture with the given token.
func (s *server) deliver(t *testing.T, token string) (int, map[string]any) {
	t.Helper()
	body, err := os.ReadFile(testdata(t, "note_packit_build.json"))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", "http://"+s.addr+"/hooks/gitlab", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Gitlab-Event", "Note Hook")
	req.Header.Set("X-Gitlab-Token", token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

// waitLog waits until the process log contains s.
func (s *server) waitLog(t *testing.T, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(s.stderr.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("log never showed %q:\n%s", want, s.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func readSecret(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "data", "webhook-secret")
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatalf("generated secret: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %v, want 0600", p, fi.Mode().Perm())
	}
	b, _ := os.ReadFile(p)
	secret := strings.TrimSpace(string(b))
	if len(secret) < 32 {
		t.Fatalf("generated secret %q is too short", secret)
	}
	return secret
}

// TestServe runs the defaults with only the listen address changed (a
// free port): generated secret printed once, bundled rules, a delivery
// processed, SIGTERM exits 0; a second start reuses the secret silently.
func TestServe(t *testing.T) {
	dir := writeTree(t, t.TempDir(), map[string]string{"hookgate.toml": "[server]\nlisten = \"127.0.0.1:0\"\n"})
	cfg := filepath.Join(dir, "hookgate.toml")

	s := startServe(t, dir, "--config", cfg)
	secret := readSecret(t, dir)
	first := s.stderr.String()
	if !strings.Contains(first, "generated a webhook secret") || strings.Count(first, secret) != 1 {
		t.Fatalf("first start must print the generated secret once:\n%s", first)
	}
	if code, body := s.deliver(t, "wrong"); code != 401 {
		t.Fatalf("wrong token: %d %v, want 401", code, body)
	}
	code, body := s.deliver(t, secret)
	id, _ := body["id"].(string)
	if code != 202 || body["status"] != "queued" || id == "" {
		t.Fatalf("delivery: %d %v, want 202 queued", code, body)
	}
	// The bundled packit-build rule runs it (dry run: no GitLab configured).
	s.waitLog(t, fmt.Sprintf(`"msg":"delivery processed","delivery":%q,"status":"done","rules":1`, id))
	s.stop(t)

	s = startServe(t, dir, "--config", cfg)
	if again := readSecret(t, dir); again != secret {
		t.Fatal("second start replaced the generated secret")
	}
	if log := s.stderr.String(); strings.Contains(log, secret) || strings.Contains(log, "generated a webhook secret") {
		t.Fatalf("second start printed the secret again:\n%s", log)
	}
	if code, body := s.deliver(t, secret); code != 202 {
		t.Fatalf("delivery after restart: %d %v, want 202", code, body)
	}
	s.stop(t)
}

// TestServeEmbeddedDefaults runs `hookgate serve` with no configuration at
// all, which listens on 127.0.0.1:8080; skipped when that port is taken.
func TestServeEmbeddedDefaults(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:8080")
	if err != nil {
		t.Skipf("127.0.0.1:8080 is in use, cannot run serve on the embedded defaults: %v", err)
	}
	ln.Close()
	dir := t.TempDir()
	s := startServe(t, dir)
	if s.addr != "127.0.0.1:8080" {
		t.Fatalf("embedded defaults listen on %s, want 127.0.0.1:8080", s.addr)
	}
	secret := readSecret(t, dir)
	if !strings.Contains(s.stderr.String(), secret) {
		t.Fatal("generated secret not printed on first start")
	}
	for _, p := range []string{"data/hookgate.db", "data/bundled/rules", "data/bundled/plugins"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			t.Errorf("embedded defaults: %v", err)
		}
	}
	if fi, err := os.Stat(filepath.Join(dir, "data")); err != nil {
		t.Error(err)
	} else if fi.Mode().Perm() != 0o700 {
		t.Errorf("embedded defaults: data folder mode %04o, want 0700", fi.Mode().Perm())
	}
	if code, body := s.deliver(t, secret); code != 202 || body["status"] != "queued" {
		t.Fatalf("delivery: %d %v, want 202 queued", code, body)
	}
	s.stop(t)
}
