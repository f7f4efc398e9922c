// Package natstest runs an embedded NATS server with JetStream enabled
// inside a test process, so the JetStream backend's tests need no external
// install. Only tests import it: the server is not linked into hookgate.
package natstest

import (
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Server is an embedded NATS server.
type Server struct {
	*server.Server
	// URL is the client URL, e.g. nats://127.0.0.1:41234.
	URL string
}

// Start runs a NATS server with JetStream on a random loopback port,
// storing its data under a fresh t.TempDir(), and shuts it down when the
// test ends. The server's payload limit is 8 MiB (NATS's default is 1 MiB).
func Start(t testing.TB) *Server {
	t.Helper()
	return StartIn(t, t.TempDir(), -1)
}

// StartIn is Start with a chosen store folder and port (-1: random), for
// tests that restart a server on the same data.
func StartIn(t testing.TB, storeDir string, port int) *Server {
	t.Helper()
	s, err := server.NewServer(&server.Options{
		ServerName:             "hookgate-test",
		Host:                   "127.0.0.1",
		Port:                   port,
		JetStream:              true,
		StoreDir:               storeDir,
		MaxPayload:             8 << 20,
		NoLog:                  true,
		NoSigs:                 true,
		DisableJetStreamBanner: true,
	})
	if err != nil {
		t.Fatalf("nats server: %v", err)
	}
	s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		t.Fatal("nats server did not start")
	}
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	return &Server{Server: s, URL: s.ClientURL()}
}
