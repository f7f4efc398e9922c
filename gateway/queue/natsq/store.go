// Package natsq owns hookgate's NATS JetStream queue backend, for running
// several hookgate replicas that share the work: the queue is a JetStream
// stream with one shared durable pull consumer, and the delivery log, the
// deduplication keys and the Lua plugins' key-value store are JetStream KV
// buckets. Every replica connected to the same stream sees the same queue,
// log and keys.
//
// # Storage
//
// With stream name S and subject P (defaults HOOKGATE, hookgate.deliveries):
//
//   - stream S, work-queue retention, subjects P.<id>: one message per
//     pending run of a delivery. A message's body is the delivery id; its
//     Nats-Msg-Id is the record's MsgID (the delivery id, or id/rN after a
//     replay). It is acknowledged (removed) when the run's outcome is
//     recorded, negatively acknowledged with a delay for a retry.
//   - consumer "hookgate" on S: durable, pull, explicit ack. Each message
//     goes to one replica at a time; a message whose replica died is
//     redelivered after AckWait. While a run lasts, the holder sends
//     in-progress acks every AckWait/3.
//   - KV S_deliveries: the delivery log records (state, outcomes), key = id.
//   - KV S_envelopes: the envelopes, written once, key = id.
//   - KV S_dedupe: idempotency key (SHA-256, hex) -> first delivery id and
//     when it was stored; entries expire after the dedupe window.
//   - KV S_kv: the plugins' keys, key = base64url(namespace).base64url(key).
//   - stream S_DEAD, subjects P.dead.<id>: one message per delivery that
//     went dead (retries exhausted, quarantined, unreadable), for
//     alerting and audits; the record in S_deliveries stays the truth and
//     Requeue replays from it.
//
// # Guarantees
//
// Enqueue returns after JetStream acknowledged the record and the message
// (replicated to a quorum when Replicas > 1): a nil error means the
// delivery will be processed even if this process dies the next instant.
// Claim marks the record running and increments Attempts (a
// compare-and-set on the record) before handing the delivery out, so a run
// that kills the process is counted; a redelivered message whose
// Attempts-Finished reached QuarantineAfter is marked dead instead.
// Processing is at least once: a run interrupted by a crash is run again by
// another replica after AckWait.
//
// See docs/scaling.md for the deployment side and enqueue.go for how
// duplicates are told apart across replicas.
package natsq

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookgate/hookgate/gateway/queue"
)

// Defaults of Options.
const (
	DefaultStream          = "HOOKGATE"
	DefaultSubject         = "hookgate.deliveries"
	DefaultDedupeWindow    = 7 * 24 * time.Hour
	DefaultQuarantineAfter = 3
	DefaultMaxAttempts     = 5
	DefaultAckWait         = time.Minute
	DefaultMaxAge          = 30 * 24 * time.Hour
	DefaultRetainFor       = 30 * 24 * time.Hour
	DefaultRetainCount     = 100000
	DefaultSweepInterval   = 5 * time.Minute
	DefaultOpTimeout       = 10 * time.Second
)

// defaultPolicy holds the values the zero fields of Options.Policy take.
var defaultPolicy = queue.Policy{
	DedupeWindow: DefaultDedupeWindow, QuarantineAfter: DefaultQuarantineAfter,
	RetainFor: DefaultRetainFor, RetainCount: DefaultRetainCount, SweepInterval: DefaultSweepInterval,
}

// consumerName is the durable consumer every replica shares.
const consumerName = "hookgate"

