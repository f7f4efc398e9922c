package gateway_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway"
	"github.com/hookgate/hookgate/gateway/auth"
	"github.com/hookgate/hookgate/gateway/config"
	"github.com/hookgate/hookgate/gateway/queue"
)

// lockedBuffer is a bytes.Buffer safe for concurrent writers.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) Bytes() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return bytes.Clone(l.b.Bytes())
}

// The configured secrets, each set a different way.
var (
	secretGitLab   = "glpat-S3cretGitLabT0ken-xyzzy"                                             // env:
	secretLiteral  = "literal-webhook-S3cret-7781"                                               // literal
	secretEnv      = "env-webhook-S3cret-9924"                                                   // env:
	secretFile     = "file-webhook-S3cret-1203"                                                  // file:
	secretKeyBytes = []byte("signing-key-S3cret-bytes-0123456")                                  // 32 bytes
	secretSigning  = "whsec_" + base64.StdEncoding.EncodeToString(secretKeyBytes)                // env:
	secretAdmin    = "admin-S3cret-4471"                                                         // env:
	secretBroken   = "whsec_!!not-base64!!-S3cret-5550"                                          // a bad key, for the config error
	allSecrets     = []string{secretGitLab, secretLiteral, secretEnv, secretFile, secretSigning, // and the key's parts:
		strings.TrimPrefix(secretSigning, "whsec_"), string(secretKeyBytes), secretAdmin, secretBroken}
)

