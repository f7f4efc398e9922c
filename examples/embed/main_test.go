package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway"
	"github.com/hookgate/hookgate/gateway/config"
	"github.com/hookgate/hookgate/sdk"
	"github.com/hookgate/hookgate/sdk/plugintest"
)

var update = flag.Bool("update", false, "rewrite setup/expected/*.json from the current output")

// ticketService is a fake of the internal ticket service.
func ticketService(t *testing.T, status int) (*httptest.Server, <-chan TicketRequest) {
	t.Helper()
	got := make(chan TicketRequest, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/tickets" || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "unexpected "+r.Method+" "+r.URL.Path, http.StatusBadRequest)
			return
		}
		var req TicketRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		got <- req
		if status != http.StatusCreated {
			http.Error(w, "nope", status)
			return
		}
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"id": 42, "url": "https://tickets.example/42"}`)
	}))
	t.Cleanup(srv.Close)
	return srv, got
}

// TestEmbeddedGateway runs the program's gateway in-process: a delivery
// comes in, the plugin calls company.ticket (the fake ticket service sees
// the request) and comments the ticket's link on GitLab (a fake GitLab sees
// the note).
func TestEmbeddedGateway(t *testing.T) {
	tickets, ticketReqs := ticketService(t, http.StatusCreated)
	notes := make(chan string, 10)
	gl := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Method == "GET" && r.URL.Path == "/api/v4/projects/gitlab-org/gitlab-test":
			// The gateway checks the delivery's project id with GitLab.
			fmt.Fprint(w, `{"id": 5, "path_with_namespace": "gitlab-org/gitlab-test"}`)
		case r.Method == "GET" && r.URL.Path == "/api/v4/projects/5/members/all/1":
			fmt.Fprint(w, `{"id": 1, "username": "root", "access_level": 40}`)
		case r.Method == "POST" && r.URL.Path == "/api/v4/projects/5/merge_requests/1/notes":
			var n struct{ Body string }
			_ = json.NewDecoder(r.Body).Decode(&n)
			notes <- n.Body
			w.WriteHeader(http.StatusCreated)
			fmt.Fprint(w, `{"id": 99}`)
		default:
			http.Error(w, `{"message": "unexpected"}`, http.StatusNotFound)
		}
	}))
	defer gl.Close()

	dir := t.TempDir()
	for _, sub := range []string{"rules", "plugins"} {
		if err := os.CopyFS(filepath.Join(dir, sub), os.DirFS(filepath.Join("setup", sub))); err != nil {
			t.Fatal(err)
		}
	}
	// A plugin whose top level needs the module: it loads only if the
	// module is there, at start and on every reload.
	needs := "assert(company.ticket, 'no company module')\nfunction handle() end\n"
	if err := os.WriteFile(filepath.Join(dir, "plugins", "needs_company.lua"), []byte(needs), 0o644); err != nil {
		t.Fatal(err)
	}
	cfgText := fmt.Sprintf(`
[[gitlab]]
url = %q
token = "bot-token"

[[secret]]
project = "*"
token = "s3cret"

[rules]
paths = ["rules/*.toml"]
watch = false

