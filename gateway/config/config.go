// Package config owns hookgate's configuration: the TOML schema, its
// defaults (embedded, so `hookgate serve` runs with no file), strict decoding
// that names file and line for every unknown key or bad value, and the
// "env:NAME" / "file:PATH" indirections for secrets.
package config

import (
	"path/filepath"
	"time"
)

// Config is the whole configuration. Zero values are replaced by defaults
// during Load.
type Config struct {
	Server  Server          `toml:"server"`
	GitLab  []GitLab        `toml:"gitlab"`
	Secret  []WebhookSecret `toml:"secret"`
	Queue   Queue           `toml:"queue"`
	Rules   Rules           `toml:"rules"`
	Plugins Plugins         `toml:"plugins"`
	Workers Workers         `toml:"workers"`
	Log     Log             `toml:"log"`
	Admin   Admin           `toml:"admin"`
	Enroll  Enroll          `toml:"enroll"`

	Fairness Fairness `toml:"fairness"`

	// File is the path the configuration was read from ("" for the
	// embedded defaults). Relative paths in the file are resolved against
	// its folder.
	File string `toml:"-"`
}

// Server configures the webhook receiver.
type Server struct {
	// Listen is the address of the HTTP receiver. Default "127.0.0.1:8080".
	Listen string `toml:"listen"`
	// MaxBodyBytes caps a delivery's body. Default 26214400 (GitLab's 25 MiB).
	MaxBodyBytes Size `toml:"max_body_bytes"`
	// MaxInflightBytes bounds the request bytes the receiver holds at once,
	// across all requests, before they are authenticated: past it a
	// delivery is answered 503 with Retry-After. Default 4 × max_body_bytes.
	MaxInflightBytes Size `toml:"max_inflight_bytes"`
	// MaxConnections bounds the connections the receiver serves at once
	// (each costs about 30 KiB); past it new ones get 503. Default 4096.
	MaxConnections int `toml:"max_connections"`
	// MaxConnsPerIP bounds them per client address; 0 (default) for no
	// bound: behind a reverse proxy every connection has the proxy's.
	MaxConnsPerIP int `toml:"max_conns_per_ip"`
	// ReadTimeout, WriteTimeout and IdleTimeout bound slow clients.
	// Defaults 10s, 10s, 60s.
	ReadTimeout  Duration `toml:"read_timeout"`
	WriteTimeout Duration `toml:"write_timeout"`
	IdleTimeout  Duration `toml:"idle_timeout"`
	// ShutdownGrace is how long SIGTERM waits for running plugins. Default 30s.
	ShutdownGrace Duration `toml:"shutdown_grace"`
	// PublicURL is where GitLab reaches this gateway (used by enrolment).
	PublicURL string `toml:"public_url"`
	// MetricsToken, when set, is the bearer token GET /metrics requires
	// (on the receiver's address and on admin.listen), compared in constant
	// time (use "env:..." or "file:..."). Default none: /metrics is open.
	MetricsToken Secret `toml:"metrics_token"`
	// TrustedProxies are the IPs or CIDRs of reverse proxies in front of
	// the receiver. For a connection from one of them, the client address
	// (logged for refused deliveries) is taken from X-Forwarded-For.
	// Default none: the header is ignored.
	TrustedProxies []string `toml:"trusted_proxies"`
}

// GitLab is one GitLab instance served.
type GitLab struct {
	// URL is the instance base URL; the API is URL + "/api/v4".
	URL string `toml:"url"`
	// Token is the bot's API token (use "env:..." or "file:...").
	Token Secret `toml:"token"`
	// BotUsername: notes by this user never trigger rules.
	BotUsername string `toml:"bot_username"`
	// DryRun records API calls and sends nothing.
	DryRun bool `toml:"dry_run"`
	// Timeout bounds each API call. Default 10s.
	Timeout Duration `toml:"timeout"`
	// RatePerMinute limits API calls per minute to this instance. Default 600.
	RatePerMinute int `toml:"rate_per_minute"`
	// NotesPerMinute limits note creation per minute. Default 60 (GitLab.com's limit).
	NotesPerMinute int `toml:"notes_per_minute"`
}

// WebhookSecret says who may deliver events for which projects.
type WebhookSecret struct {
	// Project is a path_with_namespace, a glob like "group/*", or "*".
	Project string `toml:"project"`
	// Token is compared with X-Gitlab-Token in constant time.
	Token Secret `toml:"token"`
	// SigningKey ("whsec_...") verifies GitLab's webhook-signature header.
	SigningKey Secret `toml:"signing_key"`
	// Instance, when set, limits the secret to deliveries from that GitLab
	// instance (a [[gitlab]] url). Required when several [[gitlab]] blocks
	// are configured: a secret then authenticates one instance's projects,
	// never the same path on another.
	Instance string `toml:"instance"`
}

