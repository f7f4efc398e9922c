package config

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:8080": true, "127.1.2.3:1": true, "[::1]:8081": true, "localhost:80": true, "LocalHost:80": true,
		"[::1%lo]:80":  true,
		"0.0.0.0:8080": false, ":8080": false, "[::]:8080": false, "10.0.0.5:8081": false,
		"hooks.example.com:80": false, "127.0.0.1": false, "": false,
	} {
		if got := IsLoopback(addr); got != want {
			t.Errorf("IsLoopback(%q) = %v, want %v", addr, got, want)
		}
	}
}

func TestAdminExposure(t *testing.T) {
	for _, c := range []struct {
		name, text string
		want       []string
	}{
		{"receiver public, admin on it", "[server]\nlisten = \"0.0.0.0:8080\"\n\n[admin]\ntoken = \"t\"\n",
			[]string{`F:5:1: admin.token is set and admin.listen is not, so the admin API would be served on server.listen "0.0.0.0:8080", which is not a loopback address; set admin.listen to a loopback address such as "127.0.0.1:8081", or admin.public = true to expose it on purpose`}},
		{"admin listen public", "[admin]\ntoken = \"t\"\nlisten = \"10.0.0.5:8081\"\n",
			[]string{`F:3:10: admin.listen "10.0.0.5:8081" is not a loopback address: the admin API would be reachable from other hosts; use a loopback address, or set admin.public = true to expose the admin API on purpose`}},
		{"admin listen malformed", "[admin]\ntoken = \"t\"\nlisten = \"8081\"\n",
			[]string{`F:3:10: invalid admin.listen "8081": want host:port`}},
		{"bad server.listen is said once", "[server]\nlisten = \"nope\"\n[admin]\ntoken = \"t\"\n",
			[]string{`F:2:10: invalid server.listen "nope": want host:port`}},
		{"public on purpose", "[server]\nlisten = \"0.0.0.0:8080\"\n[admin]\ntoken = \"t\"\npublic = true\n", nil},
		{"admin on loopback", "[server]\nlisten = \"0.0.0.0:8080\"\n[admin]\ntoken = \"t\"\nlisten = \"127.0.0.1:8081\"\n", nil},
		{"admin off", "[server]\nlisten = \"0.0.0.0:8080\"\n[admin]\nlisten = \"0.0.0.0:8081\"\n", nil},
		{"public takes a boolean", "[admin]\npublic = \"yes\"\n", []string{`F:2:10: wrong type for admin.public: want a boolean, got a string`}},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := writeConfig(t, c.text)
			_, err := Load(path)
			if got := problems(path, err); !reflect.DeepEqual(got, c.want) {
				t.Errorf("problems:\n%q\nwant\n%q", got, c.want)
			}
		})
	}
}

func TestMetricsToken(t *testing.T) {
	t.Setenv("HG_TEST_METRICS", "from-env")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "m"), []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for raw, want := range map[string]string{
		"env:HG_TEST_METRICS":             "from-env",
		"file:" + filepath.Join(dir, "m"): "from-file",
		"literal":                         "literal",
	} {
		cfg, err := Load(writeConfig(t, "[server]\nmetrics_token = \""+raw+"\"\n"))
		if err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		if got := cfg.Server.MetricsToken.Value(); got != want {
			t.Errorf("%s: %q, want %q", raw, got, want)
		}
		if s := cfg.Server.MetricsToken.String(); s == want {
			t.Errorf("%s: String shows the token", raw)
		}
	}
	cfg, err := Load("")
	if err != nil || cfg.Server.MetricsToken.IsSet() {
		t.Fatalf("default: %v, token set %v", err, cfg.Server.MetricsToken.IsSet())
	}
	path := writeConfig(t, "[server]\nmetrics_token = \"env:HG_TEST_METRICS_UNSET\"\n")
	_, err = Load(path)
	if got, want := problems(path, err), []string{"F:2:17: environment variable HG_TEST_METRICS_UNSET for server.metrics_token is not set"}; !reflect.DeepEqual(got, want) {
		t.Errorf("unset: %q, want %q", got, want)
	}
}
