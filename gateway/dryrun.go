package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/hookgate/hookgate/gateway/config"
	"github.com/hookgate/hookgate/gateway/envelope"
	"github.com/hookgate/hookgate/gateway/queue"
	"github.com/hookgate/hookgate/plugins/gitlab"
)

// TestOutput is what `hookgate test` prints as JSON: the envelope and, for
// every rule that matched, its plugin's outcome and recorded API calls.
type TestOutput struct {
	Envelope *envelope.Envelope `json:"envelope"`
	Rules    []TestRule         `json:"rules"`
}

type TestRule struct {
	Rule   string          `json:"rule"`
	Plugin string          `json:"plugin"`
	Status string          `json:"status"`
	Result json.RawMessage `json:"result"`
	Error  string          `json:"error,omitempty"`
	Logs   []queue.LogLine `json:"logs"`
	Calls  []TestCall      `json:"calls"`
}

type TestCall struct {
	Method string          `json:"method"`
	Path   string          `json:"path"`
	Body   json.RawMessage `json:"body,omitempty"`
}

// DryRun normalizes body and runs it through the rules and plugins with
// every GitLab call recorded and none sent. Options are New's (WithModules:
// the extra modules an embedding program gives its plugins).
func DryRun(cfg *config.Config, body []byte, eventType string, opts ...Option) (*TestOutput, error) {
	if eventType == "" {
		var probe struct {
			ObjectKind string `json:"object_kind"`
			EventName  string `json:"event_name"`
		}
		if err := json.Unmarshal(body, &probe); err != nil {
			return nil, fmt.Errorf("%s is not a JSON object: %w", "event", err)
		}
		eventType = envelope.EventForKind(probe.ObjectKind, probe.EventName)
		if eventType == "" {
			return nil, fmt.Errorf("cannot tell the event type from the payload; pass --event-type")
		}
	}
	// As the receiver does for a delivery without X-Gitlab-Instance: the
	// only configured instance is the delivery's.
	instance := ""
	if len(cfg.GitLab) == 1 {
		instance = envelope.NormalizeInstance(cfg.GitLab[0].URL)
	}
	env, err := envelope.Normalize(eventType, body, instance)
	if err != nil {
		return nil, err
	}
	env.ID = "dry-run"
	log := NewLogger(config.Log{Level: "error"}, os.Stderr)
	b, err := LoadBundle(cfg, nil, log, buildOptions(opts).modules...)
	if err != nil {
		return nil, err
	}
	instances := Instances(cfg)
	for i := range instances {
		instances[i].DryRun = true
	}
	gl, err := gitlab.New(instances, log)
	if err != nil {
		return nil, err
	}
	p := &Pipeline{
		Bundle: func() *Bundle { return b },
		GitLab: gl,
		Retry:  RetryPolicy{MaxAttempts: 2}, // a transient failure shows as "retry"
		Logger: log,
	}
	d := &queue.Delivery{ID: env.ID, Envelope: *env, Attempts: 1}
	rep := p.Process(context.Background(), d)
	out := &TestOutput{Envelope: env, Rules: []TestRule{}}
	for _, o := range rep.Outcomes {
		r := TestRule{Rule: o.Rule, Plugin: o.Plugin, Status: o.Status, Result: o.Result, Error: o.Error,
			Logs: o.Logs, Calls: []TestCall{}}
		if r.Logs == nil {
			r.Logs = []queue.LogLine{}
		}
		if r.Result == nil {
			r.Result = json.RawMessage("null")
		}
		for _, c := range o.Calls {
			r.Calls = append(r.Calls, TestCall{Method: c.Method, Path: c.Path, Body: c.Body})
		}
		out.Rules = append(out.Rules, r)
	}
	return out, nil
}
