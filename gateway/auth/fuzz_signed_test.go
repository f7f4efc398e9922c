package auth

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzVerifySigned is FuzzVerify with an oracle that recomputes the
// signatures: a delivery is accepted only with a token or with a fresh
// webhook-signature entry that is the HMAC of id, timestamp and body under
// one of the configured keys; and a fresh, correct signature for a project
// whose only credential is a signing key is always accepted. Its seeds
// (testdata/fuzz/FuzzVerifySigned) are GitLab payloads signed for real.
func FuzzVerifySigned(f *testing.F) {
	v, err := New(testSecrets)
	if err != nil {
		f.Fatal(err)
	}
	now := time.Unix(vectorTS, 0)
	f.Add("signed/proj", "", vectorID, strconv.Itoa(vectorTS), vectorSig, []byte(vectorBody))
	f.Fuzz(func(t *testing.T, project, token, id, ts, sig string, body []byte) {
		err := v.Verify(project, Headers{Token: token, WebhookID: id, WebhookTimestamp: ts, WebhookSignature: sig}, body, now)
		signedBy := ""
		if sec, perr := strconv.ParseInt(ts, 10, 64); perr == nil && id != "" && sec >= now.Unix()-int64(MaxSkew/time.Second) && sec <= now.Unix()+int64(MaxSkew/time.Second) {
			entries := strings.Fields(sig)
			for _, key := range []string{vectorKey, otherKey} {
				want := Sign(key, id, time.Unix(sec, 0), body)
				for _, e := range entries[:min(len(entries), maxSignatures)] {
					if e == want && signedBy == "" {
						signedBy = key
					}
				}
			}
		}
		if err == nil && token == "" && signedBy == "" {
			t.Fatalf("accepted %q without a token or a correct signature", project)
		}
		keyOnly := (project == "signed/proj" && signedBy == vectorKey) || (project == "rotated/proj" && signedBy != "")
		if keyOnly && err != nil {
			t.Fatalf("refused a correct signature for %q: %v", project, err)
		}
	})
}
