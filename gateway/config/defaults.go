package config

import "time"

// Defaults, also written out in default.toml (and configs/hookgate.toml);
// a test keeps the two in step.
const (
	DefaultListen          = "127.0.0.1:8080"
	DefaultMaxBodyBytes    = Size(25 << 20)
	DefaultReadTimeout     = Duration(10 * time.Second)
	DefaultWriteTimeout    = Duration(10 * time.Second)
	DefaultIdleTimeout     = Duration(60 * time.Second)
	DefaultShutdownGrace   = Duration(30 * time.Second)
	DefaultGitLabTimeout   = Duration(10 * time.Second)
	DefaultRatePerMinute   = 600
	DefaultNotesPerMinute  = 60
	DefaultBackend         = "local"
	DefaultQueuePath       = "data/hookgate.db"
	DefaultDedupeWindow    = Duration(168 * time.Hour)
	DefaultMaxAttempts     = 5
	DefaultQuarantineAfter = 3
	DefaultRetryBase       = Duration(2 * time.Second)
	DefaultRetryMax        = Duration(5 * time.Minute)
	DefaultRetainFor       = Duration(720 * time.Hour)
	DefaultRetainCount     = 100000
	DefaultNATSStream      = "HOOKGATE"
	DefaultNATSSubject     = "hookgate.deliveries"
	DefaultNATSReplicas    = 1
	DefaultNATSMaxAge      = Duration(720 * time.Hour)
	DefaultNATSAckWait     = Duration(60 * time.Second)
	DefaultPluginTimeout   = Duration(5 * time.Second)
	DefaultKVMaxKeys       = 100_000
	DefaultKVMaxBytes      = Size(64 << 20)
	DefaultWorkers         = 64
	DefaultLogLevel        = "info"
	DefaultLogFormat       = "auto"
	// DefaultSecretsFileName is enroll.secrets_file's name when not set,
	// in queue.path's folder.
	DefaultSecretsFileName = "enrolled-secrets.json"
)

// Watching reports whether rules and plugins are reloaded on change
// (Watch unset means true).
func (r Rules) Watching() bool { return r.Watch == nil || *r.Watch }

// applyDefaults replaces every zero field that has a default. Rules.Paths
// and Plugins.Dir have none here: empty means "the bundled examples", which
// the caller provides.
func applyDefaults(c *Config) {
	s := &c.Server
	def(&s.Listen, DefaultListen)
	def(&s.MaxBodyBytes, DefaultMaxBodyBytes)
	def(&s.MaxInflightBytes, 4*s.MaxBodyBytes)
	def(&s.MaxConnections, 4096)
	def(&s.ReadTimeout, DefaultReadTimeout)
	def(&s.WriteTimeout, DefaultWriteTimeout)
	def(&s.IdleTimeout, DefaultIdleTimeout)
	def(&s.ShutdownGrace, DefaultShutdownGrace)

	for i := range c.GitLab {
		g := &c.GitLab[i]
		def(&g.Timeout, DefaultGitLabTimeout)
		def(&g.RatePerMinute, DefaultRatePerMinute)
		def(&g.NotesPerMinute, DefaultNotesPerMinute)
	}

	q := &c.Queue
	def(&q.Backend, DefaultBackend)
	def(&q.Path, DefaultQueuePath)
	def(&q.DedupeWindow, DefaultDedupeWindow)
	def(&q.MaxAttempts, DefaultMaxAttempts)
	def(&q.QuarantineAfter, DefaultQuarantineAfter)
	def(&q.RetryBase, DefaultRetryBase)
	def(&q.RetryMax, DefaultRetryMax)
	def(&q.RetainFor, DefaultRetainFor)
	def(&q.RetainCount, DefaultRetainCount)
	def(&q.Stream, DefaultNATSStream)
	def(&q.Subject, DefaultNATSSubject)
	def(&q.Replicas, DefaultNATSReplicas)
	def(&q.MaxAge, DefaultNATSMaxAge)
	def(&q.AckWait, DefaultNATSAckWait)

	if c.Rules.Watch == nil {
		watch := true
		c.Rules.Watch = &watch
	}
	def(&c.Plugins.Timeout, DefaultPluginTimeout)
	def(&c.Plugins.KVMaxKeys, DefaultKVMaxKeys)
	def(&c.Plugins.KVMaxBytes, DefaultKVMaxBytes)
	def(&c.Workers.Count, DefaultWorkers)
	def(&c.Log.Level, DefaultLogLevel)
	def(&c.Log.Format, DefaultLogFormat)
	applyFairnessDefaults(&c.Fairness)
}

func def[T comparable](field *T, value T) {
	var zero T
	if *field == zero {
		*field = value
	}
}
