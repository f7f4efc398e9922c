package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/hookgate/hookgate/gateway/auth"
	"github.com/hookgate/hookgate/gateway/config"
	"github.com/hookgate/hookgate/plugins"
	"github.com/hookgate/hookgate/plugins/gitlab"
	"github.com/hookgate/hookgate/rules"
)

// Gateway is a running hookgate: receiver, queue, workers and reloads.
type Gateway struct {
	cfg     *config.Config
	log     *slog.Logger
	store   Store // the configured queue backend (backend.go)
	gitlab  *gitlab.Clients
	bundle  atomic.Pointer[Bundle]
	app     *fiber.App
	admin   *fiber.App // the admin API on its own address, or nil
	metrics *Metrics
	// enrolled checks deliveries: [[secret]] blocks plus enrolled secrets.
	enrolled *enrolledVerifier

	reloadMu   sync.Mutex
	lastErrors atomic.Pointer[error]

	modules []plugins.Module // extra Lua modules (WithModules), for every load
}

// New opens the queue, loads rules and plugins and builds the receiver. The
// first rule load must succeed; later reloads keep the last good set.
// Options are for embedders (WithModules).
func New(cfg *config.Config, log *slog.Logger, opts ...Option) (*Gateway, error) {
	o := buildOptions(opts)
	if err := prepareDataDir(cfg, log); err != nil {
		return nil, err
	}
	secrets, err := webhookSecrets(cfg, log)
	if err != nil {
		return nil, err
	}
	verifier, err := auth.New(secrets)
	if err != nil {
		return nil, fmt.Errorf("secrets: %w", err)
	}
	enrolled, err := newEnrolledVerifier(cfg.EnrolledSecretsFile(), verifier, log)
	if err != nil {
		return nil, err
	}
	metrics := NewMetrics()
	metrics.requireToken(cfg.Server.MetricsToken.Value())
	store, err := openBackend(cfg, log, metrics.quarantined)
	if err != nil {
		return nil, err
	}
	gl, err := gitlab.New(Instances(cfg), log)
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("gitlab: %w", err)
	}
	gl.OnCall(metrics.gitlabCall)
	metrics.WatchQueue(store)
	metrics.WatchGitLab(gl)
	g := &Gateway{cfg: cfg, log: log, store: store, gitlab: gl, metrics: metrics, enrolled: enrolled}
	g.modules = o.modules
	b, err := LoadBundle(cfg, store, log, g.modules...)
	if err != nil {
		store.Close()
		return nil, err
	}
	g.bundle.Store(b)
	urls := make([]string, 0, len(cfg.GitLab))
	for _, gb := range cfg.GitLab {
		urls = append(urls, gb.URL)
	}
	g.app = NewReceiver(ReceiverOptions{
		Queue:            store,
		Verifier:         enrolled,
		Instances:        urls,
		Projects:         gl,
		MaxInflightBytes: int64(cfg.Server.MaxInflightBytes),
		MaxConnections:   cfg.Server.MaxConnections,
		MaxConnsPerIP:    cfg.Server.MaxConnsPerIP,
		Wants:            func(kind string) bool { return g.bundle.Load().Rules.Wants(kind) },
		MaxBodyBytes:     int(cfg.Server.MaxBodyBytes),
		ReadTimeout:      time.Duration(cfg.Server.ReadTimeout),
		WriteTimeout:     time.Duration(cfg.Server.WriteTimeout),
		IdleTimeout:      time.Duration(cfg.Server.IdleTimeout),
		Logger:           log,
		Metrics:          metrics,

		TrustedProxies: cfg.Server.TrustedProxies,
	})
	if cfg.Admin.Token.IsSet() {
		if cfg.Admin.Listen == "" {
			g.mountAdmin(g.app, cfg.Admin.Token.Value())
		} else {
			g.admin = fiber.New(fiber.Config{DisableStartupMessage: true, ErrorHandler: jsonError,
				ReadTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: time.Minute})
			g.mountAdmin(g.admin, cfg.Admin.Token.Value())
			metrics.mount(g.admin)
		}
	}
	return g, nil
}

// Metrics are the gateway's Prometheus metrics (served at GET /metrics).
func (g *Gateway) Metrics() *Metrics { return g.metrics }

// App is the receiver, for tests and for mounting more routes.
func (g *Gateway) App() *fiber.App { return g.app }

// Reload loads rules and plugins anew and swaps them in if the whole set
// compiles; otherwise the current set keeps serving and the error is
// returned (and kept for LastReloadError).
func (g *Gateway) Reload() error {
	g.reloadMu.Lock()
	defer g.reloadMu.Unlock()
	b, err := LoadBundle(g.cfg, g.store, g.log, g.modules...)
	g.metrics.reloaded(err)
	if err != nil {
		g.lastErrors.Store(&err)
		g.log.Error("reload failed; keeping the last good rules", "err", err)
		return err
	}
	old := g.bundle.Swap(b)
	g.lastErrors.Store(nil)
	// Runs still using the old plugins finish normally; its idle states go.
	_ = old.Plugins.Close()
	g.log.Info("rules reloaded", "rules", len(b.Rules.Rules()), "plugins", len(b.Plugins.Names()))
	return nil
}

// Run serves until ctx ends or SIGTERM/SIGINT arrives, reloading on SIGHUP
// and on file changes. On stop it refuses new deliveries, lets running
// plugins finish within the grace period and leaves the rest queued.
func (g *Gateway) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", g.cfg.Server.Listen)
	if err != nil {
		g.store.Close()
		return fmt.Errorf("listen: %w", err)
	}
	return g.Serve(ctx, ln)
}

