package plugintest

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/hookgate/hookgate/gateway/envelope"
)

// Event reads a webhook payload file (the JSON body GitLab posts) and
// normalizes it into the envelope a plugin receives, as the receiver does.
// eventType is the X-Gitlab-Event header ("Note Hook"); "" takes it from
// the payload's object_kind (or event_name for system hooks). The
// envelope's ID is "plugintest". A file that is not a webhook payload
// fails the test.
func Event(t testing.TB, file, eventType string) *envelope.Envelope {
	t.Helper()
	body, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("plugintest: %v", err)
	}
	return EventJSON(t, body, eventType)
}

// EventJSON is Event for a payload already in memory.
func EventJSON(t testing.TB, body []byte, eventType string) *envelope.Envelope {
	t.Helper()
	if eventType == "" {
		var probe struct {
			ObjectKind string `json:"object_kind"`
			EventName  string `json:"event_name"`
		}
		if err := json.Unmarshal(body, &probe); err != nil {
			t.Fatalf("plugintest: payload is not a JSON object: %v", err)
		}
		if eventType = envelope.EventForKind(probe.ObjectKind, probe.EventName); eventType == "" {
			t.Fatalf("plugintest: cannot tell the event type from the payload (object_kind %q); pass it", probe.ObjectKind)
		}
	}
	env, err := envelope.Normalize(eventType, body, "")
	if err != nil {
		t.Fatalf("plugintest: normalizing the payload: %v", err)
	}
	env.ID = "plugintest"
	return env
}
