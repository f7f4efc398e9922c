package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/hookgate/hookgate/gateway"
	"github.com/hookgate/hookgate/gateway/config"
	"github.com/hookgate/hookgate/gateway/envelope"
	"github.com/hookgate/hookgate/gateway/queue"
	"github.com/hookgate/hookgate/plugins/gitlab"
)

// testOutput is the JSON `hookgate test` prints.
type testOutput struct {
	Envelope *envelope.Envelope `json:"envelope"`
	Rules    []testRule         `json:"rules"`
}

type testRule struct {
	Rule   string          `json:"rule"`
	Plugin string          `json:"plugin"`
	Status string          `json:"status"`
	Result json.RawMessage `json:"result"`
	Error  string          `json:"error,omitempty"`
	Logs   []queue.LogLine `json:"logs"`
	Calls  []testCall      `json:"calls"`
}

type testCall struct {
	Method string          `json:"method"`
	Path   string          `json:"path"`
	Body   json.RawMessage `json:"body,omitempty"`
}

func testEvent(args []string) int {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	cfgPath := fs.String("config", "", "configuration file (default: embedded defaults)")
	eventFile := fs.String("event", "", "payload file (JSON body of a GitLab webhook)")
	eventType := fs.String("event-type", "", `X-Gitlab-Event value, e.g. "Note Hook" (default: from the payload)`)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *eventFile == "" {
		fmt.Fprintln(os.Stderr, "hookgate test: --event FILE is required")
		return 2
	}
	body, err := os.ReadFile(*eventFile)
	if err != nil {
		fmt.Fprintf(os.Stderr, "hookgate test: %v\n", err)
		return 1
	}
	cfg, cleanup, err := loadForTools(*cfgPath)
	if err != nil {
		printProblems(err)
		return 1
	}
	defer cleanup()
	out, err := dryRun(cfg, body, *eventType)
	if err != nil {
		fmt.Fprintf(os.Stderr, "hookgate test: %v\n", err)
		return 1
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		return 1
	}
	return 0
}

// dryRun normalizes body and runs it through the rules and plugins with
// every GitLab call recorded and none sent.
func dryRun(cfg *config.Config, body []byte, eventType string) (*testOutput, error) {
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
	env, err := envelope.Normalize(eventType, body, "")
	if err != nil {
		return nil, err
	}
	env.ID = "dry-run"
	log := gateway.NewLogger(config.Log{Level: "error"}, os.Stderr)
	b, err := gateway.LoadBundle(cfg, nil, log)
	if err != nil {
		return nil, err
	}
	instances := gateway.Instances(cfg)
	for i := range instances {
		instances[i].DryRun = true
	}
	gl, err := gitlab.New(instances, log)
	if err != nil {
		return nil, err
	}
	p := &gateway.Pipeline{
		Bundle: func() *gateway.Bundle { return b },
		GitLab: gl,
		Retry:  gateway.RetryPolicy{MaxAttempts: 2}, // a transient failure shows as "retry"
		Logger: log,
	}
	d := &queue.Delivery{ID: env.ID, Envelope: *env, Attempts: 1}
	rep := p.Process(context.Background(), d)
	out := &testOutput{Envelope: env, Rules: []testRule{}}
	for _, o := range rep.Outcomes {
		r := testRule{Rule: o.Rule, Plugin: o.Plugin, Status: o.Status, Result: o.Result, Error: o.Error,
			Logs: o.Logs, Calls: []testCall{}}
		if r.Logs == nil {
			r.Logs = []queue.LogLine{}
		}
		if r.Result == nil {
			r.Result = json.RawMessage("null")
		}
		for _, c := range o.Calls {
			r.Calls = append(r.Calls, testCall{Method: c.Method, Path: c.Path, Body: c.Body})
		}
		out.Rules = append(out.Rules, r)
	}
	return out, nil
}
