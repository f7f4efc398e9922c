package config

import (
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/hookgate/hookgate/internal/tomlpos"
)

// natsName is what JetStream accepts in a stream name (and, with a suffix,
// in a KV bucket name).
var natsName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// checkNATS resolves the NATS keys of [queue] (paths against dir, the
// token's "env:"/"file:") and, when the backend is "nats", validates them.
func (d *decoder) checkNATS(c *Config, dir string) {
	q := &c.Queue
	q.Credentials = resolvePath(dir, q.Credentials)
	q.TLSCA = resolvePath(dir, q.TLSCA)
	q.TLSCert = resolvePath(dir, q.TLSCert)
	q.TLSKey = resolvePath(dir, q.TLSKey)
	if q.Backend != "nats" {
		return
	}
	at := func(k string) []string { return p("queue", k) }
	d.resolveSecret(&q.Token, at("token"), dir)
	if len(q.URL) == 0 {
		d.errorf(at("backend"), true, `queue.url is required with backend = "nats" (e.g. ["nats://127.0.0.1:4222"])`)
	}
	for i, s := range q.URL {
		u, err := url.Parse(s)
		switch {
		case err != nil || u.Host == "":
			d.errorf(p("queue", "url", tomlpos.Index(i)), true, "queue.url: want a URL like nats://host:4222")
		case u.Scheme != "nats" && u.Scheme != "tls" && u.Scheme != "ws" && u.Scheme != "wss":
			d.errorf(p("queue", "url", tomlpos.Index(i)), true, "queue.url: scheme must be nats, tls, ws or wss")
		}
	}
	for _, f := range []struct{ key, path string }{
		{"credentials", q.Credentials}, {"tls_ca", q.TLSCA}, {"tls_cert", q.TLSCert}, {"tls_key", q.TLSKey},
	} {
		if f.path == "" {
			continue
		}
		if st, err := os.Stat(f.path); err != nil || !st.Mode().IsRegular() {
			d.errorf(at(f.key), true, "queue.%s: %q is not a readable file", f.key, f.path)
		}
	}
	if (q.TLSCert == "") != (q.TLSKey == "") {
		d.errorf(at("tls_cert"), true, "queue.tls_cert and queue.tls_key go together")
	}
	if !natsName.MatchString(q.Stream) {
		d.errorf(at("stream"), true, "queue.stream must be 1 to 64 letters, digits, '-' or '_'")
	}
	if !validSubject(q.Subject) {
		d.errorf(at("subject"), true, "queue.subject must be dot-separated tokens without spaces or wildcards, e.g. \"hookgate.deliveries\"")
	}
	if q.Replicas < 1 || q.Replicas > 5 {
		d.errorf(at("replicas"), true, "queue.replicas must be 1 to 5")
	}
	if time.Duration(q.MaxAge) < time.Minute {
		d.errorf(at("max_age"), true, "queue.max_age must be at least 1m")
	}
	if time.Duration(q.AckWait) < time.Second {
		d.errorf(at("ack_wait"), true, "queue.ack_wait must be at least 1s")
	} else if q.AckWait <= c.Plugins.Timeout {
		d.errorf(at("ack_wait"), true, "queue.ack_wait (%s) must be longer than plugins.timeout (%s)", q.AckWait, c.Plugins.Timeout)
	}
}

func validSubject(s string) bool {
	if s == "" {
		return false
	}
	for _, tok := range strings.Split(s, ".") {
		if tok == "" || strings.ContainsAny(tok, "*> \t\r\n") {
			return false
		}
	}
	return true
}
