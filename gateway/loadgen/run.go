package loadgen

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
)

// HookPath is where deliveries are posted, on the target and the floors.
const HookPath = "/hooks/gitlab"

// Options describe one load run against one server.
type Options struct {
	// Name labels the run in the report ("gateway", "durable floor", ...).
	Name string
	// URL is the server's base URL (scheme, host and port, no path); it
	// must be a loopback address.
	URL string
	// Payload is what every request sends.
	Payload *Payload
	// Conns is the number of concurrent keep-alive connections, each
	// with one request in flight. Default 32.
	Conns int
	// Duration stops the run after this long; Requests after that many
	// requests; whichever comes first. With neither, Duration is 10s.
	Duration time.Duration
	Requests int
	// Timeout bounds one request. Default 10s (GitLab's own limit).
	Timeout time.Duration
	// Client is the HTTP client implementation: ClientFast (default) or
	// ClientNetHTTP.
	Client string
	// Keys is how each request's Idempotency-Key (and webhook-id) is
	// made: KeysRandom (default), a random UUID as GitLab sends, or
	// KeysSequential, the run's tag and a counter. The gateway's dedupe
	// index sees random keys land all over it, sequential ones at its end.
	Keys string
	// Follow, when set, is polled every PollEvery (default 1s) during the
	// run, then until the backlog is empty or Drain (default 30s) has
	// passed, to measure end-to-end processing and the backlog.
	Follow    Follower
	PollEvery time.Duration
	Drain     time.Duration
	// RSS and AnonRSS, when set, read the server's resident memory and its
	// anonymous part every 100 ms (every PollEvery when shorter); the
	// report keeps the highest.
	RSS, AnonRSS func() (int64, error)
}