[plugins]
dir = "plugins"
`, gl.URL)
	if err := os.WriteFile(filepath.Join(dir, "hookgate.toml"), []byte(cfgText), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(filepath.Join(dir, "hookgate.toml"))
	if err != nil {
		t.Fatal(err)
	}
	g, err := newGateway(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), &Tickets{URL: tickets.URL})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- g.Serve(ctx, ln) }()
	defer func() {
		cancel()
		select {
		case err := <-served:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("gateway did not stop")
		}
	}()

	body, err := os.ReadFile(filepath.Join("setup", "events", "note_ticket.json"))
	if err != nil {
		t.Fatal(err)
	}
	// As GitLab at gl.URL sends it: the project's web_url on that host.
	body = bytes.ReplaceAll(body, []byte("http://example.com"), []byte(gl.URL))
	req, _ := http.NewRequest("POST", "http://"+ln.Addr().String()+"/hooks/gitlab", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Gitlab-Event", "Note Hook")
	req.Header.Set("X-Gitlab-Token", "s3cret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var ack struct{ ID, Status string }
	_ = json.NewDecoder(resp.Body).Decode(&ack)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted || ack.Status != "queued" {
		t.Fatalf("delivery answered %d %+v", resp.StatusCode, ack)
	}

	timeout := time.After(15 * time.Second)
	select {
	case tr := <-ticketReqs:
		want := TicketRequest{Title: "Nightly build broken on main", Project: "gitlab-org/gitlab-test", Delivery: ack.ID, Requester: "root"}
		if tr != want {
			t.Errorf("ticket service got %+v, want %+v", tr, want)
		}
	case <-timeout:
		t.Fatal("the ticket service was not called")
	}
	select {
	case n := <-notes:
		if want := "Opened ticket [#42](https://tickets.example/42) for @root."; n != want {
			t.Errorf("note = %q, want %q", n, want)
		}
	case <-timeout:
		t.Fatal("no note was posted")
	}
	if err := g.Reload(); err != nil {
		t.Fatalf("reload lost the module: %v", err)
	}
}

// TestModuleNameClash: a module may not shadow a built-in one.
func TestModuleNameClash(t *testing.T) {
	dir := t.TempDir()
	if err := os.CopyFS(filepath.Join(dir, "plugins"), os.DirFS(filepath.Join("setup", "plugins"))); err != nil {
		t.Fatal(err)
	}
	cfgText := "[[secret]]\nproject = \"*\"\ntoken = \"x\"\n[rules]\npaths = []\n[plugins]\ndir = \"plugins\"\n"
	if err := os.WriteFile(filepath.Join(dir, "hookgate.toml"), []byte(cfgText), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(filepath.Join(dir, "hookgate.toml"))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	clash := sdk.NewModule("gitlab", nil)
	if _, err := gateway.New(cfg, log, gateway.WithModules(clash)); err == nil || !strings.Contains(err.Error(), `module "gitlab" clashes`) {
		t.Fatalf("New with a module named gitlab: %v", err)
	}
	// The store was closed on failure: a second New can open it.
	cfg.Rules.Paths = []string{filepath.Join(dir, "none", "*.toml")}
	g, err := gateway.New(cfg, log, gateway.WithModules(CompanyModule(&Tickets{URL: "http://127.0.0.1:1"})))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Serve(ctx, ln); err != nil {
		t.Fatalf("Serve: %v", err)
	}
}

// TestCompanyModule covers company.ticket's answers with the plugin test
// harness: the real module against a fake service.
func TestCompanyModule(t *testing.T) {
	ev := plugintest.Event(t, filepath.Join("setup", "events", "note_ticket.json"), "")
	unreachable := httptest.NewServer(http.NotFoundHandler())
	unreachable.Close()
	cases := []struct {
		name    string
		status  int    // the fake service's answer
		url     string // instead of the fake's
		note    string // instead of the event's
		want    string // the run's status
		errHas  string
		value   string
		tickets int // requests the service should see
	}{
		{name: "created", status: http.StatusCreated, want: "ok", value: `{"id":42,"opened":true}`, tickets: 1},
		{name: "service down", status: http.StatusServiceUnavailable, want: "retry", errHas: "company.ticket: retry: tickets: service answered 503", tickets: 1},
		{name: "refused", status: http.StatusBadRequest, want: "error", errHas: "company.ticket: tickets: service answered 400 Bad Request: nope", tickets: 1},
		{name: "unreachable", url: unreachable.URL, want: "retry", errHas: "connection refused"},
		{name: "no title", status: http.StatusCreated, note: "/ticket", want: "ok", value: `{"opened":false}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv, reqs := ticketService(t, c.status)
			url := srv.URL
			if c.url != "" {
				url = c.url
			}
			h := plugintest.Load(t, filepath.Join("setup", "plugins"), plugintest.WithModules(CompanyModule(&Tickets{URL: url})))
			e := *ev
			if c.note != "" {
				e = *plugintest.EventJSON(t, withNote(t, c.note), "")
			}
			res := h.Run(t, "ticket", &e, nil)
			if res.Status != c.want || !strings.Contains(res.Error, c.errHas) || (c.value != "" && string(res.Value) != c.value) {
				t.Fatalf("got %s; want %s %q %s", res, c.want, c.errHas, c.value)
			}
			if len(reqs) != c.tickets {
				t.Errorf("service saw %d requests, want %d", len(reqs), c.tickets)
			}
		})
	}
}

// withNote is the sample event with another note text.
func withNote(t *testing.T, note string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("setup", "events", "note_ticket.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	m["object_attributes"].(map[string]any)["note"] = note
	b, _ := json.Marshal(m)
	return b
}

// TestSampleEvents checks setup/events against setup/expected, with a fake
// company module: how to dry-run plugins that need an embedder's module.
// go test ./examples/embed -update rewrites the expected files.
func TestSampleEvents(t *testing.T) {
	fake := sdk.NewModule("company", map[string]sdk.Func{
		"ticket": func(context.Context, []any) (any, error) {
			return Ticket{ID: 7, URL: "https://tickets.example/7"}, nil
		},
	})
	plugintest.RunDir(t, "setup", plugintest.WithModules(fake), plugintest.WithUpdate(*update))
}

func TestRunNeedsTicketsURL(t *testing.T) {
	t.Setenv("COMPANY_TICKETS_URL", "")
	if code := run(context.Background(), nil); code != 2 {
		t.Fatalf("exit %d, want 2", code)
	}
	if code := run(context.Background(), []string{"--tickets-url", "http://x", "--config", filepath.Join(t.TempDir(), "missing.toml")}); code != 1 {
		t.Fatalf("missing config: exit %d, want 1", code)
	}
}
