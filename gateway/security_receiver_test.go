package gateway_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Regression tests for the security review's breaks 3 and 7: nothing an
// unauthenticated client sends costs more than its bytes, and ambiguous
// HTTP framing is refused.

const budgetConfig = `
[queue]
path = "data/hookgate.db"
[[secret]]
project = "gitlab-org/gitlab-test"
token = "tok-a"
[admin]
token = "admin-tok"
`

// degenerate is a JSON object of about size bytes made of one value
// repeated: each costs the envelope's parser a node.
func degenerate(item string, size int) []byte {
	var b bytes.Buffer
	b.Grow(size + 16)
	b.WriteString(`{"x":[`)
	for b.Len() < size {
		b.WriteString(item)
		b.WriteByte(',')
	}
	b.WriteString(item + `]}`)
	return b.Bytes()
}

// allocatedBy returns the bytes the process allocated while f ran (Go's
// cumulative heap allocation counter: a parse tree built and dropped
// counts in full).
func allocatedBy(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// Break 3: a 20 MB body of `[0,0,...]` with a wrong token cost 1.5-2 GB and
// 16 s of CPU: the body was parsed into a tree before the token was
// checked. Now the project is located by a scan and the delivery refused
// before anything is built; an authenticated one is refused by the value
// budget.
func TestUnauthenticatedBodyCostsOnlyItsBytes(t *testing.T) {
	g := startGateway(t, budgetConfig, nil)
	const size = 20 << 20
	for _, c := range []struct {
		name, item, token string
		status            int
		maxAlloc          uint64
	}{
		{"zeros, wrong token", "0", "nope", 401, 64 << 20},
		{"empty arrays, wrong token", "[]", "nope", 401, 64 << 20},
		{"empty objects, no token", "{}", "", 401, 64 << 20},
		{"nested arrays, wrong token", "[[[[[[[[[[[[[[[[0]]]]]]]]]]]]]]]]", "nope", 401, 64 << 20},
		// Authenticated (the secret holder is trusted with its project,
		// not with the gateway's memory): refused by the value budget.
		{"zeros, right token", "0", "tok-a", 400, 256 << 20},
	} {
		t.Run(c.name, func(t *testing.T) {
			body := degenerate(c.item, size)
			// The body names the project the secret is for, at its end.
			body = append(body[:len(body)-1], []byte(`,"project":{"path_with_namespace":"gitlab-org/gitlab-test"}}`)...)
			h := map[string]string{"X-Gitlab-Event": "Note Hook"}
			if c.token != "" {
				h["X-Gitlab-Token"] = c.token
			}
			var r hookResp
			start := time.Now()
			alloc := allocatedBy(func() { r = g.postRaw(t, body, h) })
			took := time.Since(start)
			if r.Status != c.status {
				t.Fatalf("status %d %v, want %d", r.Status, r.Body, c.status)
			}
			t.Logf("%d MiB body: %d, %d MiB allocated, %v", len(body)>>20, r.Status, alloc>>20, took.Round(time.Millisecond))
			if alloc > c.maxAlloc {
				t.Fatalf("a %d MiB body cost %d MiB of allocations, want under %d MiB", len(body)>>20, alloc>>20, c.maxAlloc>>20)
			}
		})
	}
	// A project path of megabytes is refused before it is copied, verified
	// or logged.
	t.Run("huge path, wrong token", func(t *testing.T) {
		body := []byte(`{"project":{"path_with_namespace":"` + strings.Repeat("a", 20<<20) + `"}}`)
		var r hookResp
		alloc := allocatedBy(func() {
			r = g.postRaw(t, body, map[string]string{"X-Gitlab-Event": "Note Hook", "X-Gitlab-Token": "nope"})
		})
		if r.Status != 400 || !strings.Contains(fmt.Sprint(r.Body["error"]), "longer than 4096 bytes") {
			t.Fatalf("status %d %v, want 400 for the path's length", r.Status, r.Body)
		}
		if alloc > 64<<20 {
			t.Fatalf("a 20 MiB path cost %d MiB of allocations", alloc>>20)
		}
	})
	g.mustServe(t)
}

// stall opens a connection that sends the headers of a delivery declaring
// declared bytes, then sent bytes of its body, then nothing: it holds
// whatever the receiver reserved for it until it is closed.
func stall(t *testing.T, g *testGateway, declared, sent int) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(g.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	fmt.Fprintf(c, "POST /hooks/gitlab HTTP/1.1\r\nHost: x\r\nX-Gitlab-Event: Note Hook\r\nX-Gitlab-Token: tok-a\r\nContent-Length: %d\r\n\r\n", declared)
	c.Write(bytes.Repeat([]byte(" "), sent))
	return c
}

// inflightBytes is the receiver's hookgate_inflight_body_bytes.
func inflightBytes(t *testing.T, g *testGateway) float64 {
	return scrapeMetrics(t, g.URL).get("hookgate_inflight_body_bytes")
}

// The attacker review's slow bodies: clients that declare the largest body
// and send a few KiB used to reserve what they declared, so four of them
// made every delivery a 503 for as long as they kept reconnecting. Now a
// body holds only the buffer its bytes fill.
func TestSlowBodiesHoldOnlyWhatTheySent(t *testing.T) {
	g := startGateway(t, budgetConfig, nil)
	for range 8 {
		stall(t, g, 25<<20, 9000)
	}
	note := fixture(t, "note_merge_request.json")
	for i := range 20 {
		if r := g.post(t, note, map[string]string{"X-Gitlab-Event": "Note Hook", "X-Gitlab-Token": "tok-a", "Idempotency-Key": fmt.Sprint("k", i)}); r.Status != 202 {
			t.Fatalf("delivery %d beside 8 stalled 25 MiB bodies: %d %v", i, r.Status, r.Body)
		}
	}
	if held := inflightBytes(t, g); held > 8*64<<10 {
		t.Fatalf("8 stalled bodies hold %v bytes, want at most 64 KiB each", held)
	}
}

// The bytes held at once are bounded: bodies that really arrive fill the
// budget, then a large body is answered 503 (with Retry-After) while
// ordinary ones still fit in the margin kept for them; the budget is given
// back when the bodies are done.
func TestInflightBodyBudget(t *testing.T) {
	g := startGateway(t, `
[server]
max_body_bytes = "1MiB"
max_inflight_bytes = "2MiB"
read_timeout = "5s"
[queue]
path = "data/hookgate.db"
[[secret]]
project = "*"
token = "tok-a"
[admin]
token = "admin-tok"
`, nil)
	// Two clients send all but one byte of 1 MiB bodies: they hold 2 MiB.
	slow := []net.Conn{stall(t, g, 1<<20, 1<<20-1), stall(t, g, 1<<20, 1<<20-1)}
	waitFor(t, 5*time.Second, func() bool { return inflightBytes(t, g) >= 2<<20 })

	// A third large body is refused once it needs more than the budget.
	c := stall(t, g, 1<<20, 0)
	c.SetDeadline(time.Now().Add(5 * time.Second))
	go c.Write(bytes.Repeat([]byte(" "), 512<<10)) // it may be cut off by the answer
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("a third large body: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "1" || !resp.Close {
		t.Fatalf("a third large body: %d, Retry-After %q, close %v; want 503, 1, closed", resp.StatusCode, resp.Header.Get("Retry-After"), resp.Close)
	}
	// Ordinary deliveries still fit.
	note := fixture(t, "note_merge_request.json")
	if r := g.post(t, note, map[string]string{"X-Gitlab-Event": "Note Hook", "X-Gitlab-Token": "tok-a"}); r.Status != 202 {
		t.Fatalf("an ordinary delivery beside the held bytes: %d %v", r.Status, r.Body)
	}
	// Expect: 100-continue is answered from the headers.
	if status := headersOnlyPost(t, g.URL, 1<<20, map[string]string{"X-Gitlab-Event": "Note Hook", "X-Gitlab-Token": "tok-a"}); status != 503 {
		t.Fatalf("Expect: 100-continue while the budget is full: %d, want 503", status)
	}
	for _, c := range slow {
		c.Close()
	}
	big := append(bytes.Repeat([]byte(" "), 1<<20-len(note)), note...)
	waitFor(t, 5*time.Second, func() bool {
		r := g.post(t, big, map[string]string{"X-Gitlab-Event": "Note Hook", "X-Gitlab-Token": "tok-a", "Idempotency-Key": "big"})
		return r.Status == 202 || r.Status == 200
	})
	// Every reservation is given back.
	waitFor(t, 5*time.Second, func() bool { return inflightBytes(t, g) == 0 })
}

// Break 7: request framing a proxy could read differently is refused, and
// the connection closed, so a request hidden in the body is never
// answered.
func TestAmbiguousFramingRefused(t *testing.T) {
	g := startGateway(t, budgetConfig, nil)
	addr := strings.TrimPrefix(g.URL, "http://")
	hidden := "POST /hooks/gitlab HTTP/1.1\r\nHost: x\r\nX-Gitlab-Event: Note Hook\r\nX-Gitlab-Token: tok-a\r\nContent-Length: 2\r\n\r\n{}"
	for _, c := range []struct{ name, headers, body string }{
		{"TE chunked with CL", "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", "0\r\n\r\n" + hidden},
		{"TE xchunked with CL", "Transfer-Encoding: xchunked\r\nContent-Length: 5\r\n", "0\r\n\r\n" + hidden},
		{"TE chunkedx with CL", "Transfer-Encoding: chunkedx\r\nContent-Length: 5\r\n", "0\r\n\r\n" + hidden},
		{"TE list ending in chunked", "Transfer-Encoding: foo, chunked\r\nContent-Length: 5\r\n", "0\r\n\r\n" + hidden},
		{"TE twice", "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n" + hidden},
		{"conflicting CLs", "Content-Length: 2\r\nContent-Length: 7\r\n", "{}" + hidden},
		{"CL list", "Content-Length: 2, 2\r\n", "{}" + hidden},
		// fasthttp reads TE identity without a length as no body: what
		// follows would be read as the next request.
		{"TE identity", "Transfer-Encoding: identity\r\n", hidden},
		{"TE identity with CL", "Transfer-Encoding: identity\r\nContent-Length: 2\r\n", "{}" + hidden},
	} {
		t.Run(c.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(5 * time.Second))
			fmt.Fprintf(conn, "POST /hooks/gitlab HTTP/1.1\r\nHost: x\r\nX-Gitlab-Event: Note Hook\r\nX-Gitlab-Token: tok-a\r\n%s\r\n%s", c.headers, c.body)
			br := bufio.NewReader(conn)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("no answer: %v", err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 400 || !resp.Close {
				t.Fatalf("answered %d (close %v), want 400 and the connection closed", resp.StatusCode, resp.Close)
			}
			if next, err := http.ReadResponse(br, nil); err == nil {
				t.Fatalf("the request hidden in the body was answered %d", next.StatusCode)
			}
		})
	}
	// Every route, not only the hooks.
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\n\r\nGET /readyz HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(conn)
	if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != 400 || !resp.Close {
		t.Fatalf("GET /healthz with TE identity: %v %v, want 400 and closed", resp, err)
	}
	if _, err := http.ReadResponse(br, nil); err == nil {
		t.Fatal("the request behind it was answered")
	}
	g.mustServe(t)
}