func (o *Options) defaults() error {
	if o.Payload == nil {
		return errors.New("loadgen: no payload")
	}
	if err := checkLoopback(o.URL); err != nil {
		return err
	}
	if o.Conns <= 0 {
		o.Conns = 32
	}
	if o.Duration <= 0 && o.Requests <= 0 {
		o.Duration = 10 * time.Second
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.PollEvery <= 0 {
		o.PollEvery = time.Second
	}
	if o.Drain <= 0 {
		o.Drain = 30 * time.Second
	}
	if o.Name == "" {
		o.Name = "target"
	}
	switch o.Client {
	case "":
		o.Client = ClientFast
	case ClientFast, ClientNetHTTP:
	default:
		return fmt.Errorf("loadgen: unknown client %q (want %q or %q)", o.Client, ClientFast, ClientNetHTTP)
	}
	switch o.Keys {
	case "":
		o.Keys = KeysRandom
	case KeysRandom, KeysSequential:
	default:
		return fmt.Errorf("loadgen: unknown keys %q (want %q or %q)", o.Keys, KeysRandom, KeysSequential)
	}
	return nil
}

// checkLoopback refuses any target that is not on this machine: the load
// tool is for measuring, not for flooding someone else's server.
func checkLoopback(rawURL string) error {
	rest, ok := strings.CutPrefix(rawURL, "http://")
	if !ok {
		return fmt.Errorf("loadgen: target %q: only http:// URLs are supported", rawURL)
	}
	host, _, err := net.SplitHostPort(strings.TrimSuffix(rest, "/"))
	if err != nil {
		return fmt.Errorf("loadgen: target %q: want http://HOST:PORT: %w", rawURL, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("loadgen: target %q is not a loopback address", rawURL)
	}
	return nil
}

// The ways Options.Keys makes Idempotency-Keys.
const (
	KeysRandom     = "random"
	KeysSequential = "sequential"
)

// randomKey is a random (version 4) UUID, as GitLab's Idempotency-Key.
func randomKey(uint64) string { return uuid.NewString() }

// sequentialKeys makes the keys tag-1, tag-2, ...: unique across runs
// against the same store, and nearly in the order they sort.
func sequentialKeys(tag string) func(seq uint64) string {
	return func(seq uint64) string { return tag + "-" + strconv.FormatUint(seq, 10) }
}

// runTag is a random prefix of the sequential Idempotency-Keys of one run.
func runTag() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "bench-" + hex.EncodeToString(b[:])
}

// worker is one connection's share of a run.
type worker struct {
	lat      Histogram
	statuses map[string]uint64
	errors   uint64
	firstErr string
	queued   uint64
}

// Run fires o.Payload at o.URL+HookPath from o.Conns connections and
// reports what came back. A failed request (transport error or timeout)
// counts in Errors; every answer counts in Statuses under its code and,
// for hookgate-style JSON answers, its "status" ("202 queued"). Run
// returns an error only when the options are unusable; a server that
// refuses everything gives a report full of errors.
func Run(ctx context.Context, o Options) (*Result, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	url := strings.TrimSuffix(o.URL, "/") + HookPath
	newSender := func() sender { return newNetHTTP(url, o) }
	if o.Client == ClientFast {
		hc := newHostClient(url, o)
		defer hc.CloseIdleConnections()
		newSender = func() sender { return newFast(hc, url, o) }
	}
	nextKey := sequentialKeys(runTag())
	if o.Keys == KeysRandom {
		nextKey = randomKey
	}

	loadCtx := ctx
	if o.Duration > 0 {
		var cancel context.CancelFunc
		loadCtx, cancel = context.WithTimeout(ctx, o.Duration)
		defer cancel()
	}

	var seq, queued atomic.Uint64
	f := newFollowing(o, &queued)
	f.start(ctx)

	workers := make([]*worker, o.Conns)
	var wg sync.WaitGroup
	machine := probeMachine()
	start := time.Now()
	for i := range workers {
		w := &worker{statuses: map[string]uint64{}}
		workers[i] = w
		snd := newSender()
		wg.Go(func() {
			defer snd.close()
			for loadCtx.Err() == nil {
				n := seq.Add(1)
				if o.Requests > 0 && n > uint64(o.Requests) {
					return
				}
				w.fire(loadCtx, snd, o.Payload.headers(nextKey(n), time.Now()), &queued)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)

	r := &Result{Name: o.Name, URL: o.URL, Conns: o.Conns, Keys: o.Keys, Elapsed: elapsed, Statuses: map[string]uint64{},
		Machine: machine.done()}
	var lat Histogram
	for _, w := range workers {
		lat.Merge(&w.lat)
		for k, v := range w.statuses {
			r.Statuses[k] += v
			if strings.HasPrefix(k, "2") {
				r.Accepted += v
			}
		}
		r.Errors += w.errors
		if r.FirstError == "" {
			r.FirstError = w.firstErr
		}
	}
	r.Sent = lat.Count() + r.Errors
	r.Queued = queued.Load()
	r.AcceptedPerSec = float64(r.Accepted) / elapsed.Seconds()
	r.Latency = Latency{
		P50: lat.Quantile(0.50), P90: lat.Quantile(0.90), P99: lat.Quantile(0.99),
		Max: lat.Max(), Mean: lat.Mean(),
	}
	f.finish(ctx, r, start, elapsed)
	return r, nil
}

// fire sends one request and records its answer.
func (w *worker) fire(ctx context.Context, snd sender, h []header, queued *atomic.Uint64) {
	t0 := time.Now()
	code, body, err := snd.send(ctx, h)
	if ctx.Err() != nil {
		return // the run ended while this request was in flight: not counted
	}
	if err != nil {
		w.fail(err)
		return
	}
	w.lat.Record(time.Since(t0))
	key := statusKey(code, body)
	w.statuses[key]++
	if key == "202 queued" {
		queued.Add(1)
	}
}

func (w *worker) fail(err error) {
	w.errors++
	if w.firstErr == "" {
		w.firstErr = err.Error()
	}
}

// statusKey is the code, followed by the JSON answer's "status" when it
// has one ("202 queued", "200 duplicate", "401").
func statusKey(code int, body []byte) string {
	s := fmt.Sprint(code)
	const field = `"status":"`
	i := bytes.Index(body, []byte(field))
	if i < 0 {
		return s
	}
	rest := body[i+len(field):]
	j := bytes.IndexByte(rest, '"')
	if j <= 0 || j > 32 {
		return s
	}
	return s + " " + string(rest[:j])
}
