package gateway_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/hookgate/hookgate/gateway/queue"
)

// badInputConfig has a small body limit and short timeouts so the slow
// client cases end quickly.
const badInputConfig = `
[server]
max_body_bytes = "1MiB"
read_timeout = "1s"
write_timeout = "2s"
idle_timeout = "2s"

[queue]
path = "data/hookgate.db"

[[secret]]
project = "*"
token = "tok-a"

[admin]
token = "admin-tok"
`

// noKeepAlive posts on a fresh connection each time: the short timeouts
// above close idle connections, and a POST on a connection the server just
// closed is not retried by net/http.
var noKeepAlive = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true, DisableCompression: true}}

// rawExchange writes req on a new connection and reads one response.
func rawExchange(t *testing.T, addr string, req []byte) (*http.Response, []byte) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write(req); err != nil {
		t.Fatalf("write: %v", err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	for err == nil && resp.StatusCode == http.StatusContinue {
		resp, err = http.ReadResponse(br, nil) // the final answer follows
	}
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

// rawPost is a POST /hooks/gitlab with the headers given verbatim, bytes
// that net/http would refuse to send included.
func rawPost(headers string, body []byte) []byte {
	return fmt.Appendf(nil, "POST /hooks/gitlab HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n%s\r\n%s", len(body), headers, body)
}

// gzipped compresses b.
func gzipped(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

// jsonSet returns the note fixture with one field (a path of object keys)
// replaced by v.
func jsonSet(t *testing.T, v any, path ...string) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(fixture(t, "note_merge_request.json"), &m); err != nil {
		t.Fatal(err)
	}
	obj := m
	for _, k := range path[:len(path)-1] {
		obj = obj[k].(map[string]any)
	}
	obj[path[len(path)-1]] = v
	b, _ := json.Marshal(m)
	return b
}

// TestBadInput sends what a broken or hostile client may send. Each gets
// its documented answer, the gateway keeps serving, and only the payloads
// that are valid JSON objects with odd field types are stored (and
// processed).
func TestBadInput(t *testing.T) {
	g := startGateway(t, badInputConfig, nil)
	addr := strings.TrimPrefix(g.URL, "http://")
	note := fixture(t, "note_merge_request.json")
	good := map[string]string{"X-Gitlab-Event": "Note Hook", "X-Gitlab-Token": "tok-a"}

	// A gzip body that inflates from about 100 KiB to 100 MiB: gzip
	// members (concatenated, as gzip allows) of 1 MiB of spaces each,
	// inside a JSON string.
	spaces := gzipped(t, bytes.Repeat([]byte(" "), 1<<20))
	bomb := gzipped(t, []byte(`{"object_kind":"note","x":"`))
	for range 100 {
		bomb = append(bomb, spaces...)
	}
	bomb = append(bomb, gzipped(t, []byte(`"}`))...)
	if zr, err := gzip.NewReader(bytes.NewReader(bomb)); err != nil {
		t.Fatal(err)
	} else if n, err := io.Copy(io.Discard, zr); err != nil || n < 100<<20 || len(bomb) > 200<<10 {
		t.Fatalf("bomb: %d bytes inflate to %d (%v)", len(bomb), n, err)
	}
	// The invalid UTF-8 note: bytes 0xff 0xfe inside the JSON string, and a
	// lone surrogate escape.
	badUTF8 := bytes.Replace(jsonSet(t, "/work BADBYTES", "object_attributes", "note"), []byte("BADBYTES"), []byte("\xff\xfe \\udc00 ok"), 1)

	cases := []struct {
		name    string
		body    []byte
		headers map[string]string
		raw     string // headers sent verbatim on a raw connection instead
		status  int
		check   func(t *testing.T, d queue.Delivery) // for stored deliveries
	}{
		{name: "malformed JSON", body: []byte(`{"object_kind": "note", "project": {`), headers: good, status: 400},
		{name: "truncated body", body: note[:len(note)/2], headers: good, status: 400},
		{name: "trailing garbage", body: append(append([]byte{}, note...), `}{`...), headers: good, status: 400},
		{name: "empty body", body: nil, headers: good, status: 400},
		{name: "whitespace body", body: []byte(" \r\n\t "), headers: good, status: 400},
		{name: "NUL bytes", body: []byte("{\x00}"), headers: good, status: 400},
		{name: "gzip bomb with Content-Encoding", body: bomb, headers: map[string]string{"X-Gitlab-Event": "Note Hook", "X-Gitlab-Token": "tok-a", "Content-Encoding": "gzip"}, status: 415},
		{name: "deflate Content-Encoding", body: bomb, headers: map[string]string{"X-Gitlab-Event": "Note Hook", "X-Gitlab-Token": "tok-a", "Content-Encoding": "deflate"}, status: 415},
		{name: "gzip bomb without Content-Encoding", body: bomb, headers: good, status: 400},
		{name: "objects nested 100000 deep", body: []byte(strings.Repeat(`{"a":`, 100000) + "1" + strings.Repeat("}", 100000)), headers: good, status: 400},
		{name: "arrays nested 100000 deep", body: []byte(`{"a":` + strings.Repeat("[", 100000) + strings.Repeat("]", 100000) + "}"), headers: good, status: 400},
		{name: "unclosed nesting 100000 deep", body: []byte(strings.Repeat(`{"a":[`, 100000)), headers: good, status: 400},
		{name: "missing X-Gitlab-Event", body: note, headers: map[string]string{"X-Gitlab-Token": "tok-a"}, status: 400},
		{name: "unknown X-Gitlab-Event", body: note, headers: map[string]string{"X-Gitlab-Event": "Note Hook; DROP TABLE", "X-Gitlab-Token": "tok-a"}, status: 202},
		// Control bytes are not allowed in a header value (RFC 9110 5.5):
		// refused by the HTTP layer, with an answer that quotes nothing.
		{name: "control bytes in X-Gitlab-Event", body: note, raw: "X-Gitlab-Event: \xff\xfe\x01Note\x7f Hook\r\nX-Gitlab-Token: tok-a\r\n", status: 400},
		{name: "garbled X-Gitlab-Event bytes", body: note, raw: "X-Gitlab-Event: \xff\xfeNote\x80 Hook\r\nX-Gitlab-Token: tok-a\r\n", status: 202},
		{name: "X-Gitlab-Event of 12 KiB", body: note, raw: "X-Gitlab-Event: " + strings.Repeat("Note Hook ", 1200) + "\r\nX-Gitlab-Token: tok-a\r\n", status: 202},
		{name: "garbled event, bad token", body: note, raw: "X-Gitlab-Event: \xff\xfe\r\nX-Gitlab-Token: nope\r\n", status: 401},
		{name: "header over the buffer", body: note, raw: "X-Gitlab-Event: Note Hook\r\nX-Gitlab-Token: tok-a\r\nX-Big: " + strings.Repeat("a", 20<<10) + "\r\n", status: 431},
		{name: "many headers over the buffer", body: note, raw: "X-Gitlab-Event: Note Hook\r\nX-Gitlab-Token: tok-a\r\n" + strings.Repeat("X-Many: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n", 1000), status: 431},
		// Valid JSON objects with fields of unexpected types: accepted and
		// normalized, never refused (GitLab would disable the hook).
		{name: "project id as string", body: jsonSet(t, "5", "project", "id"), headers: good, status: 202, check: func(t *testing.T, d queue.Delivery) {
			if d.Envelope.Project.ID != 5 {
				t.Errorf("project id = %d, want 5 (normalized from \"5\")", d.Envelope.Project.ID)
			}
		}},
		{name: "project id not a number", body: jsonSet(t, "five", "project", "id"), headers: good, status: 202, check: func(t *testing.T, d queue.Delivery) {
			if d.Envelope.Project.ID != 5 || d.Envelope.Project.Path != "gitlab-org/gitlab-test" {
				t.Errorf("project = %+v, want id 5 (from the top-level project_id) and the path kept", d.Envelope.Project)
			}
		}},
		{name: "project id out of range", body: []byte(`{"object_kind":"note","project":{"id":1e999999,"path_with_namespace":"a/b"}}`), headers: good, status: 202, check: func(t *testing.T, d queue.Delivery) {
			if d.Envelope.Project.ID != 0 || d.Envelope.Project.Path != "a/b" {
				t.Errorf("project = %+v, want id 0 (unusable) and the path kept", d.Envelope.Project)
			}
		}},
		{name: "project path as a number", body: []byte(`{"object_kind":"note","project":{"id":7,"path_with_namespace":12}}`), headers: good, status: 202, check: func(t *testing.T, d queue.Delivery) {
			if d.Envelope.Project.ID != 7 || d.Envelope.Project.Path != "12" {
				t.Errorf("project = %+v, want id 7, path \"12\"", d.Envelope.Project)
			}
		}},
		{name: "note as a number", body: jsonSet(t, 42, "object_attributes", "note"), headers: good, status: 202, check: func(t *testing.T, d queue.Delivery) {
			if d.Envelope.Note != "42" || len(d.Envelope.Commands) != 0 {
				t.Errorf("note = %q, commands %v; want \"42\" (a number's JSON text) and no command", d.Envelope.Note, d.Envelope.Commands)
			}
		}},
		{name: "labels as a string", body: jsonSet(t, "bug", "merge_request", "labels"), headers: good, status: 202, check: func(t *testing.T, d queue.Delivery) {
			if d.Envelope.MergeRequest.Labels == nil {
				t.Error("labels nil")
			}
		}},
		{name: "invalid UTF-8 in the note", body: badUTF8, headers: good, status: 202, check: func(t *testing.T, d queue.Delivery) {
			if !strings.HasPrefix(d.Envelope.Note, "/work ") || !strings.HasSuffix(d.Envelope.Note, " ok") {
				t.Errorf("note = %q", d.Envelope.Note)
			}
			if d.Envelope.Command.Name != "work" {
				t.Errorf("command = %+v, want work", d.Envelope.Command)
			}
			// The payload is stored byte for byte; the envelope's strings
			// went through JSON, which turns invalid bytes into U+FFFD.
			if !bytes.Contains(d.Envelope.Payload, []byte("\xff\xfe")) {
				t.Errorf("payload lost its bytes: %q", d.Envelope.Payload)
			}
			if !utf8.ValidString(d.Envelope.Note) || !strings.Contains(d.Envelope.Note, "\ufffd") {
				t.Errorf("note %q: want valid UTF-8 with U+FFFD", d.Envelope.Note)
			}
		}},
	}
	stored := map[string]func(*testing.T, queue.Delivery){}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			var status int
			var answer map[string]any
			if tc.raw != "" {
				resp, body := rawExchange(t, addr, rawPost(tc.raw, tc.body))
				status = resp.StatusCode
				_ = json.Unmarshal(body, &answer)
			} else {
				req, _ := http.NewRequest("POST", g.URL+"/hooks/gitlab", bytes.NewReader(tc.body))
				req.Header.Set("Content-Type", "application/json")
				for k, v := range tc.headers {
					req.Header.Set(k, v)
				}
				resp, err := noKeepAlive.Do(req)
				if err != nil {
					t.Fatalf("post: %v", err)
				}
				raw, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				status = resp.StatusCode
				_ = json.Unmarshal(raw, &answer)
			}
			if status != tc.status {
				t.Fatalf("status = %d, want %d (answer %v)", status, tc.status, answer)
			}
			if took := time.Since(start); took > 3*time.Second {
				t.Errorf("answered after %v", took)
			}
			switch {
			case status >= 400:
				if msg, _ := answer["error"].(string); msg == "" {
					t.Errorf("want an {\"error\": ...} answer, got %v", answer)
				} else if strings.Contains(msg, "tok-a") || strings.Contains(msg, "\r\n") {
					t.Errorf("the answer quotes the request: %q", msg)
				}
			case tc.check != nil:
				id, _ := answer["id"].(string)
				if answer["status"] != "queued" || id == "" {
					t.Fatalf("answer %v, want queued", answer)
				}
				stored[id] = tc.check
			default:
				if answer["status"] != "ignored" || answer["reason"] == "" {
					t.Fatalf("answer %v, want ignored with a reason", answer)
				}
			}
			g.mustServe(t)
		})
	}

	// Over the limit: answered from the headers, before any of the body is
	// read (a client that sends it all anyway may see its connection reset
	// before it reads the 413, so this one waits, as curl does).
	t.Run("over the limit", func(t *testing.T) {
		req := fmt.Appendf(nil, "POST /hooks/gitlab HTTP/1.1\r\nHost: x\r\nX-Gitlab-Event: Note Hook\r\nX-Gitlab-Token: tok-a\r\nContent-Type: application/json\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n", 1<<20+1)
		resp, body := rawExchange(t, addr, req)
		if resp.StatusCode != 413 {
			t.Fatalf("status = %d (%s), want 413", resp.StatusCode, body)
		}
		g.mustServe(t)
	})

	// A Content-Length longer than the body: the server waits for the rest
	// until read_timeout, then gives up on the connection.
	t.Run("content-length longer than the body", func(t *testing.T) {
		req := fmt.Appendf(nil, "POST /hooks/gitlab HTTP/1.1\r\nHost: x\r\nX-Gitlab-Event: Note Hook\r\nX-Gitlab-Token: tok-a\r\nContent-Length: %d\r\n\r\n%s", len(note)+100, note)
		if took := heldFor(t, addr, req, 0); took > 3*time.Second {
			t.Errorf("connection held %v, read_timeout is 1s", took)
		}
		g.mustServe(t)
	})

	// The stored ones are exactly the accepted ones, processed end to end,
	// and the admin API encodes each of them.
	var list struct{ Deliveries []queue.Delivery }
	if code := g.admin(t, "GET", "/deliveries?limit=100", "admin-tok", &list); code != 200 {
		t.Fatalf("list: %d", code)
	}
	if len(list.Deliveries) != len(stored) {
		t.Errorf("%d deliveries stored, want %d", len(list.Deliveries), len(stored))
	}
	for id, check := range stored {
		d := g.waitFinal(t, id)
		if d.Status != queue.StatusDone {
			t.Errorf("%s: %s %s", id, d.Status, d.Error)
		}
		check(t, d)
	}
}

