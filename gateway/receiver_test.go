package gateway_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway"
	"github.com/hookgate/hookgate/gateway/auth"
	"github.com/hookgate/hookgate/gateway/config"
	"github.com/hookgate/hookgate/gateway/queue"
	"github.com/hookgate/hookgate/gateway/queue/local"
)

const signingKey = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

const receiverConfig = `
[server]
listen = "127.0.0.1:0"
max_body_bytes = "64KiB"

[queue]
path = "data/hookgate.db"

[[secret]]
project = "gitlab-org/gitlab-test"
token = "tok-a"

[[secret]]
project = "gitlab-org/gitlab-test"
token = "tok-b"

[[secret]]
project = "other/*"
token = "tok-other"

[[secret]]
project = "signed/*"
signing_key = "` + signingKey + `"

[admin]
token = "admin-tok"
`

const starConfig = `
[queue]
path = "data/hookgate.db"
[[secret]]
project = "*"
token = "tok-a"
[admin]
token = "admin-tok"
`

// withProject returns the note fixture moved to another project path.
func withProject(t *testing.T, path string) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(fixture(t, "note_merge_request.json"), &m); err != nil {
		t.Fatal(err)
	}
	m["project"].(map[string]any)["path_with_namespace"] = path
	b, _ := json.Marshal(m)
	return b
}

func TestReceiverAnswers(t *testing.T) {
	g := startGateway(t, receiverConfig, nil)
	note := fixture(t, "note_merge_request.json")
	signed := withProject(t, "signed/repo")
	now := time.Now()
	sign := func(id string, ts time.Time, body []byte) map[string]string {
		return map[string]string{
			"X-Gitlab-Event":    "Note Hook",
			"webhook-id":        id,
			"webhook-timestamp": fmt.Sprint(ts.Unix()),
			"webhook-signature": auth.Sign(signingKey, id, ts, body),
		}
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(note)
	zw.Close()

	cases := []struct {
		name    string
		body    []byte
		headers map[string]string
		status  int
		answer  string // "status" field, or "" for an error answer
	}{
		{"stored", note, map[string]string{"X-Gitlab-Event": "Note Hook", "X-Gitlab-Token": "tok-a"}, 202, "queued"},
		{"rotation: second token", note, map[string]string{"X-Gitlab-Event": "Note Hook", "X-Gitlab-Token": "tok-b"}, 202, "queued"},
		{"wrong token", note, map[string]string{"X-Gitlab-Event": "Note Hook", "X-Gitlab-Token": "nope"}, 401, ""},
		{"missing token", note, map[string]string{"X-Gitlab-Event": "Note Hook"}, 401, ""},
		{"token of another project", note, map[string]string{"X-Gitlab-Event": "Note Hook", "X-Gitlab-Token": "tok-other"}, 401, ""},
		{"project without any secret", withProject(t, "nobody/else"), map[string]string{"X-Gitlab-Event": "Note Hook", "X-Gitlab-Token": "tok-a"}, 401, ""},
		{"valid signature", signed, sign("msg_1", now, signed), 202, "queued"},
		{"signature over another body", signed, sign("msg_2", now, note), 401, ""},
		{"stale timestamp", signed, sign("msg_3", now.Add(-6*time.Minute), signed), 401, ""},
		{"future timestamp", signed, sign("msg_4", now.Add(6*time.Minute), signed), 401, ""},
		{"no signature where one is required", signed, map[string]string{"X-Gitlab-Event": "Note Hook"}, 401, ""},
		{"malformed JSON", []byte(`{"object_kind": "note",`), map[string]string{"X-Gitlab-Event": "Note Hook", "X-Gitlab-Token": "tok-a"}, 400, ""},
		{"JSON array", []byte(`[1,2]`), map[string]string{"X-Gitlab-Event": "Note Hook", "X-Gitlab-Token": "tok-a"}, 400, ""},
		{"empty body", nil, map[string]string{"X-Gitlab-Event": "Note Hook", "X-Gitlab-Token": "tok-a"}, 400, ""},
		{"no event header", note, map[string]string{"X-Gitlab-Token": "tok-a"}, 400, ""},
		{"over the body limit", bytes.Repeat([]byte(" "), 70*1024), map[string]string{"X-Gitlab-Event": "Note Hook", "X-Gitlab-Token": "tok-a"}, 413, ""},
		{"gzip content-encoding refused", gz.Bytes(), map[string]string{"X-Gitlab-Event": "Note Hook", "X-Gitlab-Token": "tok-a", "Content-Encoding": "gzip"}, 415, ""},
		{"unknown event type", note, map[string]string{"X-Gitlab-Event": "Frobnicate Hook", "X-Gitlab-Token": "tok-a"}, 202, "ignored"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.status == 413 {
				// fiber answers from the headers, before the handler (the
				// body is not ours), and closes: send the headers alone, or
				// the close may reset the connection before the answer is read.
				if status := headersOnlyPost(t, g.URL, len(tc.body), tc.headers); status != tc.status {
					t.Fatalf("status = %d, want %d", status, tc.status)
				}
				return
			}
			r := g.post(t, tc.body, tc.headers)
			if r.Status != tc.status {
				t.Fatalf("status = %d, want %d (body %v)", r.Status, tc.status, r.Body)
			}
			if tc.answer == "" {
				if msg, _ := r.Body["error"].(string); msg == "" {
					t.Fatalf("want an {\"error\": ...} body, got %v", r.Body)
				}
				return
			}
			if r.Body["status"] != tc.answer {
				t.Fatalf("answer = %v, want status %q", r.Body, tc.answer)
			}
			if tc.answer == "queued" {
				id, _ := r.Body["id"].(string)
				var d queue.Delivery
				if code := g.admin(t, "GET", "/deliveries/"+id, "admin-tok", &d); code != 200 {
					t.Fatalf("stored delivery %q not found: %d", id, code)
				}
				if d.Envelope.Project.Path == "" || d.Envelope.Kind != "note" {
					t.Fatalf("stored envelope incomplete: %+v", d.Envelope)
				}
				for k := range d.Headers {
					if strings.EqualFold(k, "X-Gitlab-Token") || strings.EqualFold(k, "webhook-signature") {
						t.Fatalf("credential header %q stored", k)
					}
				}
			}
			if tc.answer == "ignored" && r.Body["reason"] == "" {
				t.Fatal("ignored without a reason")
			}
		})
	}

	// Nothing refused above was stored: only the four accepted deliveries.
	var list struct{ Deliveries []queue.Delivery }
	g.admin(t, "GET", "/deliveries?limit=100", "admin-tok", &list)
	if len(list.Deliveries) != 3 {
		t.Fatalf("stored %d deliveries, want 3 (two tokens, one signature)", len(list.Deliveries))
	}
}

