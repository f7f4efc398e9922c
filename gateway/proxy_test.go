package gateway_test

import (
	"bytes"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/hookgate/hookgate/gateway"
)

// syncBuffer is a bytes.Buffer safe for the receiver's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestRefusedDeliveryLogsTheClientBehindTrustedProxies(t *testing.T) {
	store, v := storeAndVerifier(t)
	defer store.Close()
	cases := []struct {
		name    string
		trusted []string
		xff     string
		wantIP  string
	}{
		{"no proxies configured: header ignored", nil, "203.0.113.7", "127.0.0.1"},
		{"from a trusted proxy", []string{"127.0.0.1"}, "203.0.113.7", "203.0.113.7"},
		{"trusted by CIDR", []string{"127.0.0.0/8"}, "2001:db8::1", "2001:db8::1"},
		{"from another address: header ignored", []string{"10.0.0.1"}, "203.0.113.7", "127.0.0.1"},
		{"trusted proxy, garbage header", []string{"127.0.0.1"}, "not-an-ip", "127.0.0.1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var logs syncBuffer
			app := gateway.NewReceiver(gateway.ReceiverOptions{Queue: store, Verifier: v, MaxBodyBytes: 1 << 20,
				TrustedProxies: tc.trusted, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			ln, _ := net.Listen("tcp", "127.0.0.1:0")
			go app.Listener(ln)
			defer app.Shutdown()

			req, _ := http.NewRequest("POST", "http://"+ln.Addr().String()+"/hooks/gitlab", bytes.NewReader(fixture(t, "note_merge_request.json")))
			req.Header.Set("X-Gitlab-Event", "Note Hook")
			req.Header.Set("X-Gitlab-Token", "wrong")
			req.Header.Set("X-Forwarded-For", tc.xff)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 401 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if !strings.Contains(logs.String(), "delivery refused") || !strings.Contains(logs.String(), " ip="+tc.wantIP+" ") {
				t.Fatalf("log %q: want ip=%s", logs.String(), tc.wantIP)
			}
		})
	}
}
