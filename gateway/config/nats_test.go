package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestNATSKeys(t *testing.T) {
	t.Setenv("HG_NATS_TOKEN", "s3cret")
	path := writeConfig(t, `[queue]
backend = "nats"
url = ["nats://n1:4222", "tls://n2:4222"]
token = "env:HG_NATS_TOKEN"
credentials = "hookgate.creds"
stream = "HG_PROD"
subject = "hg.prod"
replicas = 3
max_age = "48h"
ack_wait = "2m"
`)
	dir := filepath.Dir(path)
	if err := os.WriteFile(filepath.Join(dir, "hookgate.creds"), []byte("creds"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	q := cfg.Queue
	if !slices.Equal(q.URL, []string{"nats://n1:4222", "tls://n2:4222"}) || q.Token.Value() != "s3cret" ||
		q.Credentials != filepath.Join(dir, "hookgate.creds") || q.Stream != "HG_PROD" || q.Subject != "hg.prod" ||
		q.Replicas != 3 || q.MaxAge != Duration(48*time.Hour) || q.AckWait != Duration(2*time.Minute) {
		t.Errorf("queue = %+v", q)
	}
}

func TestNATSErrors(t *testing.T) {
	tests := []struct {
		name string
		text string
		want []string
	}{
		{
			name: "url required",
			text: "[queue]\nbackend = \"nats\"\n",
			want: []string{`F:2:11: queue.url is required with backend = "nats" (e.g. ["nats://127.0.0.1:4222"])`},
		},
		{
			name: "bad values",
			text: `[queue]
backend = "nats"
url = ["http://x:4222", "nats://"]
stream = "a.b"
subject = "hookgate.*"
replicas = 7
max_age = "10s"
ack_wait = "5s"
tls_cert = "c.pem"
credentials = "missing.creds"
`,
			want: []string{
				"F:3:8: queue.url: scheme must be nats, tls, ws or wss",
				"F:3:25: queue.url: want a URL like nats://host:4222",
				`F:4:10: queue.stream must be 1 to 64 letters, digits, '-' or '_'`,
				`F:5:11: queue.subject must be dot-separated tokens without spaces or wildcards, e.g. "hookgate.deliveries"`,
				"F:6:12: queue.replicas must be 1 to 5",
				"F:7:11: queue.max_age must be at least 1m",
				"F:8:12: queue.ack_wait (5s) must be longer than plugins.timeout (5s)",
				`F:9:12: queue.tls_cert: "D/c.pem" is not a readable file`,
				"F:9:12: queue.tls_cert and queue.tls_key go together",
				`F:10:15: queue.credentials: "D/missing.creds" is not a readable file`,
			},
		},
		{
			name: "local ignores the nats keys",
			text: "[queue]\nbackend = \"local\"\nreplicas = 9\ntoken = \"env:HG_UNSET_NATS\"\n",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := writeConfig(t, tc.text)
			_, err := Load(path)
			var got []string
			for _, p := range problems(path, err) {
				got = append(got, strings.ReplaceAll(p, filepath.Dir(path), "D"))
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("problems:\n%q\nwant\n%q", got, tc.want)
			}
		})
	}
}
