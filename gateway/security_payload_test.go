package gateway_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/hookgate/hookgate/gateway/queue"
)

// The attacker review's worker-side break: a payload the receiver accepts
// (within its value budget) was decoded whole, without a budget, by every
// rule reading payload.x and every plugin reading event.payload: 1.15 GiB
// for one delivery. Both now refuse payloads of more than
// envelope.MaxDecodedValues values, for that rule or run only.
func TestHugePayloadIsNotDecodedWhole(t *testing.T) {
	rules := `
[[rule]]
name = "reads-payload"
on = ["note"]
when = 'payload.object_kind == "note"'
plugin = "ok"

[[rule]]
name = "plugin-reads-payload"
on = ["note"]
plugin = "payload"

[[rule]]
name = "ordinary"
on = ["note"]
plugin = "ok"
`
	g := startGateway(t, `
[queue]
path = "data/hookgate.db"
[[secret]]
project = "*"
token = "tok-a"
[admin]
token = "admin-tok"
`, map[string]string{
		"rules/r.toml":        rules,
		"plugins/ok.lua":      "function handle(event) return { ok = true } end\n",
		"plugins/payload.lua": "function handle(event) return { kind = event.payload.object_kind } end\n",
	})
	// The note fixture with 150,000 more values: under the receiver's
	// budget (200,000), over what conditions and plugins decode.
	var m map[string]any
	if err := json.Unmarshal(fixture(t, "note_merge_request.json"), &m); err != nil {
		t.Fatal(err)
	}
	var extra bytes.Buffer
	extra.WriteString(`{`)
	for i := range 150_000 {
		if i > 0 {
			extra.WriteByte(',')
		}
		fmt.Fprintf(&extra, `"%06d":0`, i)
	}
	extra.WriteString(`}`)
	m["extra"] = json.RawMessage(extra.Bytes())
	body, _ := json.Marshal(m)

	var d queue.Delivery
	alloc := allocatedBy(func() {
		r := g.post(t, body, map[string]string{"X-Gitlab-Event": "Note Hook", "X-Gitlab-Token": "tok-a"})
		if r.Status != 202 {
			t.Fatalf("post: %d %v", r.Status, r.Body)
		}
		d = g.waitFinal(t, r.Body["id"].(string))
	})
	t.Logf("%d KiB payload: %d MiB allocated", len(body)>>10, alloc>>20)
	if alloc > 128<<20 {
		t.Fatalf("one delivery of a %d KiB payload cost %d MiB", len(body)>>10, alloc>>20)
	}
	want := map[string]string{
		"reads-payload":        "conditions read payloads of at most 100000",
		"plugin-reads-payload": "event.payload: more than 100000 values",
	}
	for _, o := range d.Outcomes {
		switch w, ok := want[o.Rule]; {
		case ok && (o.Status != "error" || !strings.Contains(o.Error, w)):
			t.Errorf("%s: %s %q, want an error with %q", o.Rule, o.Status, o.Error, w)
		case !ok && o.Status != "ok":
			t.Errorf("%s: %s %q, want ok: the others still run", o.Rule, o.Status, o.Error)
		}
		delete(want, o.Rule)
	}
	if len(want) > 0 {
		t.Errorf("no outcome for %v in %+v", want, d.Outcomes)
	}
}
