package natsq

import (
	"context"
	"fmt"

	"github.com/hookgate/hookgate/gateway/queue"
)

// Backlog says how much work waits, for metrics, from two cheap requests
// (stream and consumer info), whatever the size of the log. It is the
// whole cluster's backlog, not this replica's: Queued counts messages not
// yet delivered to any replica; Running counts messages delivered and not
// yet settled, which under JetStream also includes retries waiting out
// their backoff and messages a replica holds for an idle worker. Oldest is
// when the oldest message in the stream was published (for a replay, when
// it was replayed).
func (s *Store) Backlog(ctx context.Context) (queue.Backlog, error) {
	leave, err := s.enter()
	if err != nil {
		return queue.Backlog{}, fmt.Errorf("natsq: backlog: %w", err)
	}
	defer leave()
	si, err := s.stream.Info(ctx)
	if err != nil {
		return queue.Backlog{}, fmt.Errorf("natsq: backlog: %w", err)
	}
	ci, err := s.cons.Info(ctx)
	if err != nil {
		return queue.Backlog{}, fmt.Errorf("natsq: backlog: %w", err)
	}
	b := queue.Backlog{Queued: int(ci.NumPending), Running: ci.NumAckPending}
	if si.State.Msgs > 0 {
		b.Oldest = si.State.FirstTime
	}
	return b, nil
}
