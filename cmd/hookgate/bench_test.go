package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBenchCommand runs `hookgate bench --self --floors` briefly and reads
// its JSON report; timings are not checked, only that it measured.
func TestBenchCommand(t *testing.T) {
	r := hookgate(t, t.TempDir(), "bench", "--self", "--floors", "--requests", "200", "--conns", "4",
		"--poll", "50ms", "--exec-floor", `sh -c 'cat > /dev/null'`, "--json")
	if r.code != 0 {
		t.Fatalf("exit %d\nstderr: %s", r.code, r.stderr)
	}
	type run struct {
		Sent     uint64            `json:"sent"`
		Statuses map[string]uint64 `json:"statuses"`
		Pipeline *struct {
			Source string `json:"source"`
		} `json:"pipeline"`
	}
	var rep struct {
		Gateway run `json:"gateway"`
		Durable run `json:"durable_floor"`
		Bare    run `json:"bare_floor"`
		Exec    run `json:"exec_floor"`
		Ratios  struct {
			EndToEndVsExec float64 `json:"end_to_end_vs_exec"`
		} `json:"ratios"`
		Checks []struct {
			Name string `json:"name"`
		} `json:"checks"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, r.stdout)
	}
	if rep.Gateway.Sent != 200 || rep.Gateway.Statuses["202 queued"] != 200 || rep.Durable.Sent != 200 || rep.Bare.Sent != 200 {
		t.Errorf("report: %+v", rep)
	}
	if rep.Exec.Sent != 200 || rep.Exec.Statuses["202 queued"] != 200 || rep.Ratios.EndToEndVsExec <= 0 {
		t.Errorf("fork/exec floor: %+v, ratio %v", rep.Exec, rep.Ratios.EndToEndVsExec)
	}
	if rep.Gateway.Pipeline == nil || len(rep.Checks) == 0 {
		t.Errorf("pipeline %+v, checks %+v", rep.Gateway.Pipeline, rep.Checks)
	}

	// Two rounds, each on a new in-process gateway, judged on medians.
	r = hookgate(t, t.TempDir(), "bench", "--self", "--floors", "--ingest-only", "--requests", "100", "--conns", "4",
		"--rounds", "2", "--json")
	if r.code != 0 {
		t.Fatalf("--rounds 2: exit %d\nstderr: %s", r.code, r.stderr)
	}
	var rounds struct {
		Rounds []struct {
			Gateway run `json:"gateway"`
		} `json:"rounds"`
		Median struct {
			Throughput float64 `json:"throughput_vs_durable"`
		} `json:"median_ratios"`
		Checks []struct {
			Name string `json:"name"`
		} `json:"checks"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rounds); err != nil {
		t.Fatalf("--rounds report is not JSON: %v\n%s", err, r.stdout)
	}
	if len(rounds.Rounds) != 2 || rounds.Median.Throughput <= 0 || len(rounds.Checks) == 0 {
		t.Errorf("--rounds 2 report: %+v", rounds)
	}
	for _, rd := range rounds.Rounds {
		if rd.Gateway.Sent != 100 || rd.Gateway.Statuses["202 queued"] != 100 {
			t.Errorf("a round: %+v (each round a new gateway, so all 100 are new)", rd.Gateway)
		}
	}

	for _, args := range [][]string{
		{"bench"},
		{"bench", "--self", "--rounds", "0"},
		{"bench", "--self", "--ingest-only", "--exec-floor", "cat"},
		{"bench", "--self", "--exec-floor", "'unterminated"},
		{"bench", "--self", "--exec-floor", " "},
		{"bench", "--self", "--rounds", "2", "--cpuprofile", "x.prof"},
		{"bench", "--self", "--rounds", "2", "--memprofile", "x.prof"},
		{"bench", "--self", "--target", "http://127.0.0.1:1"},
		{"bench", "--target", "http://192.0.2.1:80", "--requests", "1"},
	} {
		if r := hookgate(t, t.TempDir(), args...); r.code == 0 || r.stderr == "" {
			t.Errorf("%s: exit %d, stderr %q", strings.Join(args, " "), r.code, r.stderr)
		}
	}
}

// TestBenchProfiles: --cpuprofile and --memprofile write pprof profiles
// (gzipped protocol buffers naming their sample types).
func TestBenchProfiles(t *testing.T) {
	dir := t.TempDir()
	r := hookgate(t, dir, "bench", "--self", "--ingest-only", "--requests", "200", "--conns", "4",
		"--cpuprofile", "cpu.prof", "--memprofile", "heap.prof")
	if r.code != 0 {
		t.Fatalf("exit %d\nstderr: %s", r.code, r.stderr)
	}
	for file, sampleType := range map[string]string{"cpu.prof": "cpu", "heap.prof": "inuse_space"} {
		f, err := os.Open(filepath.Join(dir, file))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		z, err := gzip.NewReader(f)
		if err != nil {
			t.Fatalf("%s: not gzipped: %v", file, err)
		}
		b, err := io.ReadAll(z)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if !bytes.Contains(b, []byte(sampleType)) {
			t.Errorf("%s: no %q sample type in %d bytes", file, sampleType, len(b))
		}
	}
}
