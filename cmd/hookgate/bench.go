package main

import (
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
)

func bench(args []string) int {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	target := fs.String("target", "", "base URL of a running gateway on this machine, e.g. http://127.0.0.1:8080")
	self := fs.Bool("self", false, "start a gateway in this process (with --config, or a generated one) and measure it")
	cfgPath := fs.String("config", "", "with --self: the gateway's configuration (default: generated: one rule, one Lua plugin commenting in dry run)")
	workers := fs.Int("workers", loadgen.DefaultBenchWorkers, "with --self and no --config: worker count")
	ingestOnly := fs.Bool("ingest-only", false, "with --self: serve only the receiver and the store (no workers): durable ingest alone")
	floors := fs.Bool("floors", false, "first run the same load against the bare and the durable floor, and print ratios")
	conns := fs.Int("conns", 32, "concurrent keep-alive connections")
	client := fs.String("client", loadgen.ClientFast, `HTTP client of the load generator: "fasthttp" (light) or "net/http"`)
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
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of this process during the gateway run to FILE (go tool pprof)")
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

	url := *target
	rss, anon := loadgen.ProcRSS(*pid), loadgen.ProcAnonRSS(*pid)
	if *self {
		if *cfgPath != "" && isSet(fs, "workers") {
			fmt.Fprintln(os.Stderr, "hookgate bench: --workers only applies to the generated configuration")
			return 2
		}
		g, cleanup, err := startSelf(*cfgPath, *workers, *verbose, *ingestOnly)
		if err != nil {
			fmt.Fprintf(os.Stderr, "hookgate bench: %v\n", err)
			return 1
		}
		defer cleanup()
		url = g.URL
		if *token == "" {
			*token = g.Token
		}
		if *signingKey == "" {
			*signingKey = g.SigningKey
		}
		if *adminToken == "" {
			*adminToken = g.AdminToken
		}
		if *pid == 0 {
			rss, anon = loadgen.ProcRSS(os.Getpid()), loadgen.ProcAnonRSS(os.Getpid())
		}
	} else if *pid == 0 {
		rss, anon = nil, nil
	}

	payload, err := loadgen.NewPayload(body, *eventType, *note, *token, *signingKey)
	if err != nil {
		fmt.Fprintf(os.Stderr, "hookgate bench: %v\n", err)
		return 1
	}
	var follow loadgen.Follower
	if !*ingestOnly {
		if follow, err = loadgen.Detect(ctx, url, *adminURL, *adminToken); err != nil {
			fmt.Fprintf(os.Stderr, "hookgate bench: following the backlog: %v\n", err)
			return 1
		}
		if follow == nil {
			fmt.Fprintln(os.Stderr, "hookgate bench: /metrics has no queue gauge and no --admin-token was given: processing is not followed")
		}
	}
	plan := loadgen.Plan{
		Load: loadgen.Options{
			URL: url, Payload: payload, Conns: *conns, Duration: *duration, Requests: *requests, Client: *client,
			Follow: follow, PollEvery: *poll, Drain: *drain, RSS: rss, AnonRSS: anon,
		},
		Floors:   *floors,
		Progress: os.Stderr,
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintf(os.Stderr, "hookgate bench: %v\n", err)
			return 1
		}
		defer f.Close()
		plan.CPUProfile = f
	}
	rep, err := loadgen.Bench(ctx, plan)
	if err != nil {
		fmt.Fprintf(os.Stderr, "hookgate bench: %v\n", err)
		return 1
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return 1
		}
	} else {
		rep.Print(os.Stdout)
	}
	return 0
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
