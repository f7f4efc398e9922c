package gateway_test

import (
	"strings"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway/queue"
)

// waitFinal polls the admin API until the delivery reaches a final status.
func (g *testGateway) waitFinal(t *testing.T, id string) queue.Delivery {
	t.Helper()
	var d queue.Delivery
	waitFor(t, 10*time.Second, func() bool {
		d = queue.Delivery{}
		g.admin(t, "GET", "/deliveries/"+id, "admin-tok", &d)
		return d.Status.Final()
	})
	return d
}

func TestDeliveryIsProcessedThroughRulesAndPlugins(t *testing.T) {
	g := startGateway(t, starConfig, map[string]string{
		"rules/r.toml": `
[[rule]]
name = "record-notes"
on = ["note"]
when = 'note contains "/packit build"'
plugin = "record"

[[rule]]
name = "never"
on = ["note"]
when = 'note contains "no such text"'
plugin = "record"

[[rule]]
name = "broken"
on = ["note"]
when = 'has_command("/packit", "build")'
plugin = "broken"
`,
		"plugins/record.lua": recordPlugin,
		"plugins/broken.lua": "function handle(event, params) error('boom: ' .. event.command.name) end\n",
	})
	r := g.post(t, withNote(t, "Looks good.\n/packit build\n"), map[string]string{"X-Gitlab-Event": "Note Hook", "X-Gitlab-Token": "tok-a"})
	if r.Status != 202 {
		t.Fatalf("post: %d %v", r.Status, r.Body)
	}
	d := g.waitFinal(t, r.Body["id"].(string))
	if d.Status != queue.StatusFailed {
		t.Fatalf("status = %s, want failed (one plugin errors)", d.Status)
	}
	got := map[string]queue.Outcome{}
	for _, o := range d.Outcomes {
		got[o.Rule] = o
	}
	if len(got) != 2 {
		t.Fatalf("outcomes = %+v, want record-notes and broken only", d.Outcomes)
	}
	ok := got["record-notes"]
	if ok.Status != "ok" || !strings.Contains(string(ok.Result), `"project":"gitlab-org/gitlab-test"`) {
		t.Fatalf("record-notes outcome = %+v", ok)
	}
	if len(ok.Logs) != 1 || ok.Logs[0].Message != "seen" {
		t.Fatalf("record-notes logs = %+v", ok.Logs)
	}
	if b := got["broken"]; b.Status != "error" || !strings.Contains(b.Error, "boom: packit") {
		t.Fatalf("broken outcome = %+v", b)
	}
	if d.Attempts != 1 {
		t.Fatalf("attempts = %d, want 1", d.Attempts)
	}
}
