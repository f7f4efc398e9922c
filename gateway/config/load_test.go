package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hookgate/hookgate/diag"
)

// writeConfig writes text to hookgate.toml in a fresh folder and returns
// its path.
func writeConfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "hookgate.toml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// problems returns Load's errors as lines with the file path replaced by
// "F", so tests can assert the exact text.
func problems(path string, err error) []string {
	var out []string
	for _, e := range diag.Errors(err) {
		out = append(out, strings.Replace(e.Error(), path, "F", 1))
	}
	return out
}

func TestLoadErrors(t *testing.T) {
	t.Setenv("HG_TEST_UNSET", "")
	os.Unsetenv("HG_TEST_UNSET")
	t.Setenv("HG_TEST_EMPTY", "")
	tests := []struct {
		name string
		text string
		want []string
	}{
		{
			name: "unknown top-level key",
			text: "title = \"mine\"\n[server]\nlisten = \"127.0.0.1:9000\"\n",
			want: []string{"F:1:1: unknown key title"},
		},
		{
			name: "unknown top-level key before any table",
			text: "# comment\nbogus = 1\n[server]\n",
			want: []string{"F:2:1: unknown key bogus"},
		},
		{
			name: "unknown table",
			text: "[server]\n\n[serve]\nlisten = \"x\"\n",
			want: []string{"F:3:2: unknown key serve; did you mean server?"},
		},
		{
			name: "unknown key in server",
			text: "[server]\nlisten = \"127.0.0.1:9000\"\n  lisen = \"127.0.0.1:9000\"\n",
			want: []string{"F:3:3: unknown key server.lisen; did you mean server.listen?"},
		},
		{
			name: "key differing in case is unknown",
			text: "[server]\nListen = \"127.0.0.1:9000\"\n",
			want: []string{"F:2:1: unknown key server.Listen; did you mean server.listen?"},
		},
		{
			name: "unknown key in second gitlab block",
			text: `[[gitlab]]
url = "https://a.example.com"
token = "t"
timeout = "5s"

[[gitlab]]
url = "https://b.example.com"
token = "t"
timeout = "5s"
tokn = "x"
`,
			want: []string{"F:10:1: unknown key gitlab.tokn; did you mean gitlab.token?"},
		},
		{
			name: "a misspelt required key is one error, not two",
			text: "[[gitlab]]\nurl = \"https://a.example\"\ntokn = \"x\"\n[[secret]]\nprojet = \"*\"\ntoken = \"t\"\n",
			want: []string{
				"F:3:1: unknown key gitlab.tokn; did you mean gitlab.token?",
				"F:5:1: unknown key secret.projet; did you mean secret.project?",
			},
		},
		{
			name: "no suggestion when nothing is near",
			text: "[server]\ncolour = \"red\"\n",
			want: []string{"F:2:1: unknown key server.colour"},
		},
		{
			name: "unclosed header on the first line is reported there",
			text: "[server\nlisten = \"127.0.0.1:1\"\n",
			want: []string{`F:1:8: expected '.' or ']' to end table name, but got '\n' instead`},
		},
		{
			name: "unknown key in secret",
			text: "[[secret]]\nproject = \"*\"\ntoken = \"t\"\nprojects = [\"a\"]\n",
			want: []string{"F:4:1: unknown key secret.projects; did you mean secret.project?"},
		},
		{
			name: "unknown dotted key",
			text: "server.listen = \"127.0.0.1:1\"\nserver.x.y = 1\n",
			want: []string{"F:2:1: unknown key server.x"},
		},
		{
			name: "unknown key in inline table",
			text: "server = { listen = \"127.0.0.1:1\", port = 80 }\n",
			want: []string{"F:1:36: unknown key server.port"},
		},
		{
			name: "bad duration",
			text: "[plugins]\ntimeout = \"5 sec\"\n",
			want: []string{`F:2:11: invalid duration "5 sec" for plugins.timeout`},
		},
		{
			name: "negative duration",
			text: "[queue]\nretry_base = \"-2s\"\n",
			want: []string{`F:2:14: negative duration "-2s" for queue.retry_base`},
		},
		{
			name: "duration as integer",
			text: "[plugins]\ntimeout = 5\n",
			want: []string{`F:2:11: wrong type for plugins.timeout: want a duration string like "5s", got an integer`},
		},
		{
			name: "bad duration in second gitlab block",
			text: "[[gitlab]]\nurl = \"https://a.example\"\ndry_run = true\n[[gitlab]]\nurl = \"https://b.example\"\ndry_run = true\ntimeout = \"ten\"\n",
			want: []string{`F:7:11: invalid duration "ten" for gitlab.timeout`},
		},
		{
			name: "bad size",
			text: "[server]\nmax_body_bytes = \"25 megs\"\n",
			want: []string{`F:2:18: invalid size "25 megs" for server.max_body_bytes`},
		},
		{
			name: "negative size",
			text: "[server]\nmax_body_bytes = -1\n",
			want: []string{`F:2:18: negative size -1 for server.max_body_bytes`},
		},
		{
			name: "wrong type string",
			text: "[server]\nlisten = 8080\n",
			want: []string{"F:2:10: wrong type for server.listen: want a string, got an integer"},
		},
		{
			name: "wrong type int",
			text: "[workers]\ncount = \"4\"\n",
			want: []string{"F:2:9: wrong type for workers.count: want an integer, got a string"},
		},
		{
			name: "wrong type bool",
			text: "[rules]\nwatch = \"yes\"\n",
			want: []string{"F:2:9: wrong type for rules.watch: want a boolean, got a string"},
		},
		{
			name: "wrong element type",
			text: "[rules]\npaths = [\"a/*.toml\", 3]\n",
			want: []string{"F:2:9: wrong type for rules.paths: want an array of strings, got an array containing an integer"},
		},
		{
			name: "table given a value",
			text: "server = \"x\"\n",
			want: []string{"F:1:10: wrong type for server: want a table, got a string"},
		},
		{
			name: "array of tables given a table",
			text: "[gitlab]\nurl = \"https://a.example\"\n",
			want: []string{"F:1:2: wrong type for gitlab: want an array of tables ([[gitlab]]), got a table"},
		},
		{
			name: "missing env",
			text: "[[secret]]\nproject = \"*\"\ntoken = \"env:HG_TEST_UNSET\"\n",
			want: []string{"F:3:9: environment variable HG_TEST_UNSET for secret.token is not set"},
		},
		{
			name: "empty env",
			text: "[[gitlab]]\nurl = \"https://a.example\"\ntoken = \"env:HG_TEST_EMPTY\"\n",
			want: []string{"F:3:9: environment variable HG_TEST_EMPTY for gitlab.token is empty"},
		},
		{
			name: "missing secret file",
			text: "[[secret]]\nproject = \"*\"\nsigning_key = \"file:nope/key\"\n",
			want: []string{`F:3:15: cannot read secret file "nope/key" for secret.signing_key: no such file or directory`},
		},
		{
			name: "syntax error",
			text: "[server]\nlisten = \n",
			want: []string{`F:2:10: expected value but found '\n' instead`},
		},
		{
			name: "duplicate key",
			text: "[log]\nlevel = \"info\"\nlevel = \"debug\"\n",
			want: []string{`F:3:1: Key 'log.level' has already been defined.`},
		},
		{
			name: "bad backend",
			text: "[queue]\nbackend = \"redis\"\n",
			want: []string{`F:2:11: queue.backend must be local or nats, not "redis"`},
		},
		{
			name: "gitlab url",
			text: "[[gitlab]]\nurl = \"gitlab.example.com\"\ndry_run = true\n[[gitlab]]\ndry_run = true\n",
			want: []string{
				"F:2:7: gitlab.url must be an absolute http(s) URL",
				"F:4:3: gitlab.url is required",
			},
		},
		{
			name: "gitlab duplicate url and missing token",
			text: "[[gitlab]]\nurl = \"https://a.example/\"\ndry_run = true\n[[gitlab]]\nurl = \"https://a.example\"\n",
			want: []string{
				"F:4:3: gitlab.token is required unless dry_run = true",
				"F:5:7: gitlab.url repeats [[gitlab]] block 1",
			},
		},
		{
			name: "secret without project or credentials",
			text: "[[secret]]\n# nothing\n",
			want: []string{
				`F:1:3: secret.project is required (a project path, a glob, or "*")`,
				"F:1:3: [[secret]] needs a token or a signing_key",
			},
		},
		{
			name: "secret bad glob",
			text: "[[secret]]\nproject = \"group/[a\"\ntoken = \"t\"\n[[secret]]\nproject = \"a/{b\"\ntoken = \"t\"\n",
			want: []string{
				`F:2:11: secret.project: bad glob "group/[a": syntax error in pattern`,
				`F:5:11: secret.project: bad glob "a/{b": syntax error in pattern`,
			},
		},
		{
			name: "signing key format",
			text: "[[secret]]\nproject = \"*\"\nsigning_key = \"abc\"\n[[secret]]\nproject = \"*\"\nsigning_key = \"whsec_!!!\"\n",
			want: []string{
				`F:3:15: secret.signing_key: signing key must start with "whsec_"`,
				`F:6:15: secret.signing_key: signing key must be "whsec_" followed by base64`,
			},
		},
		{
			name: "log and workers",
			text: "[log]\nlevel = \"loud\"\nformat = \"xml\"\n[workers]\ncount = -1\n",
			want: []string{
				`F:2:9: log.level must be debug, info, warn or error, not "loud"`,
				`F:3:10: log.format must be text, json or auto, not "xml"`,
				"F:5:9: workers.count must be at least 1",
			},
		},
		{
			name: "plugin kv quota",
			text: "[plugins]\nkv_max_keys = -1\nkv_max_bytes = \"lots\"\n[workers]\n",
			want: []string{
				"F:2:15: plugins.kv_max_keys must be at least 1",
				`F:3:16: invalid size "lots" for plugins.kv_max_bytes`,
			},
		},
		{
			name: "listen and retries",
			text: "[server]\nlisten = \"localhost\"\n[queue]\nretry_base = \"10m\"\nmax_attempts = -3\n",
			want: []string{
				`F:2:10: invalid server.listen "localhost": want host:port`,
				"F:4:14: queue.retry_base (10m0s) is longer than queue.retry_max (5m0s)",
				"F:5:16: queue.max_attempts must be at least 1",
			},
		},
		{
			name: "all problems in one pass",
			text: `bogus = true
[server]
listen = 1
max_body_bytes = "1 ton"
[[gitlab]]
url = "https://a.example"
token = "env:HG_TEST_UNSET"
extra = 1
[plugins]
timeout = "soon"
[log]
level = "loud"
`,
			want: []string{
				"F:1:1: unknown key bogus",
				"F:3:10: wrong type for server.listen: want a string, got an integer",
				`F:4:18: invalid size "1 ton" for server.max_body_bytes`,
				"F:7:9: environment variable HG_TEST_UNSET for gitlab.token is not set",
				"F:8:1: unknown key gitlab.extra",
				`F:10:11: invalid duration "soon" for plugins.timeout`,
				`F:12:9: log.level must be debug, info, warn or error, not "loud"`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeConfig(t, tt.text)
			cfg, err := Load(path)
			if err == nil {
				t.Fatalf("Load succeeded: %+v", cfg)
			}
			if cfg != nil {
				t.Errorf("Load returned a config with its error")
			}
			got := problems(path, err)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("errors:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "absent.toml")
	_, err := Load(path)
	got := problems(path, err)
	want := []string{"F: cannot read config: no such file or directory"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestLoadDefaults(t *testing.T) {
	cfg, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	watch := true
	want := &Config{
		Server: Server{
			Listen:           "127.0.0.1:8080",
			MaxBodyBytes:     26214400,
			MaxInflightBytes: 4 * 26214400,
			MaxConnections:   4096,
			ReadTimeout:      Duration(10 * time.Second),
			WriteTimeout:     Duration(10 * time.Second),
			IdleTimeout:      Duration(60 * time.Second),
			ShutdownGrace:    Duration(30 * time.Second),
		},
		Queue: Queue{
			Backend:         "local",
			Path:            "data/hookgate.db",
			DedupeWindow:    Duration(168 * time.Hour),
			MaxAttempts:     5,
			QuarantineAfter: 3,
			RetryBase:       Duration(2 * time.Second),
			RetryMax:        Duration(5 * time.Minute),
			RetainFor:       Duration(720 * time.Hour),
			RetainCount:     100000,
			Stream:          "HOOKGATE",
			Subject:         "hookgate.deliveries",
			Replicas:        1,
			MaxAge:          Duration(720 * time.Hour),
			AckWait:         Duration(60 * time.Second),
		},
		Rules:   Rules{Watch: &watch},
		Plugins: Plugins{Timeout: Duration(5 * time.Second), KVMaxKeys: 100000, KVMaxBytes: 64 << 20},
		Workers: Workers{Count: 64},
		Log:     Log{Level: "info", Format: "auto"},

		Fairness: Fairness{CommandsPerUser: 10, CommandsPerProject: 30, CommandWindow: Duration(time.Minute)},
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("Load(\"\") =\n%+v\nwant\n%+v", cfg, want)
	}
	if !cfg.Rules.Watching() {
		t.Error("Watching() = false by default")
	}

	// The written defaults and the coded ones agree: an empty file gives
	// the same config as the embedded one, once paths are resolved.
	empty, err := Load(writeConfig(t, ""))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Dir(empty.File)
	if empty.Queue.Path != filepath.Join(dir, "data/hookgate.db") {
		t.Errorf("queue.path = %q, want it under %q", empty.Queue.Path, dir)
	}
	empty.Queue.Path, empty.File = cfg.Queue.Path, ""
	if !reflect.DeepEqual(empty, cfg) {
		t.Errorf("empty file =\n%+v\nembedded =\n%+v", empty, cfg)
	}

	// GitLab blocks get their own defaults.
	g, err := Load(writeConfig(t, "[[gitlab]]\nurl = \"https://gitlab.example.com/\"\ndry_run = true\n"))
	if err != nil {
		t.Fatal(err)
	}
	wantG := GitLab{URL: "https://gitlab.example.com", DryRun: true, Timeout: Duration(10 * time.Second), RatePerMinute: 600, NotesPerMinute: 60}
	if len(g.GitLab) != 1 || !reflect.DeepEqual(g.GitLab[0], wantG) {
		t.Errorf("gitlab = %+v, want [%+v]", g.GitLab, wantG)
	}
}

// The sample shipped in configs/ is the embedded default, and loads.
func TestSampleConfig(t *testing.T) {
	sample := filepath.Join("..", "..", "configs", "hookgate.toml")
	b, err := os.ReadFile(sample)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != DefaultTOML() {
		t.Errorf("configs/hookgate.toml differs from gateway/config/default.toml; copy one onto the other")
	}
	cfg, err := Load(sample)
	if err != nil {
		t.Fatalf("Load(%s): %v", sample, err)
	}
	if cfg.File != sample || cfg.Queue.Path != filepath.Join("..", "..", "configs", "data", "hookgate.db") {
		t.Errorf("File = %q, queue.path = %q", cfg.File, cfg.Queue.Path)
	}
}

// Every commented-out key in the sample is a real key: uncommenting the
// [[gitlab]] and [[secret]] examples (and the optional keys) loads.
func TestSampleCommentedKeys(t *testing.T) {
	var b strings.Builder
	for _, line := range strings.Split(DefaultTOML(), "\n") {
		if k, ok := strings.CutPrefix(line, "# "); ok && (strings.Contains(k, " = ") || strings.HasPrefix(k, "[[")) {
			line = k
		}
		b.WriteString(line + "\n")
	}
	t.Setenv("HOOKGATE_GITLAB_TOKEN", "glpat-xyz")
	t.Setenv("HOOKGATE_WEBHOOK_SECRET", "hook-secret")
	t.Setenv("HOOKGATE_SIGNING_KEY", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	t.Setenv("HOOKGATE_ADMIN_TOKEN", "admin-token")
	t.Setenv("HOOKGATE_METRICS_TOKEN", "metrics-token")
	path := writeConfig(t, b.String())
	cfg, err := Load(path)
	if err != nil {
		t.Fatalf("uncommented sample: %v\n%s", err, b.String())
	}
	dir := filepath.Dir(path)
	if len(cfg.GitLab) != 1 || cfg.GitLab[0].Token.Value() != "glpat-xyz" || cfg.GitLab[0].BotUsername != "hookgate-bot" {
		t.Errorf("gitlab = %+v", cfg.GitLab)
	}
	if len(cfg.Secret) != 1 || cfg.Secret[0].Token.Value() != "hook-secret" || !cfg.Secret[0].SigningKey.IsSet() {
		t.Errorf("secret = %+v", cfg.Secret)
	}
	if !reflect.DeepEqual(cfg.Rules.Paths, []string{filepath.Join(dir, "rules/*.toml")}) || cfg.Plugins.Dir != filepath.Join(dir, "plugins") {
		t.Errorf("rules.paths = %q, plugins.dir = %q", cfg.Rules.Paths, cfg.Plugins.Dir)
	}
	if cfg.Server.MetricsToken.Value() != "metrics-token" || cfg.Admin.Public {
		t.Errorf("metrics_token set %v, admin.public %v", cfg.Server.MetricsToken.IsSet(), cfg.Admin.Public)
	}
	if cfg.Server.PublicURL != "https://hooks.example.com" {
		t.Errorf("public_url = %q", cfg.Server.PublicURL)
	}
}
