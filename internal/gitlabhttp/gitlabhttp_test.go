package gitlabhttp

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

func TestClientRefusesRedirects(t *testing.T) {
	var elsewhere atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { elsewhere.Add(1) }))
	defer other.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/not-modified":
			w.WriteHeader(http.StatusNotModified)
		case "/relative":
			w.Header().Set("Location", "/api/v4/x?private_token=t#f")
			w.WriteHeader(http.StatusMovedPermanently)
		default:
			http.Redirect(w, r, "http://user:pw@"+other.Listener.Addr().String()+"/x?q=1", http.StatusPermanentRedirect)
		}
	}))
	defer srv.Close()

	given := &http.Client{Timeout: time.Minute}
	c := Client(given)
	if given.CheckRedirect != nil || given.Transport != nil || c.Timeout != time.Minute {
		t.Fatal("Client modified its argument or lost its timeout")
	}
	for path, want := range map[string]string{
		"/":         "GitLab answered 308 Permanent Redirect (redirects are not followed): Location " + other.URL + "/x",
		"/relative": "GitLab answered 301 Moved Permanently (redirects are not followed): Location " + srv.URL + "/api/v4/x",
	} {
		resp, err := c.Post(srv.URL+path, "application/json", nil)
		var re *RedirectError
		if err == nil {
			resp.Body.Close()
		}
		if !errors.As(err, &re) || re.Error() != want {
			t.Errorf("%s: %v, want %q", path, err, want)
		}
	}
	resp, err := c.Get(srv.URL + "/not-modified")
	if err != nil || resp.StatusCode != http.StatusNotModified {
		t.Fatalf("304: %v", err)
	}
	resp.Body.Close()
	if n := elsewhere.Load(); n != 0 {
		t.Fatalf("the other host received %d requests", n)
	}
	if Client(nil).Transport == nil {
		t.Fatal("Client(nil) has no transport")
	}
}
