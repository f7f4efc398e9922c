package gitlab

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookgate/hookgate/plugins"
)

func TestErrorClassification(t *testing.T) {
	const path = "/projects/5/merge_requests/7/notes"
	tests := []struct {
		name      string
		reply     answer
		retry     bool
		after     time.Duration
		wantError string
	}{
		{"500 is retryable", answer{500, `{"message":"500 Internal Server Error"}`, nil}, true, 0,
			"retry: gitlab: POST " + path + ": 500 Internal Server Error"},
		{"502 html is retryable", answer{502, "<html>\n<body>Bad gateway</body></html>", nil}, true, 0,
			"retry: gitlab: POST " + path + ": 502 Bad Gateway: <html> <body>Bad gateway</body></html>"},
		{"429 with Retry-After seconds", answer{429, `{"message":"Retry later"}`, map[string]string{"Retry-After": "7"}}, true, 7 * time.Second,
			"retry: gitlab: POST " + path + ": 429 Too Many Requests: Retry later (after 7s)"},
		{"404 is final", answer{404, `{"message":"404 Project Not Found"}`, nil}, false, 0,
			"gitlab: POST " + path + ": 404 Not Found: Project Not Found"},
		{"403 is final", answer{403, `{"message":"403 Forbidden"}`, nil}, false, 0,
			"gitlab: POST " + path + ": 403 Forbidden"},
		{"422 field errors", answer{422, `{"message":{"note":["can't be blank"],"base":["spam"]}}`, nil}, false, 0,
			"gitlab: POST " + path + ": 422 Unprocessable Entity: base: spam; note: can't be blank"},
		{"401 oauth style", answer{401, `{"error":"invalid_token","error_description":"Token was revoked"}`, nil}, false, 0,
			"gitlab: POST " + path + ": 401 Unauthorized: invalid_token: Token was revoked"},
		{"bad JSON on 201 is final", answer{201, `{"id": `, nil}, false, 0,
			"gitlab: POST " + path + ": 201: reading answer: unexpected EOF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, func(got) answer { return tt.reply })
			s := f.scope(t, mrNoteEnv(), nil)
			_, err := s.Comment(t.Context(), "hello")
			if err == nil {
				t.Fatal("want an error")
			}
			if err.Error() != tt.wantError {
				t.Errorf("error\n got %q\nwant %q", err, tt.wantError)
			}
			re, retry := plugins.IsRetry(err)
			if retry != tt.retry {
				t.Fatalf("retryable = %v, want %v (%v)", retry, tt.retry, err)
			}
			if retry && re.After != tt.after {
				t.Errorf("After = %s, want %s", re.After, tt.after)
			}
			if strings.Contains(err.Error(), testToken) || strings.Contains(err.Error(), f.srv.URL) {
				t.Errorf("error shows the token or URL: %v", err)
			}
			c := s.Calls()
			if len(c) != 1 || c[0].Status != tt.reply.status || c[0].Error != err.Error() {
				t.Errorf("recorded %+v", c)
			}
			if n := len(f.requests()); n != 1 {
				t.Errorf("GitLab saw %d requests, want 1 (client-go retries must be off)", n)
			}
		})
	}
}

func TestClientPanicBecomesError(t *testing.T) {
	// client-go panics decoding an issue without "id".
	f := newFake(t, func(got) answer { return answer{200, `{"iid": 17}`, nil} })
	s := f.scope(t, issueNoteEnv(), nil)
	err := s.AddLabels(t.Context(), []string{"x"})
	if err == nil || !strings.Contains(err.Error(), "client panic") {
		t.Fatalf("err = %v, want a client panic error", err)
	}
}

func TestNetworkErrorsAreRetryable(t *testing.T) {
	t.Run("connection refused", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		url := srv.URL
		srv.Close()
		cs, err := New([]Instance{{URL: url, Token: testToken}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		s := cs.For(mrNoteEnv()).Scope(mrNoteEnv(), "")
		_, err = s.Comment(t.Context(), "x")
		if _, ok := plugins.IsRetry(err); !ok {
			t.Fatalf("err = %v, want retryable", err)
		}
		if strings.Contains(err.Error(), url) {
			t.Errorf("error repeats the URL: %v", err)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		release := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-release:
			}
		}))
		defer srv.Close()
		defer close(release)
		cs, err := New([]Instance{{URL: srv.URL, Token: testToken, Timeout: 50 * time.Millisecond}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		s := cs.For(mrNoteEnv()).Scope(mrNoteEnv(), "")
		start := time.Now()
		_, err = s.Comment(t.Context(), "x")
		if _, ok := plugins.IsRetry(err); !ok {
			t.Fatalf("err = %v, want retryable", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("took %s, want about the 50ms timeout", d)
		}
		if c := s.Calls(); len(c) != 1 || c[0].Error == "" || c[0].Status != 0 {
			t.Errorf("recorded %+v", c)
		}
	})
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name string
		h    http.Header
		want time.Duration
	}{
		{"none", http.Header{}, 0},
		{"seconds", http.Header{"Retry-After": {"7"}}, 7 * time.Second},
		{"http date", http.Header{"Retry-After": {now.Add(90 * time.Second).Format(http.TimeFormat)}}, 90 * time.Second},
		{"date in the past", http.Header{"Retry-After": {now.Add(-time.Hour).Format(http.TimeFormat)}}, 0},
		{"negative", http.Header{"Retry-After": {"-3"}}, 0},
		{"garbage, reset header", http.Header{"Retry-After": {"soon"}, "Ratelimit-Reset": {strconv.FormatInt(now.Add(time.Minute).Unix(), 10)}}, 60 * time.Second},
	}
	for _, tt := range tests {
		if got := retryAfter(tt.h, now); got != tt.want {
			t.Errorf("%s: %s, want %s", tt.name, got, tt.want)
		}
	}
}