// Options configure a Store. Zero values mean the documented defaults.
type Options struct {
	// URLs are the NATS servers to connect to (several for a cluster).
	URLs []string
	// Name is the connection name shown by the server (default "hookgate").
	Name string
	// CredentialsFile is a NATS .creds file (user JWT and seed).
	CredentialsFile string
	// Token is a NATS authentication token. Never logged.
	Token string
	// TLSCA, TLSCert and TLSKey are PEM files: the CA to trust, and a
	// client certificate and key for mutual TLS.
	TLSCA, TLSCert, TLSKey string

	// Stream is the JetStream stream name (DefaultStream); the KV buckets
	// are named after it.
	Stream string
	// Subject is the subject prefix of the queue (DefaultSubject).
	Subject string
	// Replicas is the number of copies JetStream keeps of the stream and
	// buckets (1, 3 or 5 in a cluster). Default 1.
	Replicas int
	// MaxAge bounds how long a message waits in the stream (and how long
	// dead letters are kept). Default 30 days.
	MaxAge time.Duration
	// AckWait is how long a replica may hold a delivery without an
	// in-progress ack before JetStream gives it to another replica.
	// Default 1 minute; in-progress acks go out every AckWait/3.
	AckWait time.Duration
	// MaxAttempts is the retry budget of the workers; the consumer's
	// MaxDeliver is a backstop above it (see maxDeliver). Default 5.
	MaxAttempts int

	// Policy sets deduplication, quarantine, retention and the janitor
	// (which here also repairs orphans). Its zero fields mean
	// DefaultDedupeWindow (7 days), DefaultQuarantineAfter (3),
	// DefaultRetainFor (30 days), DefaultRetainCount (100000) and
	// DefaultSweepInterval (5 minutes); negative ones turn the feature off.
	queue.Policy

	// KVQuota bounds each namespace of the plugins' key-value store; its
	// zero fields mean queue.DefaultKVMaxKeys and DefaultKVMaxBytes,
	// negative ones no limit.
	KVQuota queue.KVQuota

	// Now is the clock used for dedupe windows, NotBefore and UpdatedAt;
	// nil means time.Now. For tests.
	Now func() time.Time
	// Logger receives quarantine, repair and janitor messages.
	Logger *slog.Logger
	// OnQuarantine, when set, is called with the id of each delivery Claim
	// marked dead for having killed the process too often.
	OnQuarantine func(id string)
}

