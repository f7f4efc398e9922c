package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/hookgate/hookgate/gateway/envelope"
	"github.com/hookgate/hookgate/internal/projectglob"
	"github.com/hookgate/hookgate/internal/tomlpos"
)

// SigningKeyPrefix starts every GitLab (Standard Webhooks) signing key.
const SigningKeyPrefix = "whsec_"

// DecodeSigningKey returns the HMAC key of a "whsec_<base64>" signing key.
// Its errors never contain the key.
func DecodeSigningKey(key string) ([]byte, error) {
	b64, ok := strings.CutPrefix(key, SigningKeyPrefix)
	if !ok {
		return nil, errors.New(`signing key must start with "whsec_"`)
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		raw, err = base64.RawStdEncoding.DecodeString(b64)
	}
	if err != nil {
		return nil, errors.New(`signing key must be "whsec_" followed by base64`)
	}
	if len(raw) == 0 {
		return nil, errors.New("signing key is empty after \"whsec_\"")
	}
	return raw, nil
}

// CheckProjectPattern validates a [[secret]] project: "*" (every project
// of the instance), an exact path_with_namespace, or a glob in the dialect
// of internal/projectglob ("group/*", "group/**", "{a,b}/*").
func CheckProjectPattern(p string) error {
	if p == "" {
		return errors.New("project is empty")
	}
	if p == "*" {
		return nil
	}
	return projectglob.Valid(p)
}

func p(segs ...string) []string { return segs }

