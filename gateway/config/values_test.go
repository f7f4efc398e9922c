package config

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/hookgate/hookgate/diag"
)

func TestSize(t *testing.T) {
	tests := []struct {
		in      string
		want    Size
		wantErr string
	}{
		{in: "26214400", want: 26214400},
		{in: "25MiB", want: 25 << 20},
		{in: "512KB", want: 512000},
		{in: "1GiB", want: 1 << 30},
		{in: "10MB", want: 10_000_000},
		{in: "10 mb", want: 10_000_000},
		{in: "3KiB", want: 3072},
		{in: "2TB", want: 2_000_000_000_000},
		{in: "7B", want: 7},
		{in: "0", want: 0},
		{in: "", wantErr: `invalid size ""`},
		{in: "MiB", wantErr: `invalid size "MiB"`},
		{in: "1.5GiB", wantErr: `invalid size "1.5GiB"`},
		{in: "-1", wantErr: `invalid size "-1"`},
		{in: "25 megs", wantErr: `invalid size "25 megs"`},
		{in: "99999999999TiB", wantErr: `size "99999999999TiB" is too large`},
		{in: "99999999999999999999", wantErr: `size "99999999999999999999" is too large`},
	}
	for _, tt := range tests {
		var s Size
		err := s.UnmarshalText([]byte(tt.in))
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("Size(%q): err %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || s != tt.want {
			t.Errorf("Size(%q) = %d, %v; want %d", tt.in, s, err, tt.want)
		}
		// What String writes reads back the same.
		var back Size
		if err := back.UnmarshalText([]byte(s.String())); err != nil || back != s {
			t.Errorf("Size %d: String %q reads back as %d, %v", s, s.String(), back, err)
		}
	}
	var s Size
	if err := s.UnmarshalTOML(int64(1024)); err != nil || s != 1024 || s.String() != "1KiB" {
		t.Errorf("UnmarshalTOML(1024) = %v (%s), %v", int64(s), s, err)
	}
	if err := s.UnmarshalTOML(1.5); err == nil {
		t.Error("UnmarshalTOML(1.5) accepted")
	}
}

func TestDuration(t *testing.T) {
	var d Duration
	if err := d.UnmarshalText([]byte("1m30s")); err != nil || d.D() != 90*time.Second {
		t.Errorf("1m30s = %v, %v", d, err)
	}
	for in, want := range map[string]string{
		"5 sec": `invalid duration "5 sec"`,
		"5":     `invalid duration "5"`,
		"-1s":   `negative duration "-1s"`,
	} {
		if err := d.UnmarshalText([]byte(in)); err == nil || err.Error() != want {
			t.Errorf("%q: err %v, want %q", in, err, want)
		}
	}
	b, _ := Duration(90 * time.Second).MarshalText()
	if string(b) != "1m30s" {
		t.Errorf("MarshalText = %q", b)
	}
}