// mustServe checks the gateway still answers: a health check, and a
// delivery with a wrong token (refused after the body is parsed, so the
// whole receiver runs and nothing is stored).
func (g *testGateway) mustServe(t *testing.T) {
	t.Helper()
	resp, err := noKeepAlive.Get(g.URL + "/healthz")
	if err != nil {
		t.Fatalf("not serving: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("healthz = %d", resp.StatusCode)
	}
	req, _ := http.NewRequest("POST", g.URL+"/hooks/gitlab", bytes.NewReader(fixture(t, "note_merge_request.json")))
	req.Header.Set("X-Gitlab-Event", "Note Hook")
	req.Header.Set("X-Gitlab-Token", "wrong")
	resp, err = noKeepAlive.Do(req)
	if err != nil {
		t.Fatalf("not serving: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("wrong token = %d, want 401", resp.StatusCode)
	}
}

// heldFor writes req on a new connection, then one more byte every
// trickle (never, when 0), and returns how long the server kept the
// connection open.
func heldFor(t *testing.T, addr string, req []byte, trickle time.Duration) time.Duration {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	if _, err := conn.Write(req); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	defer close(stop)
	if trickle > 0 {
		go func() {
			tick := time.NewTicker(trickle)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
					if _, err := conn.Write([]byte("a")); err != nil {
						return
					}
				}
			}
		}()
	}
	conn.SetReadDeadline(time.Now().Add(15 * time.Second))
	_, err = io.Copy(io.Discard, conn) // until the server closes it
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("server kept the connection open for 15s")
	}
	return time.Since(start)
}

