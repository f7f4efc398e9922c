package examples_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestSystemdUnit checks examples/systemd/hookgate.service with systemd's
// own tools: `systemd-analyze verify` (keys and sections are valid) and
// `systemd-analyze security --offline` (exposure at most 2.0 of 10). It
// also pins the settings docs/operations.md relies on.
func TestSystemdUnit(t *testing.T) {
	unit, err := os.ReadFile(filepath.Join("systemd", "hookgate.service"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"ExecStart=/usr/local/bin/hookgate serve --config /etc/hookgate/hookgate.toml\n",
		"ExecReload=/bin/kill -HUP $MAINPID\n",
		"StateDirectory=hookgate\n",
		"ProtectSystem=strict\n",
		"NoNewPrivileges=yes\n",
		"LimitNOFILE=",
		"MemoryMax=",
		"Restart=always\n",
		`path = "/var/lib/hookgate/hookgate.db"`,
	} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("unit lacks %q", want)
		}
	}

	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed")
	}
	// verify wants ExecStart to exist: point it at any executable.
	dir := t.TempDir()
	path := filepath.Join(dir, "hookgate.service")
	text := strings.ReplaceAll(string(unit), "/usr/local/bin/hookgate", "/bin/true")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"verify", path},
		{"security", "--offline=true", "--threshold=20", path},
	} {
		cmd := exec.Command(analyze, args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil || (args[0] == "verify" && len(strings.TrimSpace(string(out))) > 0) {
			t.Errorf("systemd-analyze %s: %v\n%s", args[0], err, out)
		}
	}
}
