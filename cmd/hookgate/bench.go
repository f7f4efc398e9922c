package main

import (
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/hookgate/hookgate/gateway/loadgen"
	"mvdan.cc/sh/v3/shell"
)

func bench(args []string) int {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	target := fs.String("target", "", "base URL of a running gateway on this machine, e.g. http://127.0.0.1:8080")
	self := fs.Bool("self", false, "start a gateway in this process (with --config, or a generated one) and measure it")
	cfgPath := fs.String("config", "", "with --self: the gateway's configuration (default: generated: one rule, one Lua plugin commenting in dry run)")
	workers := fs.Int("workers", loadgen.DefaultBenchWorkers, "with --self and no --config: worker count")
	ingestOnly := fs.Bool("ingest-only", false, "with --self: serve only the receiver and the store (no workers): durable ingest alone")
	floors := fs.Bool("floors", false, "first run the same load against the bare and the durable floor, and print ratios")
	execFloor := fs.String("exec-floor", "", `first run the same load against a fork/exec floor running CMD once per delivery (body on stdin; words split as a shell would, no shell run), and print end to end as a ratio to it, e.g. 'python3 -c "import sys, json; json.load(sys.stdin)"'`)
	conns := fs.Int("conns", 32, "concurrent keep-alive connections")
	client := fs.String("client", loadgen.ClientFast, `HTTP client of the load generator: "fasthttp" (light) or "net/http"`)
	keys := fs.String("keys", loadgen.KeysRandom, `Idempotency-Keys: "random" (UUIDs, as GitLab sends) or "sequential" (a counter: the dedupe index's best case)`)
	duration := fs.Duration("duration", 10*time.Second, "length of each run (0: until --requests)")
	requests := fs.Int("requests", 0, "stop each run after this many requests (0: until --duration)")
	eventFile := fs.String("event", "", "delivery body to send (default: a 4 KB Note Hook on a merge request)")
	eventType := fs.String("event-type", "Note Hook", "X-Gitlab-Event header")
	note := fs.String("note", loadgen.DefaultNote, `note text put in object_attributes.note ("" keeps the body's)`)
	token := fs.String("token", "", "X-Gitlab-Token to send (with --self: the first [[secret]]'s)")
	signingKey := fs.String("signing-key", "", `sign deliveries with this "whsec_..." key (with --self: the first [[secret]]'s)`)
	adminURL := fs.String("admin-url", "", "base URL of the admin API when it has its own address")
	adminToken := fs.String("admin-token", "", "admin API token, to follow the backlog when /metrics has no queue gauge")
	pid := fs.Int("pid", 0, "process id of the gateway, to sample its resident memory (Linux)")
	poll := fs.Duration("poll", time.Second, "how often to sample the backlog")
	drain := fs.Duration("drain", 30*time.Second, "how long to wait after the load for the backlog to empty")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	rounds := fs.Int("rounds", 1, "repeat the whole measurement N times (with --self, a new gateway each round) and judge the targets on the median of the per-round ratios")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of this process during the gateway run to FILE (go tool pprof)")
	memProfile := fs.String("memprofile", "", "write a heap profile of this process after the gateway run to FILE (go tool pprof)")
	verbose := fs.Bool("v", false, "with --self: show the gateway's log")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if (*target == "") == !*self {
		fmt.Fprintln(os.Stderr, "hookgate bench: give exactly one of --target URL or --self")
		return 2
	}
	if *ingestOnly && !*self {
		fmt.Fprintln(os.Stderr, "hookgate bench: --ingest-only needs --self")
		return 2
	}
	var execArgv []string
	if *execFloor != "" {
		if *ingestOnly {
			fmt.Fprintln(os.Stderr, "hookgate bench: --exec-floor is compared end to end: leave out --ingest-only")
			return 2
		}
		argv, err := shell.Fields(*execFloor, nil)
		if err != nil || len(argv) == 0 {
			fmt.Fprintf(os.Stderr, "hookgate bench: --exec-floor %q: not a command line: %v\n", *execFloor, err)
			return 2
		}
		execArgv = argv
	}
	if *rounds < 1 {
		fmt.Fprintln(os.Stderr, "hookgate bench: --rounds must be at least 1")
		return 2
	}
	if *rounds > 1 && (*cpuProfile != "" || *memProfile != "") {
		fmt.Fprintln(os.Stderr, "hookgate bench: --cpuprofile and --memprofile profile one round: leave out --rounds")
		return 2
	}
	if *self && *cfgPath != "" && isSet(fs, "workers") {
		fmt.Fprintln(os.Stderr, "hookgate bench: --workers only applies to the generated configuration")
		return 2
	}
	if *self {
		setGCPercent() // as serve runs
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	body := loadgen.NoteHook
	if *eventFile != "" {
		b, err := os.ReadFile(*eventFile)
		if err != nil {
			fmt.Fprintf(os.Stderr, "hookgate bench: %v\n", err)
			return 1
		}
		body = b
	}

	var profile, memProf io.Writer
	for _, o := range []struct {
		path string
		w    *io.Writer
	}{{*cpuProfile, &profile}, {*memProfile, &memProf}} {
		if o.path == "" {
			continue
		}
		f, err := os.Create(o.path)
		if err != nil {
			fmt.Fprintf(os.Stderr, "hookgate bench: %v\n", err)
			return 1
		}
		defer f.Close()
		*o.w = f
	}
	r := benchRound{
		target: *target, self: *self, cfgPath: *cfgPath, workers: *workers, ingestOnly: *ingestOnly, verbose: *verbose,
		token: *token, signingKey: *signingKey, adminURL: *adminURL, adminToken: *adminToken, pid: *pid,
		body: body, eventType: *eventType, note: *note, floors: *floors, execFloor: execArgv, profile: profile, memProfile: memProf,
		load: loadgen.Options{
			Conns: *conns, Duration: *duration, Requests: *requests, Client: *client, Keys: *keys, PollEvery: *poll, Drain: *drain,
		},
	}
	reports := make([]*loadgen.Report, 0, *rounds)
	for i := range *rounds {
		if *rounds > 1 {
			fmt.Fprintf(os.Stderr, "round %d of %d\n", i+1, *rounds)
		}
		rep, err := r.run(ctx)
		if err != nil {
			fmt.Fprintf(os.Stderr, "hookgate bench: %v\n", err)
			return 1
		}
		reports = append(reports, rep)
	}
	var out interface{ Print(io.Writer) } = reports[0]
	if *rounds > 1 {
		out = loadgen.Summarize(reports)
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return 1
		}
	} else {
		out.Print(os.Stdout)
	}
	return 0
}

