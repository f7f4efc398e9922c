package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/hookgate/hookgate/gateway/config"
	"github.com/hookgate/hookgate/gateway/queue"
	"github.com/hookgate/hookgate/gateway/queue/local"
	"github.com/hookgate/hookgate/gateway/queue/natsq"
	"github.com/hookgate/hookgate/plugins"
)

// Store is what the gateway needs from a queue backend: the queue and
// delivery log (receiver, workers, admin API), the plugins' key-value store
// and the backlog for metrics. Both backends provide it; which one runs is
// the configuration's [queue] backend, and nothing else in the gateway
// depends on the choice.
type Store interface {
	queue.Backend
	plugins.KV
	Backlogger
}

var (
	_ Store = (*local.Store)(nil)
	_ Store = (*natsq.Store)(nil)
)

// openBackend opens the configured queue backend. onQuarantine is called
// with the id of each delivery quarantined for killing the process.
func openBackend(cfg *config.Config, log *slog.Logger, onQuarantine func(id string)) (Store, error) {
	q := &cfg.Queue
	policy := queue.Policy{
		DedupeWindow:    time.Duration(q.DedupeWindow),
		QuarantineAfter: q.QuarantineAfter,
		RetainFor:       time.Duration(q.RetainFor),
		RetainCount:     q.RetainCount,
	}
	// The plugins' kv quota is the store's: it checks it with the write.
	kvQuota := queue.KVQuota{MaxKeys: cfg.Plugins.KVMaxKeys, MaxBytes: cfg.Plugins.KVMaxBytes.Int64()}
	switch q.Backend {
	case "nats":
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		s, err := natsq.Open(ctx, natsq.Options{
			URLs:            q.URL,
			CredentialsFile: q.Credentials,
			Token:           q.Token.Value(),
			TLSCA:           q.TLSCA,
			TLSCert:         q.TLSCert,
			TLSKey:          q.TLSKey,
			Stream:          q.Stream,
			Subject:         q.Subject,
			Replicas:        q.Replicas,
			MaxAge:          time.Duration(q.MaxAge),
			AckWait:         time.Duration(q.AckWait),
			MaxAttempts:     q.MaxAttempts,
			Policy:          policy,
			KVQuota:         kvQuota,
			Logger:          log,
			OnQuarantine:    onQuarantine,
		})
		if err != nil {
			return nil, fmt.Errorf("open nats queue: %w", err)
		}
		if max := s.MaxPayload(); int64(cfg.Server.MaxBodyBytes) > max {
			log.Warn("server.max_body_bytes is larger than the NATS servers' max_payload: larger deliveries are answered 503",
				"max_body_bytes", int64(cfg.Server.MaxBodyBytes), "nats_max_payload", max)
		}
		return s, nil
	case "local", "":
		s, err := local.Open(q.Path, local.Options{
			OnQuarantine: onQuarantine,
			Policy:       policy,
			KVQuota:      kvQuota,
			Logger:       log,
		})
		if err != nil {
			return nil, fmt.Errorf("open queue: %w", err)
		}
		return s, nil
	default:
		return nil, fmt.Errorf("unknown queue backend %q", q.Backend)
	}
}