// TestSecretsNeverShown runs a full gateway whose secrets are set every way
// the config allows, with a debug-level log, through every path: accepted,
// refused and signed deliveries, plugin calls GitLab answers with success,
// 5xx, 429 and 403, a failing script, retries, replay, reload and the admin
// API with good and bad tokens. Then it looks for each secret in every log
// line, every HTTP answer, every delivery-log record (admin API, and the
// raw bytes of the store file after stop) and every config error: none.
func TestSecretsNeverShown(t *testing.T) {
	f := packitGitLab(t, 40)
	mrNotesAnswers := sequence(
		apiAnswer{Status: 500, Body: `{"message":"500 Internal Server Error"}`},
		apiAnswer{Status: 429, Body: `{"message":"429 Too Many Requests"}`, Header: map[string]string{"Retry-After": "0"}},
		apiAnswer{Status: 201, Body: `{"id":9001,"body":"ok"}`},
	)
	f.route("POST", mrNotes, mrNotesAnswers)
	f.route("PUT", "/api/v4/projects/5/merge_requests/1", always(403, `{"message":"403 Forbidden"}`))

	dir := t.TempDir()
	t.Setenv("HG_TEST_GITLAB_TOKEN", secretGitLab)
	t.Setenv("HG_TEST_WEBHOOK", secretEnv)
	t.Setenv("HG_TEST_SIGNING", secretSigning)
	t.Setenv("HG_TEST_ADMIN", secretAdmin)
	t.Setenv("HG_TEST_BROKEN", secretBroken)
	files := exampleFiles(t, "packit")
	files["secrets/webhook"] = secretFile + "\n"
	files["rules/extra.toml"] = `
[[rule]]
name = "reply"
on = ["note"]
when = 'has_command("/reply")'
plugin = "reply"

[[rule]]
name = "label"
on = ["note"]
when = 'has_command("/label")'
plugin = "label"

[[rule]]
name = "boom"
on = ["note"]
when = 'has_command("/boom")'
plugin = "boom"
`
	files["plugins/reply.lua"] = replyPlugin
	files["plugins/label.lua"] = "function handle() gitlab.add_labels{\"bug\"} end"
	// A script that logs everything it is given, at every level.
	files["plugins/boom.lua"] = `
function handle(event, params)
  log.debug("event", { event = json.encode(event), params = json.encode(params) })
  log.info("note", { note = event.note, headers = event.headers })
  log.warn("warn")
  error("boom on " .. event.project.path .. ": " .. json.encode(event))
end
`
	files["hookgate.toml"] = fmt.Sprintf(`
[server]
read_timeout = "2s"
[queue]
path = "data/hookgate.db"
retry_base = "10ms"
retry_max = "20ms"
max_attempts = 5

[[gitlab]]
url = %q
token = "env:HG_TEST_GITLAB_TOKEN"
bot_username = "hookgate-bot"

[[secret]]
project = "gitlab-org/gitlab-test"
token = "env:HG_TEST_WEBHOOK"

[[secret]]
project = "gitlab-org/gitlab-test"
token = "file:secrets/webhook"

[[secret]]
project = "*"
token = %q

[[secret]]
project = "signed/*"
signing_key = "env:HG_TEST_SIGNING"

[admin]
token = "env:HG_TEST_ADMIN"

[rules]
paths = ["rules/*.toml"]
[plugins]
dir = "plugins"
timeout = "2s"

[log]
level = "debug"
`, f.URL, secretLiteral)
	writeFiles(t, dir, files)

	logs := &lockedBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			b := logs.Bytes()
			t.Logf("log tail:\n%s", b[max(0, len(b)-3000):])
		}
	})
	cfg, err := config.Load(filepath.Join(dir, "hookgate.toml"))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	g, err := gateway.New(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- g.Serve(ctx, ln) }()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			if err := <-served; err != nil {
				t.Errorf("Serve: %v", err)
			}
		}
	}
	defer stop()
	url := "http://" + ln.Addr().String()

	var seen bytes.Buffer // every answer body, every admin API answer
	do := func(method, path string, body []byte, headers map[string]string) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, url+path, bytes.NewReader(body))
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		resp, err := noKeepAlive.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		seen.Write(raw)
		for k, vs := range resp.Header {
			fmt.Fprintf(&seen, "\n%s: %s", k, strings.Join(vs, ","))
		}
		return resp.StatusCode, raw
	}
	hook := func(body []byte, h map[string]string) int {
		t.Helper()
		h["X-Gitlab-Event"] = "Note Hook"
		code, _ := do("POST", "/hooks/gitlab", body, h)
		return code
	}
	admin := func(method, path string) (int, []byte) {
		t.Helper()
		return do(method, "/api/v1"+path, nil, map[string]string{"Authorization": "Bearer " + secretAdmin})
	}
	waitFor(t, 5*time.Second, func() bool { code, _ := do("GET", "/healthz", nil, nil); return code == 200 })

	note := func(text string) []byte { return onInstance(noteEvent(t, text, 1, "root"), f.URL) }
	f.route("GET", "/api/v4/projects/else/where", always(200, `{"id":5,"path_with_namespace":"else/where"}`))
	f.route("GET", "/api/v4/projects/signed/repo", always(200, `{"id":5,"path_with_namespace":"signed/repo"}`))
	signedBody := onInstance(withProject(t, "signed/repo"), f.URL)
	now := time.Now()
	deliveries := []struct {
		name   string
		body   []byte
		h      map[string]string
		status int
	}{
		{"env token", note("/packit build"), map[string]string{"X-Gitlab-Token": secretEnv}, 202},
		{"file token", note("/reply"), map[string]string{"X-Gitlab-Token": secretFile}, 202},
		{"env token, labels refused", note("/label"), map[string]string{"X-Gitlab-Token": secretEnv}, 202},
		{"failing script", note("/boom"), map[string]string{"X-Gitlab-Token": secretFile}, 202},
		{"literal token elsewhere", onInstance(withProject(t, "else/where"), f.URL), map[string]string{"X-Gitlab-Token": secretLiteral}, 202},
		{"literal token on a project with its own", note("/reply"), map[string]string{"X-Gitlab-Token": secretLiteral}, 401},
		{"token plus a suffix", note("/reply"), map[string]string{"X-Gitlab-Token": secretEnv + "x"}, 401},
		{"token prefix", note("/reply"), map[string]string{"X-Gitlab-Token": secretEnv[:len(secretEnv)-1]}, 401},
		{"admin token as webhook token", note("/reply"), map[string]string{"X-Gitlab-Token": secretAdmin}, 401},
		{"signed", signedBody, map[string]string{"webhook-id": "m1", "webhook-timestamp": fmt.Sprint(now.Unix()), "webhook-signature": auth.Sign(secretSigning, "m1", now, signedBody)}, 202},
		{"signed, other body", signedBody, map[string]string{"webhook-id": "m2", "webhook-timestamp": fmt.Sprint(now.Unix()), "webhook-signature": auth.Sign(secretSigning, "m2", now, note("x"))}, 401},
		{"signed, stale", signedBody, map[string]string{"webhook-id": "m3", "webhook-timestamp": fmt.Sprint(now.Add(-time.Hour).Unix()), "webhook-signature": auth.Sign(secretSigning, "m3", now.Add(-time.Hour), signedBody)}, 401},
		{"signing key as token", signedBody, map[string]string{"X-Gitlab-Token": secretSigning}, 401},
		{"bad JSON", []byte(`{"token":"` + secretEnv), map[string]string{"X-Gitlab-Token": secretEnv}, 400},
	}
	for _, d := range deliveries {
		if code := hook(d.body, d.h); code != d.status {
			t.Errorf("%s: %d, want %d", d.name, code, d.status)
		}
	}
	// Wait for everything to be final, then replay the failures.
	waitFor(t, 10*time.Second, func() bool {
		_, q := admin("GET", "/deliveries?status=queued")
		_, r := admin("GET", "/deliveries?status=running")
		return bytes.Contains(q, []byte(`"deliveries":[]`)) && bytes.Contains(r, []byte(`"deliveries":[]`))
	})
	var list struct{ Deliveries []queue.Delivery }
	g2 := &testGateway{URL: url}
	if code := g2.admin(t, "GET", "/deliveries?limit=100", secretAdmin, &list); code != 200 || len(list.Deliveries) != 6 {
		t.Fatalf("list: %d, %d deliveries, want 6", code, len(list.Deliveries))
	}
	failedOnes := 0
	for _, d := range list.Deliveries {
		admin("GET", "/deliveries/"+d.ID)
		if d.Status == queue.StatusFailed {
			failedOnes++
			if code, _ := admin("POST", "/deliveries/"+d.ID+"/replay"); code != 202 {
				t.Errorf("replay %s: %d", d.ID, code)
			}
		}
	}
	if failedOnes != 2 {
		t.Errorf("%d failed deliveries, want 2 (the 403 and the script error)", failedOnes)
	}
	admin("POST", "/reload")
	admin("GET", "/rules")
	for _, bad := range []string{"", "Bearer ", "Bearer " + secretAdmin + "x", "Bearer " + secretEnv, "Basic " + secretAdmin} {
		if code, _ := do("GET", "/api/v1/deliveries", nil, map[string]string{"Authorization": bad}); code != 401 {
			t.Errorf("admin with %q: %d, want 401", bad, code)
		}
	}
	waitFor(t, 10*time.Second, func() bool {
		_, q := admin("GET", "/deliveries?status=queued")
		return bytes.Contains(q, []byte(`"deliveries":[]`))
	})
	_, all := admin("GET", "/deliveries?limit=1000")
	seen.Write(all)
	stop()

	// Positive controls: the secrets were in use.
	usedToken := false
	for _, r := range f.requests() {
		usedToken = usedToken || r.Token == secretGitLab
	}
	if !usedToken || f.count("POST", mrNotes) < 3 {
		t.Fatalf("GitLab was not called with the token through the retries: %s", dump(f.requests()))
	}
	for _, want := range []string{`"level":"DEBUG"`, "retrying transient failure", "403", "boom on", "delivery refused"} {
		if !bytes.Contains(logs.Bytes(), []byte(want)) {
			t.Errorf("the log has no %q: a path was not exercised", want)
		}
	}

	// Config errors name the variable or file, never the value.
	var configErrs bytes.Buffer
	for _, cfgText := range []string{
		"[[secret]]\nproject = \"*\"\nsigning_key = \"env:HG_TEST_BROKEN\"\n",
		"[[secret]]\nproject = \"*\"\nsigning_key = \"" + secretBroken + "\"\n",
		"[[secret]]\nproject = \"*\"\ntoken = \"" + secretLiteral + "\"\nunknown = \"" + secretEnv + "\"\n",
		"[[gitlab]]\nurl = \"https://gitlab.example.com\"\ntoken = \"env:HG_TEST_UNSET\"\n",
		"[[secret]]\nproject = \"*\"\ntoken = \"file:/nonexistent/webhook\"\n",
		"[admin]\ntoken = 42\n",
	} {
		p := filepath.Join(t.TempDir(), "bad.toml")
		os.WriteFile(p, []byte(cfgText), 0o600)
		c, err := config.Load(p)
		if err == nil {
			_, err = gateway.New(c, slog.New(slog.NewJSONHandler(&configErrs, nil)))
		}
		if err == nil {
			t.Errorf("config accepted:\n%s", cfgText)
			continue
		}
		fmt.Fprintln(&configErrs, err.Error())
	}

	// Every file the store left (the bbolt file, and any log beside it).
	var db []byte
	err = filepath.WalkDir(filepath.Join(dir, "data"), func(path string, e os.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		db = append(db, b...)
		return err
	})
	if err != nil || len(db) == 0 {
		t.Fatalf("reading the store files: %v (%d bytes)", err, len(db))
	}
	places := map[string][]byte{
		"the log":              logs.Bytes(),
		"the HTTP answers":     seen.Bytes(),
		"the store file":       db,
		"the config errors":    configErrs.Bytes(),
		"the delivery records": all,
	}
	for _, s := range allSecrets {
		for where, b := range places {
			// A wrong token is what the sender sent, not a secret; only the
			// secrets themselves are looked for.
			if bytes.Contains(b, []byte(s)) {
				i := bytes.Index(b, []byte(s))
				t.Errorf("%s shows secret %q: ...%s...", where, s, b[max(0, i-200):min(len(b), i+len(s)+50)])
			}
		}
	}
	t.Logf("searched %d log bytes (%d lines), %d answer bytes, %d store bytes, %d config error bytes for %d secrets",
		len(logs.Bytes()), bytes.Count(logs.Bytes(), []byte("\n")), seen.Len(), len(db), configErrs.Len(), len(allSecrets))
}
