package gateway_test

import (
	"fmt"
	"testing"

	"github.com/hookgate/hookgate/gateway/queue"
	"github.com/hookgate/hookgate/gateway/queue/natsq/natstest"
)

// TestNATSBackend runs the same gateway on the JetStream backend: a
// delivery is stored, processed through the rule and its plugin (which
// uses the kv module), listed by the admin API, and a second delivery with
// the same key, sent to a second gateway on the same stream, is answered
// duplicate.
func TestNATSBackend(t *testing.T) {
	srv := natstest.Start(t)
	cfg := fmt.Sprintf(`
[queue]
backend = "nats"
url = [%q]
stream = "GW"
subject = "gw.deliveries"
path = "data/hookgate.db"
[[secret]]
project = "*"
token = "tok-a"
[admin]
token = "admin-tok"
`, srv.URL)
	files := map[string]string{
		"rules/all.toml": "[[rule]]\nname = \"count\"\nplugin = \"count\"\n",
		"plugins/count.lua": `
function handle(event, params)
  local n = tonumber(kv.get("seen") or "0") + 1
  kv.set("seen", tostring(n))
  return { seen = n }
end
`,
	}
	a := startGateway(t, cfg, files)
	b := startGateway(t, cfg, files)
	headers := map[string]string{"X-Gitlab-Event": "Note Hook", "X-Gitlab-Token": "tok-a", "Idempotency-Key": "k-1"}
	r := a.post(t, withNote(t, "hello"), headers)
	if r.Status != 202 || r.Body["status"] != "queued" {
		t.Fatalf("post: %d %v", r.Status, r.Body)
	}
	id := r.Body["id"].(string)
	if dup := b.post(t, withNote(t, "hello"), headers); dup.Status != 200 || dup.Body["status"] != "duplicate" || dup.Body["id"] != id {
		t.Fatalf("same key on the other gateway: %d %v", dup.Status, dup.Body)
	}
	d := b.waitFinal(t, id)
	if d.Status != queue.StatusDone || len(d.Outcomes) != 1 || string(d.Outcomes[0].Result) != `{"seen":1}` {
		t.Fatalf("delivery %+v", d)
	}
	r = b.post(t, withNote(t, "again"), map[string]string{"X-Gitlab-Event": "Note Hook", "X-Gitlab-Token": "tok-a"})
	if d := a.waitFinal(t, r.Body["id"].(string)); string(d.Outcomes[0].Result) != `{"seen":2}` {
		t.Errorf("second run saw %s: the kv store is not shared", d.Outcomes[0].Result)
	}
	var list struct{ Deliveries []queue.Delivery }
	if code := a.admin(t, "GET", "/deliveries?status=done", "admin-tok", &list); code != 200 || len(list.Deliveries) != 2 {
		t.Errorf("admin list: %d, %d deliveries", code, len(list.Deliveries))
	}
	for _, g := range []*testGateway{a, b} {
		if code := g.admin(t, "GET", "/rules", "admin-tok", nil); code != 200 {
			t.Errorf("rules: %d", code)
		}
	}
}