func TestReceiverDeduplicates(t *testing.T) {
	g := startGateway(t, receiverConfig, nil)
	note := fixture(t, "note_merge_request.json")
	h := map[string]string{"X-Gitlab-Event": "Note Hook", "X-Gitlab-Token": "tok-a", "Idempotency-Key": "same-key"}
	first := g.post(t, note, h)
	if first.Status != 202 {
		t.Fatalf("first: %d %v", first.Status, first.Body)
	}
	second := g.post(t, note, h)
	if second.Status != 200 || second.Body["status"] != "duplicate" || second.Body["id"] != first.Body["id"] {
		t.Fatalf("second: %d %v, want 200 duplicate of %v", second.Status, second.Body, first.Body["id"])
	}
	// webhook-id is the same key under the signing scheme.
	h2 := map[string]string{"X-Gitlab-Event": "Note Hook", "X-Gitlab-Token": "tok-a", "webhook-id": "same-key"}
	if third := g.post(t, note, h2); third.Status != 200 || third.Body["id"] != first.Body["id"] {
		t.Fatalf("webhook-id: %d %v", third.Status, third.Body)
	}
	var list struct{ Deliveries []queue.Delivery }
	g.admin(t, "GET", "/deliveries", "admin-tok", &list)
	if len(list.Deliveries) != 1 {
		t.Fatalf("stored %d deliveries, want 1", len(list.Deliveries))
	}
}