func TestRetryAfterHTTPDateFromServer(t *testing.T) {
	at := time.Now().Add(2 * time.Minute).UTC().Format(http.TimeFormat)
	f := newFake(t, func(got) answer {
		return answer{429, `{"message":"Retry later"}`, map[string]string{"Retry-After": at}}
	})
	s := f.scope(t, mrNoteEnv(), nil)
	_, err := s.Comment(t.Context(), "x")
	re, ok := plugins.IsRetry(err)
	if !ok || re.After < 100*time.Second || re.After > 2*time.Minute {
		t.Fatalf("err = %v, want retry after about 2m", err)
	}
}

// TestNotesRateLimit: with NotesPerMinute 2, two notes go at once and the
// third would wait 30 s; a run whose deadline comes sooner gets a
// retryable error at once, with After set to the wait, and nothing is sent.
func TestNotesRateLimit(t *testing.T) {
	f := newFake(t, func(got) answer { return answer{201, `{"id": 1}`, nil} })
	s := f.scope(t, mrNoteEnv(), func(i *Instance) { i.NotesPerMinute = 2 })
	first := time.Now() // the slots the notes take date from here on
	for i := range 2 {
		if _, err := s.Comment(t.Context(), "x"); err != nil {
			t.Fatalf("note %d: %v", i+1, err)
		}
	}
	// Other calls are not held back by the notes limit.
	if err := s.React(t.Context(), "eyes"); err != nil {
		t.Fatal(err)
	}

	// The deadline is well before the slot (about 30 s away), and far
	// enough that failing at once and waiting for it differ on a loaded
	// machine.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	start := time.Now()
	_, err := s.Comment(ctx, "third")
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("third note took %s; it should fail at once when the slot is after the deadline", d)
	}
	re, ok := plugins.IsRetry(err)
	if !ok {
		t.Fatalf("err = %v, want retryable", err)
	}
	// The slot is 30 s after the first note: what is left of it, less the
	// time the calls so far took.
	if low := 29*time.Second - time.Since(first); re.After < low || re.After > 30*time.Second {
		t.Errorf("After = %s, want about 30s (at least %s)", re.After, low)
	}
	if !strings.Contains(err.Error(), "client-side rate limit") {
		t.Errorf("err = %v", err)
	}
	if n := len(f.requests()); n != 3 {
		t.Errorf("GitLab saw %d requests, want 3", n)
	}

	// Without a deadline the call blocks until ctx ends.
	ctx2, cancel2 := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, err := s.Comment(ctx2, "fourth")
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("fourth note returned %v before its slot", err)
	case <-time.After(500 * time.Millisecond):
	}
	cancel2()
	select {
	case err := <-done:
		if _, ok := plugins.IsRetry(err); !ok || !errors.Is(ctx2.Err(), context.Canceled) {
			t.Fatalf("err = %v, want retryable after cancel", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("cancel did not stop the wait")
	}
	if n := len(f.requests()); n != 3 {
		t.Errorf("GitLab saw %d requests, want 3", n)
	}
}

func TestOverallRateLimit(t *testing.T) {
	f := newFake(t, func(got) answer { return answer{201, `{"id": 1}`, nil} })
	s := f.scope(t, mrNoteEnv(), func(i *Instance) { i.RatePerMinute = 1 })
	first := time.Now() // the React's slot dates from here on
	if err := s.React(t.Context(), "eyes"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	_, err := s.AccessLevel(ctx, 3)
	// The next slot is a minute after the React, less the time it took.
	if re, ok := plugins.IsRetry(err); !ok || re.After < 59*time.Second-time.Since(first) {
		t.Fatalf("err = %v, want retry after about a minute", err)
	}
}

func TestErrorMessage(t *testing.T) {
	tests := []struct{ body, want string }{
		{``, ``},
		{`{"message":"404 Not found"}`, `404 Not found`},
		{`{"message":["a","b"]}`, `a, b`},
		{`{"message":{"b":["x"],"a":{"c":"y"}}}`, `a: c: y; b: x`},
		{`{"error":"insufficient_scope"}`, `insufficient_scope`},
		{"plain\n text", "plain text"},
		{strings.Repeat("z", 400), strings.Repeat("z", maxMessage) + "..."},
	}
	for _, tt := range tests {
		if got := errorMessage([]byte(tt.body)); got != tt.want {
			t.Errorf("errorMessage(%.30q) = %q, want %q", tt.body, got, tt.want)
		}
	}
}