func (o Options) withDefaults() Options {
	if o.Name == "" {
		o.Name = "hookgate"
	}
	if o.Stream == "" {
		o.Stream = DefaultStream
	}
	if o.Subject == "" {
		o.Subject = DefaultSubject
	}
	if o.Replicas == 0 {
		o.Replicas = 1
	}
	if o.MaxAge == 0 {
		o.MaxAge = DefaultMaxAge
	}
	if o.AckWait == 0 {
		o.AckWait = DefaultAckWait
	}
	if o.MaxAttempts == 0 {
		o.MaxAttempts = DefaultMaxAttempts
	}
	o.Policy = o.Policy.WithDefaults(defaultPolicy)
	o.KVQuota = o.KVQuota.WithDefaults()
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// maxDeliver is the consumer's MaxDeliver. JetStream counts every
// delivery: runs, runs that died, and the early deliveries of a delayed
// message that Claim puts back. The exact accounting is the record's
// (Attempts, Finished, per-rule attempts); MaxDeliver only stops a message
// that somehow escapes it. A message reaching it is dead-lettered by Claim.
func (o Options) maxDeliver() int {
	q := max(o.QuarantineAfter, 0)
	return 2*(o.MaxAttempts+q) + 10
}

// Store is the JetStream queue backend. It is safe for concurrent use, and
// any number of Stores (in one or many processes) may share one stream.
type Store struct {
	opts Options
	log  *slog.Logger

	nc        *nats.Conn
	js        jetstream.JetStream
	stream    jetstream.Stream
	cons      jetstream.Consumer
	records   jetstream.KeyValue
	envelopes jetstream.KeyValue
	dedupe    jetstream.KeyValue
	pluginKV  jetstream.KeyValue

	// kvNS is what this replica knows of each kv namespace (kv.go).
	kvMu sync.Mutex
	kvNS map[string]*kvNamespace

	// mu guards closed; calls hold it shared, Close exclusively.
	mu     sync.RWMutex
	closed bool
	done   chan struct{} // closed by Close
	// bgCtx is cancelled first thing in Close: background work (the
	// janitor) stops before Close waits for the calls in flight.
	bgCtx    context.Context
	bgCancel context.CancelFunc

	disp *dispatcher
	held *heldSet

	bg sync.WaitGroup // puller, keepalive, janitor
}

var _ queue.Backend = (*Store)(nil)

// Open connects to NATS, creates the stream, consumer and buckets when
// missing (updating their configuration when it changed), and starts the
// puller, the in-progress keepalive and the janitor.
func Open(ctx context.Context, opts Options) (*Store, error) {
	opts = opts.withDefaults()
	if len(opts.URLs) == 0 {
		return nil, errors.New("natsq: open: no server url")
	}
	nc, err := connect(opts)
	if err != nil {
		return nil, fmt.Errorf("natsq: open: %w", err)
	}
	s := &Store{
		opts: opts,
		log:  opts.Logger.With("component", "queue", "backend", "nats"),
		nc:   nc,
		done: make(chan struct{}),
	}
	s.bgCtx, s.bgCancel = context.WithCancel(context.Background())
	if err := s.setup(ctx); err != nil {
		s.bgCancel()
		nc.Close()
		return nil, fmt.Errorf("natsq: open: %w", err)
	}
	s.held = newHeldSet()
	s.disp = newDispatcher(s)
	s.bg.Add(2)
	go s.disp.run()
	go s.keepalive()
	if opts.SweepInterval > 0 {
		s.bg.Add(1)
		go s.runJanitor(opts.SweepInterval)
	}
	return s, nil
}

// connect dials the servers. The connection reconnects forever: a replica
// whose NATS server restarts waits for it rather than dying.
func connect(o Options) (*nats.Conn, error) {
	nopts := []nats.Option{
		nats.Name(o.Name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.Timeout(5 * time.Second),
	}
	if o.CredentialsFile != "" {
		nopts = append(nopts, nats.UserCredentials(o.CredentialsFile))
	}
	if o.Token != "" {
		nopts = append(nopts, nats.Token(o.Token))
	}
	if o.TLSCA != "" {
		nopts = append(nopts, nats.RootCAs(o.TLSCA))
	}
	if o.TLSCert != "" || o.TLSKey != "" {
		nopts = append(nopts, nats.ClientCert(o.TLSCert, o.TLSKey))
	}
	url := o.URLs[0]
	for _, u := range o.URLs[1:] {
		url += "," + u
	}
	nc, err := nats.Connect(url, nopts...)
	if err != nil {
		// The url may hold a user and password: name the servers only by
		// count.
		return nil, fmt.Errorf("connect to %d nats server(s): %w", len(o.URLs), err)
	}
	return nc, nil
}

// Names of the JetStream objects a Store uses.
func (o Options) deadStream() string     { return o.Stream + "_DEAD" }
func (o Options) recordsBucket() string  { return o.Stream + "_deliveries" }
func (o Options) envelopeBucket() string { return o.Stream + "_envelopes" }
func (o Options) dedupeBucket() string   { return o.Stream + "_dedupe" }
func (o Options) kvBucket() string       { return o.Stream + "_kv" }

// setup creates or updates the streams, the consumer and the buckets.
func (s *Store) setup(ctx context.Context) error {
	o := s.opts
	js, err := jetstream.New(s.nc, jetstream.WithDefaultTimeout(DefaultOpTimeout))
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	s.js = js
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	dup := min(2*time.Minute, o.MaxAge)
	s.stream, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        o.Stream,
		Description: "hookgate deliveries waiting for a run",
		Subjects:    []string{o.Subject + ".*"},
		Retention:   jetstream.WorkQueuePolicy,
		MaxAge:      o.MaxAge,
		Storage:     jetstream.FileStorage,
		Replicas:    o.Replicas,
		Duplicates:  dup,
	})
	if err != nil {
		return fmt.Errorf("stream %s: %w", o.Stream, err)
	}
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        o.deadStream(),
		Description: "hookgate dead letters (the delivery log keeps them replayable)",
		Subjects:    []string{o.Subject + ".dead.*"},
		Retention:   jetstream.LimitsPolicy,
		MaxAge:      o.MaxAge,
		Storage:     jetstream.FileStorage,
		Replicas:    o.Replicas,
	}); err != nil {
		return fmt.Errorf("stream %s: %w", o.deadStream(), err)
	}
	s.cons, err = js.CreateOrUpdateConsumer(ctx, o.Stream, jetstream.ConsumerConfig{
		Durable:       consumerName,
		Description:   "hookgate workers of every replica",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       o.AckWait,
		MaxDeliver:    o.maxDeliver(),
		FilterSubject: o.Subject + ".*",
		// Retries waiting out their backoff are unacknowledged messages:
		// no cap, or a burst of retries would stop new deliveries.
		MaxAckPending: -1,
	})
	if err != nil {
		return fmt.Errorf("consumer %s: %w", consumerName, err)
	}
	bucket := func(name, desc string, ttl time.Duration) (jetstream.KeyValue, error) {
		kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket:      name,
			Description: desc,
			History:     1,
			TTL:         ttl,
			Storage:     jetstream.FileStorage,
			Replicas:    o.Replicas,
		})
		if err != nil {
			return nil, fmt.Errorf("bucket %s: %w", name, err)
		}
		return kv, nil
	}
	if s.records, err = bucket(o.recordsBucket(), "hookgate delivery log", 0); err != nil {
		return err
	}
	if s.envelopes, err = bucket(o.envelopeBucket(), "hookgate envelopes", 0); err != nil {
		return err
	}
	var dedupeTTL time.Duration
	if o.DedupeWindow > 0 {
		dedupeTTL = o.DedupeWindow
	}
	if s.dedupe, err = bucket(o.dedupeBucket(), "hookgate idempotency keys", dedupeTTL); err != nil {
		return err
	}
	if s.pluginKV, err = bucket(o.kvBucket(), "hookgate plugin key-value store", 0); err != nil {
		return err
	}
	return nil
}

