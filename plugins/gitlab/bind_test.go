package gitlab

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"

	"github.com/hookgate/hookgate/gateway/envelope"
)

// lookups counts the project lookups the fake received.
func lookups(f *fakeGitLab) int {
	n := 0
	for _, r := range f.requests() {
		if r.Method == "GET" && (r.Path == "/api/v4/projects/team-a%2Fapp" || r.Path == "/api/v4/projects/team-a%2Fgone") {
			n++
		}
	}
	return n
}

func TestBind(t *testing.T) {
	f := newFake(t, func(g got) answer {
		switch g.Path {
		case "/api/v4/projects/team-a%2Fapp":
			return answer{status: 200, body: `{"id": 7, "path_with_namespace": "team-a/app"}`}
		case "/api/v4/projects/team-a%2Fgone":
			return answer{status: 404, body: `{"message": "404 Project Not Found"}`}
		}
		return answer{status: 500, body: `{}`}
	})
	cs, err := New([]Instance{f.instance()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	bind := func(path string, id int64, instance string) (*envelope.Envelope, error) {
		env := &envelope.Envelope{Instance: instance, Project: envelope.Project{ID: id, Path: path}}
		return env, cs.Bind(ctx, env, "")
	}

	// Concurrent deliveries of one project share one lookup.
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if env, err := bind("team-a/app", 7, ""); err != nil || env.Project.ID != 7 {
				t.Errorf("genuine delivery: %v (id %d)", err, env.Project.ID)
			}
		})
	}
	wg.Wait()
	if n := lookups(f); n != 1 {
		t.Fatalf("%d lookups for 8 concurrent deliveries, want 1", n)
	}
	// A forged id is refused; a missing one gets GitLab's; case and outer
	// slashes do not matter.
	var ie *IdentityError
	if _, err := bind("team-a/app", 202, ""); !errors.As(err, &ie) || ie.Reason != "project_id" {
		t.Fatalf("forged id: %v, want an IdentityError", err)
	}
	if env, err := bind("Team-A/App", 0, f.srv.URL+"/api/v4/"); err != nil || env.Project.ID != 7 {
		t.Fatalf("no id: %v (id %d), want 7", err, env.Project.ID)
	}
	if id, ok := cs.KnownProjectID(f.srv.URL, "team-a/app/"); !ok || id != 7 {
		t.Fatalf("KnownProjectID = %d, %v", id, ok)
	}
	// An instance that is not configured is refused; a delivery without a
	// path acts on no project.
	if _, err := bind("team-a/app", 7, "https://other.example"); !errors.As(err, &ie) || ie.Reason != "instance" {
		t.Fatalf("other instance: %v", err)
	}
	if env, err := bind("", 202, ""); err != nil || env.Project.ID != 0 {
		t.Fatalf("no path: %v, id %d; want no project", err, env.Project.ID)
	}
	// A project GitLab does not know is refused, and asked about once.
	for range 3 {
		var ae *APIError
		if _, err := bind("team-a/gone", 9, ""); !errors.As(err, &ae) || ae.Status != http.StatusNotFound {
			t.Fatalf("unknown project: %v, want the 404", err)
		}
	}
	if n := lookups(f); n != 2 {
		t.Fatalf("%d lookups, want 2 (the 404 is cached)", n)
	}
}

// In dry run nothing is sent, so nothing is looked up.
func TestBindDryRun(t *testing.T) {
	f := newFake(t, nil)
	cs, err := New([]Instance{func() Instance { i := f.instance(); i.DryRun = true; return i }()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	env := &envelope.Envelope{Project: envelope.Project{ID: 5, Path: "g/p"}}
	if err := cs.Bind(context.Background(), env, ""); err != nil || env.Project.ID != 5 {
		t.Fatalf("dry run: %v, id %d", err, env.Project.ID)
	}
	if len(f.requests()) != 0 {
		t.Fatalf("dry run sent %d requests", len(f.requests()))
	}
}