// Serve is Run on a listener the caller opened (tests use 127.0.0.1:0).
func (g *Gateway) Serve(ctx context.Context, ln net.Listener) error {
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, os.Interrupt)
	defer stop()
	g.log.Info("hookgate listening", "addr", ln.Addr().String(), "queue", g.cfg.Queue.Path)

	// Reload triggers are in place before the first request is answered, so
	// a SIGHUP or file change after that is never lost (nor kills us).
	hup, changed := g.watchSetup(ctx)
	defer signal.Stop(hup)
	g.enrolled.watch(ctx)

	var wg sync.WaitGroup
	serveErr := make(chan error, 1)
	wg.Go(func() { serveErr <- g.app.Listener(ln) })
	var aln net.Listener
	if g.admin != nil {
		var err error
		aln, err = net.Listen("tcp", g.cfg.Admin.Listen)
		if err != nil {
			_ = g.app.Shutdown()
			wg.Wait()
			g.store.Close()
			return fmt.Errorf("admin listen: %w", err)
		}
		g.log.Info("admin API listening", "addr", aln.Addr().String())
		wg.Go(func() { _ = g.admin.Listener(aln) })
	}

	workCtx, stopWork := context.WithCancel(ctx)
	defer stopWork()
	workers := &Workers{
		Queue: g.store,
		Processor: &Pipeline{
			Bundle: g.bundle.Load,
			GitLab: g.gitlab,
			Retry: RetryPolicy{
				MaxAttempts: g.cfg.Queue.MaxAttempts,
				Base:        time.Duration(g.cfg.Queue.RetryBase),
				Max:         time.Duration(g.cfg.Queue.RetryMax),
			},
			Logger:  g.log,
			Metrics: g.metrics,

			Fairness: NewFairness(g.cfg.Fairness, time.Duration(g.cfg.Plugins.Timeout)),
		},
		Count:  g.cfg.Workers.Count,
		Grace:  time.Duration(g.cfg.Server.ShutdownGrace),
		Logger: g.log,
	}
	workErr := make(chan error, 1)
	wg.Go(func() { workErr <- workers.Run(workCtx) })

	wg.Go(func() { g.watch(ctx, hup, changed) })

	var runErr error
	select {
	case <-ctx.Done():
		g.log.Info("stopping: refusing new deliveries, finishing running work")
	case runErr = <-serveErr:
		runErr = fmt.Errorf("serve: %w", runErr)
	case runErr = <-workErr:
		runErr = fmt.Errorf("workers: %w", runErr)
	}
	stop()
	stopWork()
	// The receiver stops first so nothing is acknowledged that the queue
	// cannot take; ReadTimeout makes fiber close idle keep-alive conns.
	shutCtx, cancel := context.WithTimeout(context.Background(), time.Duration(g.cfg.Server.ShutdownGrace))
	defer cancel()
	if err := g.app.ShutdownWithContext(shutCtx); err != nil {
		g.log.Warn("receiver shutdown", "err", err)
	}
	if g.admin != nil {
		_ = g.admin.ShutdownWithContext(shutCtx)
	}
	// A shutdown that comes before fasthttp registered its listener (ctx
	// ended as Serve began) does not stop it: closing the listeners does.
	_ = ln.Close()
	if aln != nil {
		_ = aln.Close()
	}
	wg.Wait()
	if err := g.store.Close(); err != nil && runErr == nil {
		runErr = fmt.Errorf("close queue: %w", err)
	}
	g.log.Info("stopped")
	return runErr
}

// watchSetup registers for SIGHUP and, unless [rules] watch = false, sets
// up the file watches; it returns once both are in place. The caller stops
// the signal channel.
func (g *Gateway) watchSetup(ctx context.Context) (hup chan os.Signal, changed chan struct{}) {
	hup = make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	changed = make(chan struct{}, 1)
	if g.cfg.Rules.Watch == nil || *g.cfg.Rules.Watch {
		err := rules.Watch(ctx, RulePaths(g.cfg), []string{PluginDir(g.cfg)}, 200*time.Millisecond, func() {
			select {
			case changed <- struct{}{}:
			default:
			}
		})
		if err != nil {
			g.log.Warn("file watching off; reload with SIGHUP", "err", err)
		}
	}
	return hup, changed
}

// watch reloads on SIGHUP and on changes to rule files and plugins until
// ctx ends.
func (g *Gateway) watch(ctx context.Context, hup <-chan os.Signal, changed <-chan struct{}) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			g.log.Info("SIGHUP: reloading")
		case <-changed:
			g.log.Info("rule or plugin files changed: reloading")
		}
		_ = g.Reload()
	}
}

// webhookSecrets returns the configured secrets or, when none are
// configured, a generated one stored beside the queue (never an open door).
func webhookSecrets(cfg *config.Config, log *slog.Logger) ([]config.WebhookSecret, error) {
	if len(cfg.Secret) > 0 {
		return cfg.Secret, nil
	}
	path := filepath.Join(filepath.Dir(cfg.Queue.Path), "webhook-secret")
	token, created, err := generatedSecret(path)
	if err != nil {
		return nil, err
	}
	if created {
		// Printed once, on the terminal only, never to the log.
		fmt.Fprintf(os.Stderr, "\nNo [[secret]] configured: generated a webhook secret and stored it in %s.\n"+
			"Set it as the webhook's Secret token in GitLab:\n\n    %s\n\n", path, token)
	} else {
		log.Info("using the generated webhook secret", "file", path)
	}
	return []config.WebhookSecret{{Project: "*", Token: config.NewSecret(token)}}, nil
}
