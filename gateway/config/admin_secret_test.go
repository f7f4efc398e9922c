package config

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// TestAdminTokenIndirections: the admin token takes "env:" and "file:"
// like every other secret (it was once left unresolved, which silently
// turned the admin API off), and its errors name the source, not a value.
func TestAdminTokenIndirections(t *testing.T) {
	t.Setenv("HG_TEST_ADMIN_TOKEN", "from-env")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "admin"), []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for raw, want := range map[string]string{
		"env:HG_TEST_ADMIN_TOKEN":             "from-env",
		"file:" + filepath.Join(dir, "admin"): "from-file",
		"literal-admin":                       "literal-admin",
	} {
		cfg, err := Load(writeConfig(t, "[admin]\ntoken = \""+raw+"\"\n"))
		if err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		if got := cfg.Admin.Token.Value(); got != want || !cfg.Admin.Token.IsSet() {
			t.Errorf("%s: token %q, want %q", raw, got, want)
		}
	}
	path := writeConfig(t, "[admin]\ntoken = \"env:HG_TEST_ADMIN_UNSET\"\n")
	_, err := Load(path)
	if got, want := problems(path, err), []string{"F:2:9: environment variable HG_TEST_ADMIN_UNSET for admin.token is not set"}; !reflect.DeepEqual(got, want) {
		t.Errorf("unset: %q, want %q", got, want)
	}
}