// Close stops claiming: Claim calls waiting return queue.ErrClosed at once,
// messages fetched but not handed out are put back, deliveries still held
// (claimed, not finished) are put back too and count as unfinished runs.
// Then it drains and closes the connection. Every later call returns
// queue.ErrClosed; closing again returns nil.
func (s *Store) Close() error {
	s.bgCancel()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.done)
	s.mu.Unlock()

	s.disp.close()
	s.bg.Wait()
	s.disp.nakSpares()
	s.held.nakAll()
	closed := make(chan struct{})
	s.nc.SetClosedHandler(func(*nats.Conn) { close(closed) })
	if err := s.nc.Drain(); err != nil {
		s.nc.Close()
		return nil
	}
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		s.nc.Close()
	}
	return nil
}

// enter guards a call against Close; the caller must call the returned
// function when done.
func (s *Store) enter() (func(), error) {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return nil, queue.ErrClosed
	}
	return s.mu.RUnlock, nil
}

// Ping checks that JetStream takes writes: it writes a key in the plugin
// bucket (outside every plugin's namespace).
func (s *Store) Ping(ctx context.Context) error {
	leave, err := s.enter()
	if err != nil {
		return fmt.Errorf("natsq: ping: %w", err)
	}
	defer leave()
	if _, err := s.pluginKV.Put(ctx, "hookgate-ping", []byte(s.now().UTC().Format(time.RFC3339Nano))); err != nil {
		return fmt.Errorf("natsq: ping: %w", err)
	}
	return nil
}

func (s *Store) now() time.Time { return s.opts.Now() }
