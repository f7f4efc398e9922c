package config

import (
	"reflect"
	"testing"
	"time"
)

func TestFairnessKeys(t *testing.T) {
	cfg, err := Load(writeConfig(t, "[fairness]\ncommands_per_user = -1\ncommand_window = \"30s\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := Fairness{CommandsPerUser: -1, CommandsPerProject: 30, CommandWindow: Duration(30 * time.Second)}
	if cfg.Fairness != want {
		t.Errorf("fairness = %+v, want %+v", cfg.Fairness, want)
	}

	path := writeConfig(t, "[workers]\ncount = 4\n\n[fairness]\ncommands_per_project = \"many\"\ncommand_window = \"-1m\"\ncommand_limit = 3\n")
	_, err = Load(path)
	got := problems(path, err)
	wantErrs := []string{
		"F:5:24: wrong type for fairness.commands_per_project: want an integer, got a string",
		`F:6:18: negative duration "-1m" for fairness.command_window`,
		"F:7:1: unknown key fairness.command_limit",
	}
	if !reflect.DeepEqual(got, wantErrs) {
		t.Errorf("got %q,\nwant %q", got, wantErrs)
	}
}
