package natsq

import (
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway/queue"
	"github.com/hookgate/hookgate/gateway/queue/natsq/natstest"
	"github.com/hookgate/hookgate/gateway/queue/queuetest"
)

var streamSeq atomic.Int64

// open opens a store on its own stream of srv and closes it at the end of
// the test.
func open(t *testing.T, srv *natstest.Server, opts Options) *Store {
	t.Helper()
	if opts.Stream == "" {
		n := streamSeq.Add(1)
		opts.Stream = fmt.Sprintf("T%d", n)
		opts.Subject = fmt.Sprintf("t%d.deliveries", n)
	}
	opts.URLs = []string{srv.URL}
	if opts.SweepInterval == 0 {
		opts.SweepInterval = -1
	}
	if opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	s, err := Open(t.Context(), opts)
	return queuetest.Opened(t, s, err)
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// The helpers both backends' tests share.
var (
	ctx        = queuetest.Context
	delivery   = queuetest.Delivery
	mustClaim  = queuetest.Claim
	nothingFor = queuetest.NoClaim
)

func TestConformance(t *testing.T) {
	srv := natstest.Start(t)
	queuetest.Run(t, func(t *testing.T) queue.Backend {
		return open(t, srv, Options{})
	})
}

func TestConformanceClock(t *testing.T) {
	srv := natstest.Start(t)
	queuetest.RunClock(t, func(t *testing.T, now func() time.Time, window time.Duration) queue.Backend {
		return open(t, srv, Options{Now: now, Policy: queue.Policy{DedupeWindow: window}})
	})
}