// Break 7: an Idempotency-Key over 1 KiB was a 503 (the store refused it);
// it is the sender's mistake: 400.
func TestOversizeIdempotencyKey(t *testing.T) {
	g := startGateway(t, budgetConfig, nil)
	note := fixture(t, "note_merge_request.json")
	for _, h := range []string{"Idempotency-Key", "webhook-id"} {
		r := g.post(t, note, map[string]string{"X-Gitlab-Event": "Note Hook", "X-Gitlab-Token": "tok-a", h: strings.Repeat("k", 1025)})
		if r.Status != 400 {
			t.Errorf("%s of 1025 bytes: %d %v, want 400", h, r.Status, r.Body)
		}
	}
	if r := g.post(t, note, map[string]string{"X-Gitlab-Event": "Note Hook", "X-Gitlab-Token": "tok-a", "Idempotency-Key": strings.Repeat("k", 1024)}); r.Status != 202 {
		t.Errorf("Idempotency-Key of 1024 bytes: %d %v, want 202", r.Status, r.Body)
	}
}

// Connections cost buffers whatever they send: past [server]
// max_connections a new one is answered 503 and closed, and served again
// once others are gone.
func TestConnectionCap(t *testing.T) {
	g := startGateway(t, `
[server]
max_connections = 4
[queue]
path = "data/hookgate.db"
[[secret]]
project = "*"
token = "tok-a"
`, nil)
	var held []net.Conn
	for range 4 {
		c, err := net.Dial("tcp", strings.TrimPrefix(g.URL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.Write([]byte("POST /hooks/gitlab HTTP/1.1\r\nHost: x\r\n")) // headers never end
		held = append(held, c)
	}
	time.Sleep(200 * time.Millisecond) // let the server take them
	resp, err := noKeepAlive.Get(g.URL + "/healthz")
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode != 503 {
			t.Fatalf("a fifth connection: %d, want 503", resp.StatusCode)
		}
	}
	for _, c := range held {
		c.Close()
	}
	waitFor(t, 5*time.Second, func() bool {
		resp, err := noKeepAlive.Get(g.URL + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
}
