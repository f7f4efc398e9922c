package config

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestPublicURL(t *testing.T) {
	tests := []struct {
		value string
		want  string // "" = valid; else a substring of the error
		clean string // the value after Load
	}{
		{value: "https://hooks.example.com", clean: "https://hooks.example.com"},
		{value: "https://hooks.example.com/", clean: "https://hooks.example.com"},
		{value: "https://example.com/hookgate/", clean: "https://example.com/hookgate"},
		{value: "http://10.0.0.5:8080", clean: "http://10.0.0.5:8080"},
		{value: "hooks.example.com", want: "absolute http(s) URL"},
		{value: "ftp://hooks.example.com", want: "absolute http(s) URL"},
		{value: "https://hooks.example.com/?a=b", want: "without query"},
		{value: "https://user:pw@hooks.example.com", want: "must not carry a user"},
		{value: "https://hooks.example.com/hooks/gitlab", want: `leave out "/hooks/gitlab"`},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			cfg, err := Load(writeConfig(t, "[server]\npublic_url = \""+tt.value+"\"\n"))
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				if cfg.Server.PublicURL != tt.clean {
					t.Errorf("public_url = %q, want %q", cfg.Server.PublicURL, tt.clean)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), ":2:") {
				t.Fatalf("Load error = %v, want line 2 and %q", err, tt.want)
			}
			// (The temp folder carries the test name: look after the file name.)
			if _, msg, _ := strings.Cut(err.Error(), ".toml:"); strings.Contains(msg, "pw@") {
				t.Errorf("error shows the URL's password: %v", err)
			}
		})
	}
}

func TestEnrolledSecretsFile(t *testing.T) {
	// Default: beside the queue, following queue.path.
	cfg, err := Load(writeConfig(t, "[queue]\npath = \"state/q.db\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Dir(cfg.File)
	if cfg.Enroll.SecretsFile != "" {
		t.Errorf("enroll.secrets_file = %q, want it left empty", cfg.Enroll.SecretsFile)
	}
	if got, want := cfg.EnrolledSecretsFile(), filepath.Join(dir, "state", DefaultSecretsFileName); got != want {
		t.Errorf("EnrolledSecretsFile = %q, want %q", got, want)
	}
	// Set: resolved against the config's folder.
	cfg, err = Load(writeConfig(t, "[enroll]\nsecrets_file = \"secrets/enrolled.json\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cfg.EnrolledSecretsFile(), filepath.Join(filepath.Dir(cfg.File), "secrets", "enrolled.json"); got != want {
		t.Errorf("EnrolledSecretsFile = %q, want %q", got, want)
	}
	// Embedded defaults: relative to the working folder, beside data/hookgate.db.
	cfg, err = Load("")
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.EnrolledSecretsFile(); got != filepath.Join("data", DefaultSecretsFileName) {
		t.Errorf("embedded EnrolledSecretsFile = %q", got)
	}
}