// TestSlowClients: a client trickling a byte per second, in the headers
// or in the body, is cut off after read_timeout while other clients are
// served normally.
func TestSlowClients(t *testing.T) {
	g := startGateway(t, badInputConfig, nil)
	addr := strings.TrimPrefix(g.URL, "http://")
	note := fixture(t, "note_merge_request.json")
	cases := []struct {
		name string
		req  []byte
	}{
		{"headers", []byte("POST /hooks/gitlab HTTP/1.1\r\nHost: x\r\nX-Gitlab-Event: Note Hook\r\nX-")},
		{"body", fmt.Appendf(nil, "POST /hooks/gitlab HTTP/1.1\r\nHost: x\r\nX-Gitlab-Event: Note Hook\r\nX-Gitlab-Token: tok-a\r\nContent-Length: %d\r\n\r\n%s", len(note)+1000, note)},
		{"request line", []byte("P")},
	}
	const conns = 20 // per case
	held := make(chan time.Duration, len(cases)*conns)
	for _, c := range cases {
		for range conns {
			go func() { held <- heldFor(t, addr, c.req, time.Second) }()
		}
	}
	// Meanwhile, others are served.
	for i := range 5 {
		start := time.Now()
		g.mustServe(t)
		if took := time.Since(start); took > time.Second {
			t.Errorf("request %d beside the slow clients took %v", i, took)
		}
		time.Sleep(200 * time.Millisecond)
	}
	var longest time.Duration
	for range len(cases) * conns {
		longest = max(longest, <-held)
	}
	if longest > 3*time.Second {
		t.Errorf("a slow client was held %v; read_timeout is 1s", longest)
	}
	t.Logf("%d slow clients cut after at most %v", len(cases)*conns, longest.Round(time.Millisecond))
	var list struct{ Deliveries []queue.Delivery }
	g.admin(t, "GET", "/deliveries", "admin-tok", &list)
	if len(list.Deliveries) != 0 {
		t.Errorf("%d deliveries stored from slow clients", len(list.Deliveries))
	}
}

