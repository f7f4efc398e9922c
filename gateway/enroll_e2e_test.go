package gateway_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway/config"
	"github.com/hookgate/hookgate/gateway/enroll"
	"github.com/hookgate/hookgate/gateway/enroll/enrolltest"
)

const enrollConfig = `
[server]
public_url = "https://hooks.example.com"

[[secret]]
project = "*"
token = "star-token"
`

// A running gateway picks up `enroll` and `secret rotate` from the secrets
// file, without a restart: the enrolled project accepts only its own
// secrets, other projects keep the "*" secret.
func TestEnrolledSecretsOnRunningGateway(t *testing.T) {
	const project = "gitlab-org/gitlab-test" // the fixture's project
	fake := enrolltest.New(t)
	fake.AddProject(5, project) // the fixture's project id
	fake.AddHook(5, "https://ci.example.com/a", "x")
	fake.AddHook(5, "https://ci.example.com/b", "y")
	g := startGateway(t, enrollConfig, nil)
	file := filepath.Join(g.Dir, "data", config.DefaultSecretsFileName)
	e, err := enroll.New(enroll.Options{
		GitLabURL: fake.URL, Token: enrolltest.Token, PublicURL: "https://hooks.example.com", SecretsFile: file,
	})
	if err != nil {
		t.Fatal(err)
	}
	note, other := fixture(t, "note_merge_request.json"), withProject(t, "other/repo")
	post := func(body []byte, token string) int {
		return g.post(t, body, map[string]string{"X-Gitlab-Event": "Note Hook", "X-Gitlab-Token": token}).Status
	}
	if s := post(note, "star-token"); s != 202 {
		t.Fatalf("before enrolment: %d", s)
	}

	res, err := e.Enroll(context.Background(), project, []string{"note"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	hooks := fake.Hooks(5)
	if len(hooks) != 3 || hooks[2].URL != "https://hooks.example.com/hooks/gitlab" || hooks[2].Token != res.Token || !hooks[2].NoteEvents {
		t.Fatalf("hooks after enroll: %+v", hooks)
	}
	waitFor(t, 10*time.Second, func() bool { return post(note, res.Token) == 202 })
	for _, c := range []struct {
		name  string
		body  []byte
		token string
		want  int
	}{
		{"enrolled project, its secret", note, res.Token, 202},
		{"enrolled project, the * secret", note, "star-token", 401},
		{"enrolled project, no token", note, "", 401},
		{"other project, the * secret", other, "star-token", 202},
		{"other project, the enrolled secret", other, res.Token, 401},
	} {
		if got := post(c.body, c.token); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}

	// Rotation: both secrets during the grace period, then only the new one.
	const grace = 4 * time.Second
	rotated := time.Now()
	res2, err := e.Rotate(context.Background(), project, grace)
	if err != nil {
		t.Fatal(err)
	}
	if h := fake.Hooks(5)[2]; h.Token != res2.Token || len(fake.Hooks(5)) != 3 {
		t.Fatalf("hook token not rotated in place")
	}
	waitFor(t, 10*time.Second, func() bool { return post(note, res2.Token) == 202 })
	oldOK := post(note, res.Token)
	if time.Since(rotated) < grace-time.Second && oldOK != 202 {
		t.Errorf("old secret during the grace period: %d, want 202", oldOK)
	}
	waitFor(t, grace+10*time.Second, func() bool { return post(note, res.Token) == 401 })
	if s := post(note, res2.Token); s != 202 {
		t.Errorf("new secret after the grace period: %d", s)
	}
	if s := post(note, "star-token"); s != 401 {
		t.Errorf("* secret after rotation: %d", s)
	}
	if s := post(other, "star-token"); s != 202 {
		t.Errorf("other project after rotation: %d", s)
	}

	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), res.Token) || strings.Contains(string(b), res2.Token) {
		t.Error("the secrets file holds a plain token")
	}

	// A broken file keeps the last good set serving.
	if err := os.WriteFile(file+".new", []byte("{broken"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(file+".new", file); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // let the watcher see it and refuse it
	if s := post(note, res2.Token); s != 202 {
		t.Errorf("after a broken file: %d, want the last good set", s)
	}
	if s := post(note, "star-token"); s != 401 {
		t.Errorf("after a broken file, * secret: %d", s)
	}
}
