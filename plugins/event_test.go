package plugins

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/hookgate/hookgate/gateway/envelope"
)

// TestEventTable pins the event table a script gets.
func TestEventTable(t *testing.T) {
	s := mustLoad(t, map[string]string{
		"fields": `function handle(e)
  return {
    id = e.id, kind = e.kind, event = e.event, action = e.action, instance = e.instance,
    project = e.project, user = e.user, ref = e.ref, branch = e.branch, tag = e.tag, sha = e.sha,
    note = e.note, noteable_type = e.noteable_type, note_id = e.note_id, system = e.system,
    merge_request = e.merge_request, issue = e.issue, labels = e.labels,
    commands = e.commands, command = e.command, kind_of_payload = e.payload.object_kind,
    unknown = e.nope,
  }
end`,
		"lazy": `function handle(e)
  local before = rawget(e, "note")
  local same = e.merge_request == e.merge_request and e.payload == e.payload
  e.merge_request.iid = 99
  e.note = "changed"
  local own = 0
  for k in pairs(e) do own = own + 1 end
  return { before = before == nil, same = same, iid = e.merge_request.iid, note = e.note, own = own }
end`,
		"whole": `function handle(e) e.note = "mine" return e end`,
	}, Options{})
	env := noteEnvelope(t)
	r := s.Run(context.Background(), "fields", env, nil)
	want := `{"action":"create","branch":"master","command":{"args":["build"],"line":"/packit build","name":"packit"},` +
		`"commands":[{"args":["build"],"line":"/packit build","name":"packit"}],"event":"Note Hook",` +
		`"id":"01J0000000000000000000TEST","instance":"http://example.com","issue":{"iid":0,"labels":{},"state":"","title":""},` +
		`"kind":"note","kind_of_payload":"note","labels":["bug","ci"],` +
		`"merge_request":{"draft":false,"iid":1,"labels":["bug","ci"],"source_branch":"master","source_project_id":5,"state":"opened","target_branch":"markdown","title":"Tempora et eos debitis quae laborum et."},` +
		`"note":"/packit build","note_id":1244,"noteable_type":"MergeRequest",` +
		`"project":{"id":5,"path":"gitlab-org/gitlab-test","url":"http://example.com/gitlab-org/gitlab-test"},` +
		`"ref":"refs/heads/master","sha":"5ec0f2a1d1c6c35f1d1f6e22a0d8c6c6f0e4c1a0","system":false,"tag":"",` +
		`"user":{"id":1,"name":"Administrator","username":"root"}}`
	if r.Status != StatusOK || string(r.Value) != want {
		t.Errorf("fields:\n got %s %s %v\nwant %s", r.Status, r.Value, r.Err, want)
	}

	r = s.Run(context.Background(), "lazy", env, nil)
	if string(r.Value) != `{"before":true,"iid":99,"note":"changed","own":1,"same":true}` {
		t.Errorf("lazy: %s %v", r.Value, r.Err)
	}
	if env.MergeRequest.IID != 1 || env.Note != "/packit build" {
		t.Errorf("script changed the envelope")
	}

	// Returning the event materializes it whole, with the script's
	// changes, and matches the eager conversion.
	r = s.Run(context.Background(), "whole", env, nil)
	var got map[string]any
	if err := json.Unmarshal(r.Value, &got); err != nil {
		t.Fatalf("whole: %s %v", r.Value, r.Err)
	}
	if got["note"] != "mine" || len(got) != len(eventFields) {
		t.Errorf("whole event: %d fields, note %v", len(got), got["note"])
	}
	st := testState(t)
	eager, err := eventToLua(st.L, env, nil)
	if err != nil {
		t.Fatal(err)
	}
	eager.RawSetString("note", eagerString("mine"))
	b, err := encodeJSON(eager, jsonBudget(nil, "event", 0), nil, nil)
	if err != nil || string(b) != string(r.Value) {
		t.Errorf("eager and lazy differ:\n%s\n%s", b, r.Value)
	}
}

// TestEmptyEnvelope: every field is present (empty) for any event.
func TestEmptyEnvelope(t *testing.T) {
	s := mustLoad(t, map[string]string{"p": `function handle(e)
  return { #e.labels, #e.commands, e.command.name, #e.command.args, e.merge_request.iid, type(e.payload), e.note, e.system }
end`}, Options{})
	r := s.Run(context.Background(), "p", &envelope.Envelope{}, nil)
	if r.Status != StatusOK || string(r.Value) != `[0,0,"",0,0,"table","",false]` {
		t.Errorf("got %s %s %v", r.Status, r.Value, r.Err)
	}
	r = s.Run(context.Background(), "p", nil, nil)
	if r.Status != StatusOK {
		t.Errorf("nil envelope: %v", r.Err)
	}
}

// TestBadPayload: a payload that is not JSON fails only the script that
// reads it.
func TestBadPayload(t *testing.T) {
	s := mustLoad(t, map[string]string{
		"reads":   `function handle(e) return e.payload end`,
		"ignores": `function handle(e) return e.kind end`,
	}, Options{})
	env := &envelope.Envelope{Kind: "push", Payload: json.RawMessage(`{"broken":`)}
	if r := s.Run(context.Background(), "reads", env, nil); r.Status != StatusError || errText(r.Err) != "reads.lua:1: event.payload: unexpected end of input" {
		t.Errorf("reads: %s %v", r.Status, r.Err)
	}
	if r := s.Run(context.Background(), "ignores", env, nil); r.Status != StatusOK || string(r.Value) != `"push"` {
		t.Errorf("ignores: %s %v", r.Status, r.Err)
	}
}
