package gateway_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/hookgate/hookgate/gateway"
	"github.com/hookgate/hookgate/gateway/auth"
	"github.com/hookgate/hookgate/gateway/config"
	"github.com/hookgate/hookgate/gateway/queue"
)

// memQueue is an Enqueuer without I/O: it only checks idempotency keys, as
// the store's dedupe lookup does before anything is written (with keys nil,
// not even that: every delivery is new).
type memQueue struct {
	mu   sync.Mutex
	keys map[string]string
	n    int
}

func (q *memQueue) Enqueue(_ context.Context, d *queue.Delivery) (queue.Receipt, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if id, ok := q.keys[d.Key]; ok && d.Key != "" {
		return queue.Receipt{ID: id, Duplicate: true}, nil
	}
	q.n++
	id := "mem-" + strconv.Itoa(q.n)
	if d.Key != "" && q.keys != nil {
		q.keys[d.Key] = id
	}
	return queue.Receipt{ID: id}, nil
}

func (q *memQueue) Ping(context.Context) error { return nil }

// BenchmarkReceiver is the receiver's CPU per delivery without I/O: the
// fiber handler (headers, verify, normalize, dedupe check, JSON answer) run
// on a fasthttp request context, with a 4 KB Note Hook, a new
// Idempotency-Key each time and an in-memory queue. Target: <= 15 µs per
// delivery (docs/performance.md).
func BenchmarkReceiver(b *testing.B) {
	body, err := os.ReadFile(filepath.Join("..", "examples", "packit", "events", "note_build.json"))
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	const signingKey = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	for _, bc := range []struct {
		name    string
		secret  config.WebhookSecret
		headers map[string]string
	}{
		{"token", config.WebhookSecret{Project: "*", Token: config.NewSecret("s3cret")},
			map[string]string{"X-Gitlab-Token": "s3cret"}},
		{"signature", config.WebhookSecret{Project: "*", SigningKey: config.NewSecret(signingKey)},
			signedHeaders(b, signingKey, "msg-1", now, body)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			v, err := auth.New([]config.WebhookSecret{bc.secret})
			if err != nil {
				b.Fatal(err)
			}
			// A signed delivery's key is its signed webhook-id, the same
			// here at every request: the queue must not dedupe, or
			// each run after the first would be a duplicate.
			app := gateway.NewReceiver(gateway.ReceiverOptions{
				Queue: &memQueue{}, Verifier: v, MaxBodyBytes: 25 << 20,
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: func() time.Time { return now },
			})
			handler := app.Handler()
			var req fasthttp.Request
			req.Header.SetMethod(fasthttp.MethodPost)
			req.SetRequestURI("/hooks/gitlab")
			req.Header.SetContentType("application/json")
			req.Header.Set("X-Gitlab-Event", "Note Hook")
			for k, v := range bc.headers {
				req.Header.Set(k, v)
			}
			req.SetBody(body)
			var rc fasthttp.RequestCtx
			rc.Init(&req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 4242}, nil)
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			var key []byte
			for i := 0; b.Loop(); i++ {
				key = strconv.AppendInt(append(key[:0], "bench-"...), int64(i), 10)
				rc.Request.Header.SetBytesV("Idempotency-Key", key)
				rc.Response.Reset()
				handler(&rc)
				if code := rc.Response.StatusCode(); code != fasthttp.StatusAccepted {
					b.Fatalf("status %d: %s", code, rc.Response.Body())
				}
			}
		})
	}
}

// signedHeaders are GitLab's signing headers for body.
func signedHeaders(t testing.TB, key, id string, now time.Time, body []byte) map[string]string {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(key, "whsec_"))
	if err != nil {
		t.Fatal(err)
	}
	ts := strconv.FormatInt(now.Unix(), 10)
	m := hmac.New(sha256.New, raw)
	m.Write([]byte(id + "." + ts + "."))
	m.Write(body)
	return map[string]string{
		"webhook-id": id, "webhook-timestamp": ts,
		"webhook-signature": "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil)),
	}
}
