package enroll_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hookgate/hookgate/gateway/enroll"
	"github.com/hookgate/hookgate/gateway/enroll/enrolltest"
)

// A GitLab answer redirecting elsewhere must not take the token (nor, for a
// 307 on the hook's creation, the new secret) along: enrolment fails with
// the redirect named and the other host hears nothing (issue 18, break 6).
func TestEnrollDoesNotFollowRedirects(t *testing.T) {
	var reached, tokens atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		if r.Header.Get("PRIVATE-TOKEN") != "" {
			tokens.Add(1)
		}
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{"id": 1, "path_with_namespace": "Group/Project"}`))
	}))
	t.Cleanup(other.Close)
	fake := enrolltest.New(t)
	fake.AddProject(projectID, project)

	for _, c := range []struct {
		name     string
		redirect func(r *http.Request) int // status to answer instead of the fake, 0 for none
		want     string
	}{
		{"project lookup", func(r *http.Request) int { return http.StatusFound }, "GitLab answered 302 Found (redirects are not followed): Location " + other.URL + "/api/v4/elsewhere"},
		{"hook creation", func(r *http.Request) int {
			if r.Method == http.MethodPost {
				return http.StatusTemporaryRedirect
			}
			return 0
		}, "GitLab answered 307 Temporary Redirect (redirects are not followed)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if status := c.redirect(r); status != 0 {
					w.Header().Set("Location", other.URL+"/api/v4/elsewhere?token=x")
					w.WriteHeader(status)
					return
				}
				fake.Config.Handler.ServeHTTP(w, r)
			}))
			t.Cleanup(front.Close)
			admins := &http.Client{}
			file := filepath.Join(t.TempDir(), "enrolled-secrets.json")
			e, err := enroll.New(enroll.Options{GitLabURL: front.URL, Token: enrolltest.Token, PublicURL: publicURL, SecretsFile: file, HTTPClient: admins})
			if err != nil {
				t.Fatal(err)
			}
			_, err = e.Enroll(context.Background(), project, nil, 0)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("enroll: %v, want %q", err, c.want)
			}
			if strings.Contains(err.Error(), enrolltest.Token) || strings.Contains(err.Error(), "token=x") {
				t.Errorf("error shows a token or the Location's query: %v", err)
			}
			if f, err := enroll.Read(file); err != nil || len(f.Projects) != 0 {
				t.Errorf("a failed enrolment left %+v (%v)", f, err)
			}
			if admins.CheckRedirect != nil || admins.Transport != nil || admins.Jar != nil {
				t.Error("the HTTP client passed in was modified")
			}
		})
	}
	t.Logf("other host: %d requests, %d with PRIVATE-TOKEN", reached.Load(), tokens.Load())
	if n := reached.Load(); n != 0 {
		t.Fatalf("the other host received %d requests (%d with PRIVATE-TOKEN)", n, tokens.Load())
	}
}