// TestIdleConnections: thousands of connections that never send a byte do
// not stop the gateway from serving others, and are closed after
// read_timeout.
func TestIdleConnections(t *testing.T) {
	const n = 2000
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Skipf("getrlimit: %v", err)
	}
	need := uint64(2*n + 512) // both ends live in this process
	if lim.Cur < need {
		lim.Cur = min(need, lim.Max)
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
		_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
	if lim.Cur < need {
		t.Skipf("open file limit %d (hard %d) is below the %d this test needs", lim.Cur, lim.Max, need)
	}
	g := startGateway(t, badInputConfig, nil)
	addr := strings.TrimPrefix(g.URL, "http://")
	idle := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range idle {
			c.Close()
		}
	}()
	for range n {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatalf("after %d connections: %v", len(idle), err)
		}
		idle = append(idle, c)
	}
	start := time.Now()
	r := g.post(t, fixture(t, "note_merge_request.json"), map[string]string{"X-Gitlab-Event": "Note Hook", "X-Gitlab-Token": "tok-a"})
	if r.Status != 202 {
		t.Fatalf("delivery beside %d idle connections: %d %v", n, r.Status, r.Body)
	}
	answered := time.Since(start)
	if answered > 2*time.Second {
		t.Errorf("delivery beside %d idle connections took %v", n, answered)
	}
	g.waitFinal(t, r.Body["id"].(string))

	// The server closes them: reading each ends (EOF or a reset), maybe
	// after an error answer.
	deadline := time.Now().Add(10 * time.Second)
	closed := 0
	for _, c := range idle {
		c.SetReadDeadline(deadline)
		_, err := io.Copy(io.Discard, c)
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			continue
		}
		closed++
	}
	if closed != n {
		t.Errorf("%d of %d idle connections closed by the server within 10s", closed, n)
	}
	t.Logf("%d idle connections: a delivery beside them answered in %v; %d closed by the server within %v",
		n, answered.Round(time.Millisecond), closed, time.Since(start).Round(time.Millisecond))
}
