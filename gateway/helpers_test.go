package gateway_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
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
	"github.com/hookgate/hookgate/gateway/config"
	"github.com/hookgate/hookgate/internal/fixtures"
)

// fixture reads one of GitLab's documented payloads (testdata/gitlab/docs).
func fixture(t testing.TB, name string) []byte {
	t.Helper()
	return fixtures.Read(t, "docs/"+name)
}

// withNote returns the note fixture with its note text replaced.
func withNote(t testing.TB, note string) []byte {
	t.Helper()
	return noteBodies(t)(note)
}

// noteBodies reads the note fixture once and returns a function giving it
// with its note text replaced. That function never fails, so goroutines a
// test starts may call it (t.Fatal would end only the goroutine).
func noteBodies(t testing.TB) func(note string) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(fixture(t, "note_merge_request.json"), &m); err != nil {
		t.Fatal(err)
	}
	attrs := m["object_attributes"].(map[string]any)
	var mu sync.Mutex // the map is shared by the callers
	return func(note string) []byte {
		mu.Lock()
		defer mu.Unlock()
		attrs["note"] = note
		b, err := json.Marshal(m)
		if err != nil {
			panic(err) // a map of decoded JSON always encodes
		}
		return b
	}
}

// testGateway is a real gateway serving on a loopback port.
type testGateway struct {
	*gateway.Gateway
	URL  string
	Dir  string
	stop func()
	// instance is the only [[gitlab]] block's url, "" when there is not
	// exactly one: post puts the payloads' projects on it.
	instance string
}

// fixtureInstance is the instance the fixtures' projects are on.
const fixtureInstance = "http://example.com"

// onInstance returns a fixture-based body with its projects' URLs on
// instance instead of fixtureInstance, as GitLab at instance would send it
// (the receiver refuses a project whose web_url is on another host).
func onInstance(body []byte, instance string) []byte {
	if instance == "" {
		return body
	}
	return bytes.ReplaceAll(body, []byte(fixtureInstance), []byte(instance))
}

// writeFiles writes name -> content under dir.
func writeFiles(t testing.TB, dir string, files map[string]string) {
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
}

const recordPlugin = `
function handle(event, params)
  log.info("seen", { note = event.note })
  return { kind = event.kind, project = event.project.path }
end
`

// startGateway writes cfgTOML (plus files) into a temp dir, loads it and
// serves it until the test ends. The config may use {{DIR}} for the dir.
func startGateway(t *testing.T, cfgTOML string, files map[string]string) *testGateway {
	t.Helper()
	dir := t.TempDir()
	if files == nil {
		files = map[string]string{
			"rules/all.toml":     "[[rule]]\nname = \"record\"\nplugin = \"record\"\n",
			"plugins/record.lua": recordPlugin,
		}
	}
	writeFiles(t, dir, files)
	cfgTOML = strings.ReplaceAll(cfgTOML, "{{DIR}}", dir)
	if !strings.Contains(cfgTOML, "[rules]") {
		cfgTOML += "\n[rules]\npaths = [\"rules/*.toml\"]\n[plugins]\ndir = \"plugins\"\n"
	}
	cfgPath := filepath.Join(dir, "hookgate.toml")
	writeFiles(t, dir, map[string]string{"hookgate.toml": cfgTOML})
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	g, err := gateway.New(cfg, log)
	if err != nil {
		t.Fatalf("gateway.New: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Serve(ctx, ln) }()
	tg := &testGateway{Gateway: g, URL: "http://" + ln.Addr().String(), Dir: dir}
	if len(cfg.GitLab) == 1 {
		tg.instance = cfg.GitLab[0].URL
	}
	stopped := false
	tg.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("gateway did not stop")
		}
	}
	t.Cleanup(tg.stop)
	waitFor(t, 5*time.Second, func() bool {
		resp, err := http.Get(tg.URL + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == 200
	})
	return tg
}

type hookResp struct {
	Status int
	Body   map[string]any
}

// post sends a webhook delivery with the given headers, as the configured
// GitLab instance would (see onInstance).
func (g *testGateway) post(t testing.TB, body []byte, headers map[string]string) hookResp {
	t.Helper()
	return g.postRaw(t, onInstance(body, g.instance), headers)
}

// postRaw sends a webhook delivery with the given headers, as it is.
func (g *testGateway) postRaw(t testing.TB, body []byte, headers map[string]string) hookResp {
	t.Helper()
	req, _ := http.NewRequest("POST", g.URL+"/hooks/gitlab", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("post: %v", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return hookResp{Status: resp.StatusCode, Body: m}
}

// admin calls the admin API.
func (g *testGateway) admin(t testing.TB, method, path, token string, out any) int {
	t.Helper()
	req, _ := http.NewRequest(method, g.URL+"/api/v1"+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("admin: %v", err)
	}
	defer resp.Body.Close()
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("admin %s: decode: %v", path, err)
		}
	}
	return resp.StatusCode
}

func waitFor(t testing.TB, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s", d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// headersOnlyPost sends a delivery's request line and headers, announcing
// a body of length bytes it never sends, and returns the answer's status.
func headersOnlyPost(t *testing.T, base string, length int, headers map[string]string) int {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	var req strings.Builder
	// Expect: 100-continue, as curl sends with a large body: the receiver
	// answers from the headers.
	fmt.Fprintf(&req, "POST /hooks/gitlab HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\nContent-Length: %d\r\nExpect: 100-continue\r\n", length)
	for k, v := range headers {
		fmt.Fprintf(&req, "%s: %s\r\n", k, v)
	}
	req.WriteString("\r\n")
	if _, err := io.WriteString(conn, req.String()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("read answer: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
