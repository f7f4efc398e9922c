package scaletest_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hookgate/hookgate/internal/testproc"
)

// noteEvent is a small Note Hook payload: a comment on merge request !1 of
// project g/p (id 5) of https://gitlab.example.com.
func noteEvent(note string) []byte { return noteEventOn("https://gitlab.example.com", note) }

// noteEventOn is noteEvent from the GitLab instance at instance.
func noteEventOn(instance, note string) []byte {
	b, _ := json.Marshal(map[string]any{
		"object_kind": "note",
		"event_type":  "note",
		"user":        map[string]any{"id": 1, "username": "alice", "name": "Alice"},
		"project_id":  5,
		"project": map[string]any{"id": 5, "path_with_namespace": "g/p",
			"web_url": instance + "/g/p"},
		"object_attributes": map[string]any{"id": 1244, "note": note, "noteable_type": "MergeRequest",
			"action": "create", "author_id": 1},
		"merge_request": map[string]any{"id": 99, "iid": 1, "title": "t", "state": "opened",
			"source_branch": "f", "target_branch": "main"},
	})
	return b
}

// answer is one answer of POST /hooks/gitlab; Err is set when none came.
type answer struct {
	Code   int
	ID     string
	Status string
	Err    error
}

// post sends a Note Hook with an idempotency key.
func post(c *http.Client, url string, body []byte, key string) answer {
	req, _ := http.NewRequest("POST", url+"/hooks/gitlab", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Gitlab-Event", "Note Hook")
	req.Header.Set("X-Gitlab-Token", "tok")
	req.Header.Set("Idempotency-Key", key)
	resp, err := c.Do(req)
	if err != nil {
		return answer{Err: err}
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]string
	_ = json.Unmarshal(raw, &m)
	return answer{Code: resp.StatusCode, ID: m["id"], Status: m["status"]}
}

func (a answer) ok() bool { return a.Err == nil && (a.Code == 200 || a.Code == 202) }

func newClient() *http.Client {
	return &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{
		MaxIdleConns: 256, MaxIdleConnsPerHost: 64, IdleConnTimeout: 30 * time.Second,
	}}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
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

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// TestMain removes the binary the tests built.
func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// binary builds cmd/hookgate (without -race: the replicas are what a
// deployment runs) once for the package's tests.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "hookgate-scaletest-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "hookgate")
		out, err := exec.Command("go", "build", "-o", binPath, "../../cmd/hookgate").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// process is one hookgate replica run from the built binary.
type process struct {
	t      *testing.T
	name   string
	cfg    string
	url    string
	cmd    *exec.Cmd
	exited chan error
	log    *os.File
}

func startProcess(t *testing.T, bin, name, cfg, addr string) *process {
	t.Helper()
	logf, err := os.Create(filepath.Join(filepath.Dir(cfg), "hookgate.log"))
	if err != nil {
		t.Fatal(err)
	}
	p := &process{t: t, name: name, cfg: cfg, url: "http://" + addr, log: logf}
	p.cmd = testproc.Command(t, bin, "serve", "--config", cfg)
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.exited = make(chan error, 1)
	go func() { p.exited <- p.cmd.Wait() }()
	t.Cleanup(func() {
		if p.alive() {
			_ = p.cmd.Process.Signal(syscall.SIGKILL)
			<-p.exited
		}
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			if len(b) > 3000 {
				b = b[len(b)-3000:]
			}
			t.Logf("%s: last log lines:\n%s", name, b)
		}
		logf.Close()
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(p.url + "/healthz")
		if err == nil {
			resp.Body.Close()
			return p
		}
		if !p.alive() {
			b, _ := os.ReadFile(logf.Name())
			t.Fatalf("%s exited while starting:\n%s", name, b)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not start", name)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *process) alive() bool {
	select {
	case err := <-p.exited:
		p.exited <- err
		return false
	default:
		return true
	}
}

func (p *process) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
	p.exited <- fmt.Errorf("killed")
}