func TestReceiverIgnoresKindsNoRuleWants(t *testing.T) {
	g := startGateway(t, starConfig, map[string]string{
		"rules/notes.toml":   "[[rule]]\nname = \"notes\"\non = [\"note\"]\nplugin = \"record\"\n",
		"plugins/record.lua": recordPlugin,
	})
	r := g.post(t, fixture(t, "push.json"), map[string]string{"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": "tok-a"})
	if r.Status != 202 || r.Body["status"] != "ignored" {
		t.Fatalf("push with only note rules: %d %v, want 202 ignored", r.Status, r.Body)
	}
	if r := g.post(t, fixture(t, "note_merge_request.json"), map[string]string{"X-Gitlab-Event": "Note Hook", "X-Gitlab-Token": "tok-a"}); r.Status != 202 || r.Body["status"] != "queued" {
		t.Fatalf("note: %d %v", r.Status, r.Body)
	}
}

// storeAndVerifier opens a local store and a verifier taking the token
// "tok" for every project, for tests that build a receiver themselves.
func storeAndVerifier(t *testing.T) (*local.Store, *auth.Verifier) {
	t.Helper()
	store, err := local.Open(filepath.Join(t.TempDir(), "q.db"), local.Options{})
	if err != nil {
		t.Fatal(err)
	}
	v, err := auth.New([]config.WebhookSecret{{Project: "*", Token: config.NewSecret("tok")}})
	if err != nil {
		t.Fatal(err)
	}
	return store, v
}

func TestReceiverHealthAndUnavailableQueue(t *testing.T) {
	store, v := storeAndVerifier(t)
	app := gateway.NewReceiver(gateway.ReceiverOptions{Queue: store, Verifier: v, MaxBodyBytes: 1 << 20})
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go app.Listener(ln)
	defer app.Shutdown()
	url := "http://" + ln.Addr().String()
	get := func(path string) int {
		resp, err := http.Get(url + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if get("/healthz") != 200 || get("/readyz") != 200 {
		t.Fatal("healthz/readyz not 200 with an open queue")
	}
	store.Close()
	if code := get("/readyz"); code != 503 {
		t.Fatalf("readyz with a closed queue = %d, want 503", code)
	}
	if code := get("/healthz"); code != 200 {
		t.Fatalf("healthz = %d, want 200 (process is up)", code)
	}
	req, _ := http.NewRequest("POST", url+"/hooks/gitlab", bytes.NewReader(fixture(t, "note_merge_request.json")))
	req.Header.Set("X-Gitlab-Event", "Note Hook")
	req.Header.Set("X-Gitlab-Token", "tok")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 {
		t.Fatalf("enqueue on a closed queue = %d, want 503", resp.StatusCode)
	}
}

// The receiver hands the queue an envelope whose payload is the request's
// body, which the server reuses for the next request on the connection:
// what is stored must still be each body as sent (the queue encodes it
// before Enqueue returns). Bodies of different sizes, concurrently, over
// keep-alive connections.
func TestStoredPayloadIsTheBodySent(t *testing.T) {
	store, v := storeAndVerifier(t)
	defer store.Close()
	app := gateway.NewReceiver(gateway.ReceiverOptions{Queue: store, Verifier: v, MaxBodyBytes: 1 << 20})
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go app.Listener(ln)
	defer app.Shutdown()
	url := "http://" + ln.Addr().String() + "/hooks/gitlab"
	var mu sync.Mutex
	sent := map[string][]byte{} // delivery id -> body
	var wg sync.WaitGroup
	bodyWith := noteBodies(t)
	for c := range 4 {
		wg.Go(func() {
			client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1}}
			for i := range 25 {
				body := bodyWith(fmt.Sprintf("/retest %d-%d %s", c, i, strings.Repeat("x", (c*25+i)*37)))
				req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
				req.Header.Set("X-Gitlab-Event", "Note Hook")
				req.Header.Set("X-Gitlab-Token", "tok")
				resp, err := client.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				var answer struct{ ID string }
				err = json.NewDecoder(resp.Body).Decode(&answer)
				resp.Body.Close()
				if err != nil || resp.StatusCode != 202 {
					t.Errorf("status %d, %v", resp.StatusCode, err)
					return
				}
				mu.Lock()
				sent[answer.ID] = body
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for id, body := range sent {
		d, err := store.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(d.Envelope.Payload, body) {
			t.Errorf("delivery %s: stored payload differs from the body sent (%d bytes stored, %d sent)", id, len(d.Envelope.Payload), len(body))
		}
	}
	if len(sent) != 100 {
		t.Errorf("%d deliveries stored, want 100", len(sent))
	}
}
