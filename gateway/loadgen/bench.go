package loadgen

import (
	"context"
	_ "embed"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
)

// NoteHook is the default delivery: a 4 KB GitLab Note Hook on a merge
// request (a copy of examples/packit/events/note_build.json).
//
//go:embed note_hook.json
var NoteHook []byte

// Plan is a whole measurement: optionally the two floors, then the gateway,
// all with the same load.
type Plan struct {
	// Load is the load of every run; its URL, Name, Follow and RSS are
	// those of the gateway run (the floors are not followed).
	Load Options
	// Floors runs the bare and the durable floor first, in this process,
	// with their files in FloorDir (a temporary folder when empty).
	Floors   bool
	FloorDir string
	// ExecFloor, when set, is a command run once per delivery by the
	// fork/exec floor (StartExecFloor), measured before the gateway.
	ExecFloor []string
	// Progress, when set, receives a line as each run starts.
	Progress io.Writer
	// CPUProfile, when set, receives a CPU profile of this process during
	// the gateway run (the load generator included; with an in-process
	// gateway, the gateway too).
	CPUProfile io.Writer
	// MemProfile, when set, receives a heap profile of this process taken
	// after the gateway run (after the drain, before an in-process gateway
	// stops), following a garbage collection: what stays live.
	MemProfile io.Writer
}

// Bench runs the plan and returns the evaluated report.
func Bench(ctx context.Context, p Plan) (*Report, error) {
	rep := &Report{}
	if p.Floors {
		dir := p.FloorDir
		if dir == "" {
			d, err := os.MkdirTemp("", "hookgate-floor-")
			if err != nil {
				return nil, fmt.Errorf("loadgen: %w", err)
			}
			defer os.RemoveAll(d)
			dir = d
		}
		var err error
		if rep.Bare, err = runFloor(ctx, p, "bare floor", StartBareFloor); err != nil {
			return nil, err
		}
		if rep.Durable, err = runFloor(ctx, p, "durable floor", func() (*Floor, error) { return StartDurableFloor(dir) }); err != nil {
			return nil, err
		}
	}
	if len(p.ExecFloor) > 0 {
		var err error
		if rep.Exec, err = runFloor(ctx, p, "fork/exec floor", func() (*Floor, error) { return StartExecFloor(p.ExecFloor) }); err != nil {
			return nil, err
		}
		rep.Exec.Command = p.ExecFloor
	}
	o := p.Load
	if o.Name == "" {
		o.Name = "gateway"
	}
	p.progress("running %s at %s", o.Name, o.URL)
	if p.CPUProfile != nil {
		if err := pprof.StartCPUProfile(p.CPUProfile); err != nil {
			return nil, fmt.Errorf("loadgen: cpu profile: %w", err)
		}
	}
	g, err := Run(ctx, o)
	if p.CPUProfile != nil {
		pprof.StopCPUProfile()
	}
	if err != nil {
		return nil, err
	}
	if p.MemProfile != nil {
		runtime.GC()
		if err := pprof.WriteHeapProfile(p.MemProfile); err != nil {
			return nil, fmt.Errorf("loadgen: heap profile: %w", err)
		}
	}
	rep.Gateway = g
	rep.Evaluate()
	return rep, nil
}

func runFloor(ctx context.Context, p Plan, name string, start func() (*Floor, error)) (*Result, error) {
	f, err := start()
	if err != nil {
		return nil, err
	}
	defer f.Close()
	o := p.Load
	o.Name, o.URL, o.Follow, o.RSS, o.AnonRSS = name, f.URL, nil, nil, nil
	p.progress("running %s at %s", name, f.URL)
	return Run(ctx, o)
}

func (p Plan) progress(format string, args ...any) {
	if p.Progress != nil {
		fmt.Fprintf(p.Progress, format+"\n", args...)
	}
}
