package main

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The admin API is refused on a non-loopback address unless admin.public
// says so (issue 18, break 7): a receiver opened to GitLab with
// listen = "0.0.0.0:..." no longer opens the admin API with it.
func TestServeRefusesPublicAdmin(t *testing.T) {
	dir := writeTree(t, t.TempDir(), map[string]string{
		"receiver.toml":   "[server]\nlisten = \"0.0.0.0:0\"\n[admin]\ntoken = \"admin-tok\"\n",
		"all.toml":        "[server]\nlisten = \":0\"\n[admin]\ntoken = \"admin-tok\"\n",
		"admin.toml":      "[admin]\ntoken = \"admin-tok\"\nlisten = \"[::]:0\"\n",
		"public.toml":     "[server]\nlisten = \"0.0.0.0:0\"\n[admin]\ntoken = \"admin-tok\"\npublic = true\n",
		"separate.toml":   "[server]\nlisten = \"0.0.0.0:0\"\n[admin]\ntoken = \"admin-tok\"\nlisten = \"127.0.0.1:0\"\n",
		"no-admin.toml":   "[server]\nlisten = \"0.0.0.0:0\"\n",
		"admin-host.toml": "[admin]\ntoken = \"admin-tok\"\nlisten = \"localhost:0\"\n",
	})
	for _, c := range []struct {
		config string
		want   string // "" when serve must start
	}{
		{"receiver.toml", `receiver.toml:4:1: admin.token is set and admin.listen is not, so the admin API would be served on server.listen "0.0.0.0:0", which is not a loopback address; set admin.listen to a loopback address such as "127.0.0.1:8081", or admin.public = true to expose it on purpose`},
		{"all.toml", `all.toml:4:1: admin.token is set and admin.listen is not, so the admin API would be served on server.listen ":0"`},
		{"admin.toml", `admin.toml:3:10: admin.listen "[::]:0" is not a loopback address: the admin API would be reachable from other hosts; use a loopback address, or set admin.public = true to expose the admin API on purpose`},
		{"public.toml", ""},
		{"separate.toml", ""},
		{"no-admin.toml", ""},
		{"admin-host.toml", ""},
	} {
		t.Run(c.config, func(t *testing.T) {
			if c.want == "" {
				s := startServe(t, dir, "--config", c.config)
				s.stop(t)
				return
			}
			for _, cmd := range []string{"serve", "check"} {
				r := hookgate(t, dir, cmd, "--config", c.config)
				if r.code != 1 || !strings.Contains(r.stderr, c.want) {
					t.Errorf("%s: exit %d, stderr %q; want exit 1 and %q", cmd, r.code, r.stderr, c.want)
				}
				if strings.Contains(r.stderr, "admin-tok") {
					t.Errorf("%s printed the admin token", cmd)
				}
			}
		})
	}
}

var adminListenRe = regexp.MustCompile(`"msg":"admin API listening","addr":"([^"]+)"`)

// /metrics takes an optional bearer token, read like every secret, on the
// receiver's address and on admin.listen, never logged.
func TestServeMetricsToken(t *testing.T) {
	const token = "metrics-secret-4f1c"
	dir := writeTree(t, t.TempDir(), map[string]string{
		"hookgate.toml": "[server]\nlisten = \"127.0.0.1:0\"\nmetrics_token = \"file:metrics-token\"\n" +
			"[admin]\ntoken = \"env:HG_TEST_ADMIN\"\nlisten = \"127.0.0.1:0\"\n",
		"metrics-token": token + "\n",
	})
	t.Setenv("HG_TEST_ADMIN", "admin-tok")
	s := startServe(t, dir, "--config", "hookgate.toml")
	s.waitLog(t, "admin API listening")
	adminAddr := adminListenRe.FindStringSubmatch(s.stderr.String())[1]
	get := func(addr, auth string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", "http://"+addr+"/metrics", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, addr := range []string{s.addr, adminAddr} {
		for _, auth := range []string{"", "Bearer wrong", "Bearer admin-tok", token, "Bearer " + token + "x"} {
			if code, body := get(addr, auth); code != 401 || strings.Contains(body, "hookgate_") {
				t.Errorf("%s with %q: %d %.80s, want 401", addr, auth, code, body)
			}
		}
		if code, body := get(addr, "Bearer "+token); code != 200 || !strings.Contains(body, "hookgate_reload_last_success ") {
			t.Errorf("%s with the token: %d %.80s, want 200 and the metrics", addr, code, body)
		}
	}
	s.stop(t)
	if strings.Contains(s.stderr.String(), token) {
		t.Fatalf("the log shows the metrics token:\n%s", s.stderr)
	}
}

// The data folder is created 0700; one an older version (or an operator)
// made 0755 still starts, with a warning.
func TestServeDataDirMode(t *testing.T) {
	dir := writeTree(t, t.TempDir(), map[string]string{"hookgate.toml": "[server]\nlisten = \"127.0.0.1:0\"\n"})
	s := startServe(t, dir, "--config", "hookgate.toml")
	s.stop(t)
	data := filepath.Join(dir, "data")
	fi, err := os.Stat(data)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Fatalf("data folder created with mode %04o, want 0700", fi.Mode().Perm())
	}
	if strings.Contains(s.stderr.String(), "data directory is open") {
		t.Errorf("warned about a folder it created:\n%s", s.stderr)
	}

	if err := os.Chmod(data, 0o755); err != nil {
		t.Fatal(err)
	}
	s = startServe(t, dir, "--config", "hookgate.toml")
	s.waitLog(t, `"msg":"the data directory is open to other users; hookgate creates it with mode 0700: chmod 700 it"`)
	if code, body := s.deliver(t, readSecret(t, dir)); code != 202 {
		t.Fatalf("delivery to an existing setup: %d %v", code, body)
	}
	s.stop(t)
	if fi, _ := os.Stat(data); fi.Mode().Perm() != 0o755 {
		t.Errorf("the operator's mode was changed to %04o", fi.Mode().Perm())
	}
}