// benchRound is one measurement: with self, a new in-process gateway
// (or ingest path) for the round.
type benchRound struct {
	target, cfgPath           string
	self, ingestOnly, verbose bool
	workers, pid              int
	token, signingKey         string
	adminURL, adminToken      string
	body                      []byte
	eventType, note           string
	floors                    bool
	execFloor                 []string
	profile, memProfile       io.Writer
	load                      loadgen.Options
}

func (b benchRound) run(ctx context.Context) (*loadgen.Report, error) {
	url, token, signingKey, adminToken := b.target, b.token, b.signingKey, b.adminToken
	rss, anon := loadgen.ProcRSS(b.pid), loadgen.ProcAnonRSS(b.pid)
	if b.self {
		g, cleanup, err := startSelf(b.cfgPath, b.workers, b.verbose, b.ingestOnly)
		if err != nil {
			return nil, err
		}
		defer cleanup()
		url = g.URL
		token = cmp.Or(token, g.Token)
		signingKey = cmp.Or(signingKey, g.SigningKey)
		adminToken = cmp.Or(adminToken, g.AdminToken)
		if b.pid == 0 {
			rss, anon = loadgen.ProcRSS(os.Getpid()), loadgen.ProcAnonRSS(os.Getpid())
		}
	} else if b.pid == 0 {
		rss, anon = nil, nil
	}
	payload, err := loadgen.NewPayload(b.body, b.eventType, b.note, token, signingKey)
	if err != nil {
		return nil, err
	}
	var follow loadgen.Follower
	if !b.ingestOnly {
		if follow, err = loadgen.Detect(ctx, url, b.adminURL, adminToken); err != nil {
			return nil, fmt.Errorf("following the backlog: %w", err)
		}
		if follow == nil {
			fmt.Fprintln(os.Stderr, "hookgate bench: /metrics has no queue gauge and no --admin-token was given: processing is not followed")
		}
	}
	load := b.load
	load.URL, load.Payload, load.Follow, load.RSS, load.AnonRSS = url, payload, follow, rss, anon
	return loadgen.Bench(ctx, loadgen.Plan{Load: load, Floors: b.floors, ExecFloor: b.execFloor, Progress: os.Stderr, CPUProfile: b.profile, MemProfile: b.memProfile})
}

// isSet reports whether the flag was given on the command line.
func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// startSelf starts the in-process gateway (or only its ingest path), on a
// generated configuration in a temporary folder when cfgPath is empty.
func startSelf(cfgPath string, workers int, verbose, ingestOnly bool) (*loadgen.SelfGateway, func(), error) {
	cleanup := func() {}
	if cfgPath == "" {
		dir, err := os.MkdirTemp("", "hookgate-bench-")
		if err != nil {
			return nil, nil, err
		}
		cleanup = func() { _ = os.RemoveAll(dir) }
		if cfgPath, err = loadgen.WriteBenchConfig(dir, workers); err != nil {
			cleanup()
			return nil, nil, err
		}
	}
	var logw io.Writer = io.Discard
	if verbose {
		logw = os.Stderr
	}
	start := loadgen.StartGateway
	if ingestOnly {
		start = loadgen.StartIngest
	}
	g, err := start(cfgPath, logw)
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	return g, func() {
		if err := g.Close(); err != nil {
			fmt.Fprintf(os.Stderr, "hookgate bench: %v\n", err)
		}
		cleanup()
	}, nil
}