func TestSecretResolution(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "webhook.secret"), []byte("from-file-value\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "empty.secret"), []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	abs := filepath.Join(dir, "webhook.secret")
	t.Setenv("HG_TEST_TOKEN", "from-env-value")
	text := fmt.Sprintf(`[[gitlab]]
url = "https://gitlab.example.com"
token = "env:HG_TEST_TOKEN"

[[secret]]
project = "group/*"
token = "file:webhook.secret"
signing_key = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

[[secret]]
project = "*"
token = "file:%s"

[[secret]]
project = "literal/proj"
token = "literal-value"
`, abs)
	path := filepath.Join(dir, "hookgate.toml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name   string
		s      Secret
		value  string
		source string
	}{
		{"gitlab.token", cfg.GitLab[0].Token, "from-env-value", "env:HG_TEST_TOKEN"},
		{"secret[0].token", cfg.Secret[0].Token, "from-file-value", "file:webhook.secret"},
		{"secret[0].signing_key", cfg.Secret[0].SigningKey, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "literal"},
		{"secret[1].token", cfg.Secret[1].Token, "from-file-value", "file:" + abs},
		{"secret[2].token", cfg.Secret[2].Token, "literal-value", "literal"},
	}
	for _, c := range checks {
		if c.s.Value() != c.value || !c.s.IsSet() || c.s.Source() != c.source {
			t.Errorf("%s = %q (set %v, source %q), want %q from %q", c.name, c.s.Value(), c.s.IsSet(), c.s.Source(), c.value, c.source)
		}
	}
	if cfg.Secret[1].SigningKey.IsSet() || cfg.Secret[1].SigningKey.String() != "" {
		t.Errorf("unset signing key: IsSet %v, String %q", cfg.Secret[1].SigningKey.IsSet(), cfg.Secret[1].SigningKey)
	}

	// Redaction: no way of printing the config shows a secret value.
	js, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var tm strings.Builder
	if err := toml.NewEncoder(&tm).Encode(cfg); err != nil {
		t.Fatal(err)
	}
	dumps := map[string]string{"json": string(js), "toml": tm.String()}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%d", "%x", "%q"} {
		dumps[verb] = fmt.Sprintf(verb, cfg)
		dumps["*"+verb] = fmt.Sprintf(verb, *cfg)
	}
	for verb, out := range dumps {
		for _, c := range checks {
			if strings.Contains(out, c.value) || strings.Contains(out, fmt.Sprintf("%x", c.value)) {
				t.Errorf("%s of the config shows %s's value: %s", verb, c.name, out)
			}
		}
	}
	if !strings.Contains(string(js), `"Token":"[redacted]"`) {
		t.Errorf("json does not show [redacted]: %s", js)
	}

	// Empty file secret.
	bad := writeConfig(t, fmt.Sprintf("[[secret]]\nproject = \"*\"\ntoken = \"file:%s\"\n", filepath.Join(dir, "empty.secret")))
	_, err = Load(bad)
	want := fmt.Sprintf(`F:3:9: secret file %q for secret.token is empty`, filepath.Join(dir, "empty.secret"))
	if got := problems(bad, err); len(got) != 1 || got[0] != want {
		t.Errorf("empty secret file: %q, want %q", got, want)
	}
}

func TestSecretFileLimits(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, make([]byte, maxSecretFile+1), 0o600); err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{
		big:         `F:3:9: cannot read secret file %q for secret.token: larger than 65536 bytes`,
		dir:         `F:3:9: cannot read secret file %q for secret.token: not a regular file`,
		"/dev/zero": `F:3:9: cannot read secret file %q for secret.token: not a regular file`,
	} {
		path := writeConfig(t, fmt.Sprintf("[[secret]]\nproject = \"*\"\ntoken = \"file:%s\"\n", file))
		_, err := Load(path)
		if got := problems(path, err); len(got) != 1 || got[0] != fmt.Sprintf(want, file) {
			t.Errorf("%s: got %q, want %q", file, got, fmt.Sprintf(want, file))
		}
	}
}

func TestErrorListSortsByPosition(t *testing.T) {
	e := &diag.Error{File: "a.toml", Line: 3, Col: 7, Msg: "bad"}
	wrapped := fmt.Errorf("loading: %w", errorList{e, {File: "a.toml", Line: 1, Msg: "first"}}.err())
	got := diag.Errors(wrapped)
	if len(got) != 2 || got[0].Msg != "first" || got[1] != e {
		t.Errorf("Errors(wrapped) = %v", got)
	}
	if (errorList{}).err() != nil {
		t.Error("empty errorList gives an error")
	}
}

func TestCheckProjectPattern(t *testing.T) {
	for p, ok := range map[string]bool{
		"*": true, "group/proj": true, "group/*": true, "group/**": true, "g/*/p": true,
		"g/sub/**": true, "a-[bc]/x": true, "**/x": true, "a/**/b": true, "{a,b}/*": true,
		"": false, "group/[": false, "a/{b": false,
	} {
		if err := CheckProjectPattern(p); (err == nil) != ok {
			t.Errorf("CheckProjectPattern(%q) = %v, want ok=%v", p, err, ok)
		}
	}
}

func TestDecodeSigningKey(t *testing.T) {
	for key, want := range map[string]string{
		"whsec_aGVsbG8=": "hello",
		"whsec_aGVsbG8":  "hello", // unpadded
	} {
		got, err := DecodeSigningKey(key)
		if err != nil || string(got) != want {
			t.Errorf("DecodeSigningKey(%q) = %q, %v", key, got, err)
		}
	}
	for _, key := range []string{"aGVsbG8=", "whsec_", "whsec_***", "WHSEC_aGVsbG8="} {
		_, err := DecodeSigningKey(key)
		if err == nil {
			t.Errorf("DecodeSigningKey(%q) accepted", key)
		} else if strings.Contains(err.Error(), strings.TrimPrefix(key, "whsec_")) && key != "whsec_" {
			t.Errorf("error %q shows the key", err)
		}
	}
}
