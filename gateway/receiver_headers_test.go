package gateway

import (
	"maps"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// One pass over the headers finds what fiber's Get would: names in any
// case, the first of repeated headers, empty values as absent.
func TestHeadersRead(t *testing.T) {
	var req fasthttp.Request
	req.Header.DisableNormalizing() // keep the names as sent
	for _, kv := range [][2]string{
		{"x-gitlab-event", "Note Hook"},
		{"X-GITLAB-TOKEN", "tok"},
		{"X-Gitlab-Token", "second"},
		{"Webhook-Id", ""},
		{"webhook-id", "msg_1"},
		{"webhook-timestamp", "1700000000"},
		{"Webhook-Signature", "v1,abc"},
		{"X-Gitlab-Instance", "https://gitlab.example.com"},
		{"X-Gitlab-Event-UUID", "evt"},
		{"x-gitlab-webhook-uuid", "hook"},
		{"Idempotency-Key", "key-1"},
		{"Content-Encoding", "identity"},
		{"X-Other", "ignored"},
	} {
		req.Header.Add(kv[0], kv[1])
	}
	req.Header.SetUserAgent("GitLab/18.0")
	var in headers
	in.read(&req.Header)
	if in.token != "tok" || in.signature != "v1,abc" || in.contentEncoding != "identity" {
		t.Errorf("token %q signature %q encoding %q", in.token, in.signature, in.contentEncoding)
	}
	want := map[string]string{
		"X-Gitlab-Event": "Note Hook", "X-Gitlab-Instance": "https://gitlab.example.com",
		"X-Gitlab-Event-UUID": "evt", "X-Gitlab-Webhook-UUID": "hook", "Idempotency-Key": "key-1",
		"webhook-id": "msg_1", "webhook-timestamp": "1700000000", "User-Agent": "GitLab/18.0",
	}
	got := in.keep()
	if !maps.Equal(got, want) {
		t.Errorf("kept %v\nwant %v", got, want)
	}
	// The kept values are copies: the request's memory may be reused.
	req.Reset()
	if !maps.Equal(got, want) {
		t.Errorf("kept values changed with the request: %v", got)
	}
	var none headers
	none.read(&fasthttp.RequestHeader{})
	if m := none.keep(); len(m) != 0 || none.token != "" {
		t.Errorf("no headers: %v, token %q", m, none.token)
	}
}

// Requests within a window share a context; it ends within the timeout.
func TestSharedDeadline(t *testing.T) {
	d := sharedDeadline{timeout: time.Hour}
	a, b := d.context(), d.context()
	if a != b {
		t.Error("two requests at once got two contexts")
	}
	dl, ok := a.Deadline()
	if !ok || time.Until(dl) > time.Hour || time.Until(dl) < time.Hour-deadlineWindow {
		t.Errorf("deadline in %v, want within the hour and past %v", time.Until(dl), time.Hour-deadlineWindow)
	}
	d.cur.Load().reuseUntil = time.Now().Add(-time.Second) // the window is over
	if c := d.context(); c == a {
		t.Error("a context was reused after its window")
	}
	short := sharedDeadline{timeout: time.Millisecond}
	select {
	case <-short.context().Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the shared context never ended")
	}
}