// Queue selects and configures the queue backend.
type Queue struct {
	// Backend is "local" (embedded store, default) or "nats".
	Backend string `toml:"backend"`
	// Path is the local store's file. Default "data/hookgate.db"; relative
	// paths (the default too) are resolved against the config file's folder.
	Path string `toml:"path"`
	// DedupeWindow is how long an idempotency key is remembered. Default 168h.
	DedupeWindow Duration `toml:"dedupe_window"`
	// MaxAttempts is how many runs a delivery gets (retries included)
	// before it is dead-lettered. Default 5.
	MaxAttempts int `toml:"max_attempts"`
	// QuarantineAfter is how many runs that never finished (the process
	// died) quarantine a delivery. Default 3.
	QuarantineAfter int `toml:"quarantine_after"`
	// RetryBase and RetryMax shape the exponential backoff. Defaults 2s, 5m.
	RetryBase Duration `toml:"retry_base"`
	RetryMax  Duration `toml:"retry_max"`
	// RetainFor and RetainCount bound the delivery log of final deliveries.
	// Defaults 720h and 100000.
	RetainFor   Duration `toml:"retain_for"`
	RetainCount int      `toml:"retain_count"`

	// The keys below configure backend = "nats" (NATS JetStream, shared by
	// several replicas; see docs/scaling.md). The local backend ignores them.

	// URL lists the NATS servers, e.g. ["nats://n1:4222", "nats://n2:4222"].
	// Required with backend = "nats". No default.
	URL []string `toml:"url"`
	// Credentials is a NATS .creds file (user JWT and seed); relative to
	// the config file's folder. Optional.
	Credentials string `toml:"credentials"`
	// Token is a NATS authentication token (use "env:..." or "file:...").
	// Optional.
	Token Secret `toml:"token"`
	// TLSCA is a PEM file of the CA to trust; TLSCert and TLSKey are a
	// client certificate and key for mutual TLS (both or neither).
	// Relative to the config file's folder. Optional.
	TLSCA   string `toml:"tls_ca"`
	TLSCert string `toml:"tls_cert"`
	TLSKey  string `toml:"tls_key"`
	// Stream is the JetStream stream; the KV buckets are named after it.
	// Replicas sharing work use the same stream. Default "HOOKGATE".
	Stream string `toml:"stream"`
	// Subject is the queue's subject prefix. Default "hookgate.deliveries".
	Subject string `toml:"subject"`
	// Replicas is how many copies JetStream keeps of the stream and the
	// buckets: 1, or 3 (or 5) in a cluster. Default 1.
	Replicas int `toml:"replicas"`
	// MaxAge bounds how long a delivery waits in the stream unprocessed,
	// and how long dead letters are kept. Default 720h.
	MaxAge Duration `toml:"max_age"`
	// AckWait is how long JetStream waits for a replica that holds a
	// delivery (in-progress acks every third of it while a run lasts)
	// before giving it to another: the delay before a crashed replica's
	// runs are taken over. Must be longer than plugins.timeout. Default 60s.
	AckWait Duration `toml:"ack_wait"`
}

// Rules says where rule files are.
type Rules struct {
	// Paths are globs of rule files, relative to the config file's folder.
	// Load leaves it empty when not set; the caller then uses the bundled
	// example rules.
	Paths []string `toml:"paths"`
	// Watch reloads rules and plugins when files change. Default true.
	Watch *bool `toml:"watch"`
}

// Plugins says where Lua plugins are and how they run.
type Plugins struct {
	// Dir holds NAME.lua files, relative to the config file's folder.
	// Load leaves it empty when not set; the caller then uses the bundled
	// example plugins.
	Dir string `toml:"dir"`
	// Timeout bounds one plugin run. Default 5s.
	Timeout Duration `toml:"timeout"`
	// KVMaxKeys caps the keys each plugin keeps in the kv store. Default
	// 100000.
	KVMaxKeys int `toml:"kv_max_keys"`
	// KVMaxBytes caps the bytes of keys and values each plugin keeps in
	// the kv store. Default 64MiB.
	KVMaxBytes Size `toml:"kv_max_bytes"`
}

// Workers sizes the processing pool.
type Workers struct {
	// Count is the number of concurrent workers. Default 64.
	Count int `toml:"count"`
}

// Log configures the process log.
type Log struct {
	// Level is debug, info, warn or error. Default info.
	Level string `toml:"level"`
	// Format is "text", "json" or "auto" (text on a terminal). Default auto.
	Format string `toml:"format"`
}

// Admin configures the admin API under /api/v1. It is off unless Token is set.
type Admin struct {
	// Token is the bearer token the admin API requires (use "env:..." or "file:...").
	Token Secret `toml:"token"`
	// Listen serves the admin API on its own address; "" serves it on the
	// receiver's address.
	Listen string `toml:"listen"`
	// Public allows the admin API on a non-loopback address (Listen, or
	// server.listen when Listen is ""). Default false: such a configuration
	// is refused, so that a receiver opened to GitLab with
	// listen = "0.0.0.0:8080" does not open the admin API too.
	Public bool `toml:"public"`
}

// Enroll configures per-project webhook secrets recorded by `hookgate
// enroll` and `hookgate secret rotate`.
type Enroll struct {
	// SecretsFile holds the enrolled secrets, hashed, written by those
	// commands (atomically, mode 0600) and read, and reloaded on change, by
	// `serve`. Load leaves it empty when not set; use
	// Config.EnrolledSecretsFile for the effective path (default
	// "enrolled-secrets.json" beside queue.path). Relative paths are
	// resolved against the config file's folder.
	SecretsFile string `toml:"secrets_file"`
}

// EnrolledSecretsFile is Enroll.SecretsFile, or "enrolled-secrets.json" in
// queue.path's folder when that is not set.
func (c *Config) EnrolledSecretsFile() string {
	if c.Enroll.SecretsFile != "" {
		return c.Enroll.SecretsFile
	}
	return filepath.Join(filepath.Dir(c.Queue.Path), DefaultSecretsFileName)
}

// Duration is a time.Duration written as "5s", "1m30s" in TOML.
type Duration time.Duration

// Size is a byte count written as an integer or "25MiB", "512KB" in TOML.
type Size int64

// Secret is a secret value: a literal, "env:NAME" or "file:PATH", resolved
// during Load. Its String method never shows the value.
type Secret struct {
	s *secretValue
}