// check validates cfg after defaults, reads its secrets and resolves its
// relative paths against dir ("" keeps them as written).
func (d *decoder) check(c *Config, dir string) {
	d.checkServer(&c.Server, dir)
	d.checkGitLab(c.GitLab, dir)
	d.checkSecrets(c.Secret, c.GitLab, dir)
	d.checkQueue(&c.Queue, dir)
	d.checkNATS(c, dir)
	c.Enroll.SecretsFile = resolvePath(dir, c.Enroll.SecretsFile)
	// An unresolved "env:"/"file:" admin token would leave the admin API off.
	d.resolveSecret(&c.Admin.Token, p("admin", "token"), dir)
	d.checkAdmin(c)

	for i, g := range c.Rules.Paths {
		at := p("rules", "paths", tomlpos.Index(i))
		if g == "" {
			d.errorf(at, true, "empty glob in rules.paths")
			continue
		}
		if _, err := filepath.Match(g, ""); err != nil {
			d.errorf(at, true, "invalid glob %q in rules.paths", g)
			continue
		}
		c.Rules.Paths[i] = resolvePath(dir, g)
	}
	if c.Plugins.Dir != "" {
		c.Plugins.Dir = resolvePath(dir, c.Plugins.Dir)
	}
	if c.Plugins.KVMaxKeys < 1 {
		d.errorf(p("plugins", "kv_max_keys"), true, "plugins.kv_max_keys must be at least 1")
	}
	if c.Plugins.KVMaxBytes < 1 {
		d.errorf(p("plugins", "kv_max_bytes"), true, "plugins.kv_max_bytes must be positive")
	}
	if c.Workers.Count < 1 {
		d.errorf(p("workers", "count"), true, "workers.count must be at least 1")
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		d.errorf(p("log", "level"), true, "log.level must be debug, info, warn or error, not %q", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json", "auto":
	default:
		d.errorf(p("log", "format"), true, "log.format must be text, json or auto, not %q", c.Log.Format)
	}
}

func (d *decoder) checkServer(s *Server, dir string) {
	if _, _, err := net.SplitHostPort(s.Listen); err != nil {
		d.errorf(p("server", "listen"), true, "invalid server.listen %q: want host:port", s.Listen)
	}
	for _, tp := range s.TrustedProxies {
		if _, _, err := net.ParseCIDR(tp); err != nil && net.ParseIP(tp) == nil {
			d.errorf(p("server", "trusted_proxies"), true, "server.trusted_proxies: %q is not an IP address or CIDR", tp)
		}
	}
	d.resolveSecret(&s.MetricsToken, p("server", "metrics_token"), dir)
	if s.MaxBodyBytes <= 0 || s.MaxBodyBytes > 1<<30 {
		d.errorf(p("server", "max_body_bytes"), true, "server.max_body_bytes must be positive and at most 1GiB")
	} else if s.MaxInflightBytes < s.MaxBodyBytes {
		d.errorf(p("server", "max_inflight_bytes"), true, "server.max_inflight_bytes must be at least server.max_body_bytes (%d)", s.MaxBodyBytes)
	}
	if s.MaxConnections < 1 {
		d.errorf(p("server", "max_connections"), true, "server.max_connections must be at least 1")
	}
	if s.MaxConnsPerIP < 0 {
		d.errorf(p("server", "max_conns_per_ip"), true, "server.max_conns_per_ip must be 0 (no bound) or more")
	}
	if s.PublicURL != "" {
		at := p("server", "public_url")
		u, err := url.Parse(s.PublicURL)
		switch {
		case !httpURL(s.PublicURL):
			d.errorf(at, true, "server.public_url must be an absolute http(s) URL without query or fragment")
		case err == nil && u.User != nil:
			d.errorf(at, true, "server.public_url must not carry a user or password (GitLab would store and show it)")
		case strings.HasSuffix(strings.TrimRight(s.PublicURL, "/"), "/hooks/gitlab"):
			d.errorf(at, true, `server.public_url is the gateway's base URL: leave out "/hooks/gitlab"`)
		}
		s.PublicURL = strings.TrimRight(s.PublicURL, "/")
	}
}

// checkAdmin refuses an admin API that would be reachable from other hosts
// unless admin.public says so: it is served on admin.listen, or on
// server.listen when that is not set, and a receiver opened to GitLab
// (listen = "0.0.0.0:8080") would otherwise open it too, behind its token
// only.
func (d *decoder) checkAdmin(c *Config) {
	a := &c.Admin
	if a.Listen != "" {
		if _, _, err := net.SplitHostPort(a.Listen); err != nil {
			d.errorf(p("admin", "listen"), true, "invalid admin.listen %q: want host:port", a.Listen)
			return
		}
	}
	if !a.Token.IsSet() || a.Public {
		return
	}
	const fix = `use a loopback address, or set admin.public = true to expose the admin API on purpose`
	if a.Listen != "" {
		if !IsLoopback(a.Listen) {
			d.errorf(p("admin", "listen"), true, "admin.listen %q is not a loopback address: the admin API would be reachable from other hosts; %s", a.Listen, fix)
		}
		return
	}
	if _, _, err := net.SplitHostPort(c.Server.Listen); err == nil && !IsLoopback(c.Server.Listen) {
		d.errorf(p("admin", "token"), false, `admin.token is set and admin.listen is not, so the admin API would be served on server.listen %q, which is not a loopback address; `+
			`set admin.listen to a loopback address such as "127.0.0.1:8081", or admin.public = true to expose it on purpose`, c.Server.Listen)
	}
}

// IsLoopback reports whether a host:port listen address accepts only
// connections from this machine: a loopback IP (127.0.0.0/8, ::1) or
// "localhost". An empty host (":8080") listens on every interface.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	host, _, _ = strings.Cut(host, "%") // a zone: "::1%lo"
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (d *decoder) checkGitLab(list []GitLab, dir string) {
	seen := map[string]int{}
	for i := range list {
		g := &list[i]
		at := func(k string) []string { return p("gitlab", tomlpos.Index(i), k) }
		switch {
		case g.URL == "":
			d.errorf(at("url"), false, "gitlab.url is required")
		case !httpURL(g.URL):
			d.errorf(at("url"), true, "gitlab.url must be an absolute http(s) URL")
		default:
			g.URL = strings.TrimRight(g.URL, "/")
			if j, dup := seen[envelope.NormalizeInstance(g.URL)]; dup {
				d.errorf(at("url"), true, "gitlab.url repeats [[gitlab]] block %d", j+1)
			}
			seen[envelope.NormalizeInstance(g.URL)] = i
		}
		d.resolveSecret(&g.Token, at("token"), dir)
		if !g.Token.IsSet() && !g.DryRun && !d.bad[pathKey(at("token"))] {
			d.errorf(at("token"), false, "gitlab.token is required unless dry_run = true")
		}
		if g.RatePerMinute < 1 {
			d.errorf(at("rate_per_minute"), true, "gitlab.rate_per_minute must be at least 1")
		}
		if g.NotesPerMinute < 1 {
			d.errorf(at("notes_per_minute"), true, "gitlab.notes_per_minute must be at least 1")
		}
	}
}

func (d *decoder) checkSecrets(list []WebhookSecret, instances []GitLab, dir string) {
	known := map[string]bool{}
	for _, g := range instances {
		known[envelope.NormalizeInstance(g.URL)] = true
	}
	for i := range list {
		s := &list[i]
		at := func(k string) []string { return p("secret", tomlpos.Index(i), k) }
		switch {
		case s.Instance != "" && !httpURL(s.Instance):
			d.errorf(at("instance"), true, "secret.instance must be the absolute http(s) URL of a [[gitlab]] block")
		case s.Instance != "" && len(instances) > 0 && !known[envelope.NormalizeInstance(s.Instance)]:
			d.errorf(at("instance"), true, "secret.instance %q is not the url of any [[gitlab]] block", s.Instance)
		case s.Instance == "" && len(instances) > 1:
			d.errorf(at("project"), false, "[[secret]] needs an instance when several [[gitlab]] blocks are configured (a secret authenticates one instance's projects)")
		}
		if s.Project == "" {
			d.errorf(at("project"), false, `secret.project is required (a project path, a glob, or "*")`)
		} else if err := CheckProjectPattern(s.Project); err != nil {
			d.errorf(at("project"), true, "secret.project: %v", err)
		}
		d.resolveSecret(&s.Token, at("token"), dir)
		d.resolveSecret(&s.SigningKey, at("signing_key"), dir)
		tokenBad, keyBad := d.bad[pathKey(at("token"))], d.bad[pathKey(at("signing_key"))]
		if !s.Token.IsSet() && !s.SigningKey.IsSet() && !tokenBad && !keyBad {
			d.errorf(at("project"), false, "[[secret]] needs a token or a signing_key")
		}
		if s.SigningKey.IsSet() {
			if _, err := DecodeSigningKey(s.SigningKey.Value()); err != nil {
				d.errorf(at("signing_key"), true, "secret.signing_key: %v", err)
			}
		}
	}
}

func (d *decoder) checkQueue(q *Queue, dir string) {
	switch q.Backend {
	case "local", "nats":
	default:
		d.errorf(p("queue", "backend"), true, "queue.backend must be local or nats, not %q", q.Backend)
	}
	q.Path = resolvePath(dir, q.Path)
	for _, n := range []struct {
		key string
		v   int
		min int
	}{
		{"max_attempts", q.MaxAttempts, 1},
		{"quarantine_after", q.QuarantineAfter, 1},
		{"retain_count", q.RetainCount, 0},
	} {
		if n.v < n.min {
			d.errorf(p("queue", n.key), true, "queue.%s must be at least %d", n.key, n.min)
		}
	}
	if q.RetryBase > q.RetryMax {
		d.errorf(p("queue", "retry_base"), true, "queue.retry_base (%s) is longer than queue.retry_max (%s)", q.RetryBase, q.RetryMax)
	}
}

// resolveSecret reads an "env:NAME" or "file:PATH" secret into s. Errors
// name the key and the variable or file, never a value.
func (d *decoder) resolveSecret(s *Secret, at []string, dir string) {
	if s.s == nil || s.s.value != "" {
		return
	}
	key := keyName(at)
	raw := s.s.raw
	var v string
	if name, ok := strings.CutPrefix(raw, envPrefix); ok {
		if name == "" {
			d.decodeErrorf(at, true, `"env:" needs a variable name for %s`, key)
			return
		}
		var set bool
		v, set = os.LookupEnv(name)
		if !set {
			d.decodeErrorf(at, true, "environment variable %s for %s is not set", name, key)
			return
		}
		if v == "" {
			d.decodeErrorf(at, true, "environment variable %s for %s is empty", name, key)
			return
		}
	} else if file, ok := strings.CutPrefix(raw, filePrefix); ok {
		if file == "" {
			d.decodeErrorf(at, true, `"file:" needs a path for %s`, key)
			return
		}
		b, err := readSecretFile(resolvePath(dir, file))
		if err != nil {
			d.decodeErrorf(at, true, "cannot read secret file %q for %s: %v", file, key, err)
			return
		}
		v = strings.TrimRight(string(b), "\r\n")
		if v == "" {
			d.decodeErrorf(at, true, "secret file %q for %s is empty", file, key)
			return
		}
	}
	s.s.value = v
}

// maxSecretFile bounds a "file:" secret; keys and tokens are far smaller.
const maxSecretFile = 64 << 10

// readSecretFile reads a regular file of at most maxSecretFile bytes, so a
// "file:" pointing at a device or a pipe cannot hang or exhaust Load.
// Its errors carry no path (the caller names it) and no content.
func readSecretFile(name string) ([]byte, error) {
	unwrap := func(err error) error {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return pe.Err
		}
		return err
	}
	st, err := os.Stat(name)
	if err != nil {
		return nil, unwrap(err)
	}
	if !st.Mode().IsRegular() {
		return nil, errors.New("not a regular file")
	}
	if st.Size() > maxSecretFile {
		return nil, fmt.Errorf("larger than %d bytes", maxSecretFile)
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, unwrap(err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSecretFile+1))
	if err != nil {
		return nil, unwrap(err)
	}
	if len(b) > maxSecretFile {
		return nil, fmt.Errorf("larger than %d bytes", maxSecretFile)
	}
	return b, nil
}

// resolvePath joins a relative p to dir; dir "" keeps p as written.
func resolvePath(dir, p string) string {
	if dir == "" || p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}

func httpURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" &&
		u.RawQuery == "" && u.Fragment == ""
}
