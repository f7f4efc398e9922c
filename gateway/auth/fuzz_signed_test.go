package auth

import (
	"encoding/base64"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway/config"
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
		err := verify(v, project, Headers{Token: token, WebhookID: id, WebhookTimestamp: ts, WebhookSignature: sig}, body, now)
		// Standard Webhooks: the MAC is over the header's own text of the
		// timestamp, and a signature is its canonical base64.
		signedBy := ""
		if sec, perr := strconv.ParseInt(ts, 10, 64); perr == nil && id != "" && sec >= now.Unix()-int64(MaxSkew/time.Second) && sec <= now.Unix()+int64(MaxSkew/time.Second) {
			entries := strings.Fields(sig)
			for _, key := range []string{vectorKey, otherKey} {
				k, kerr := config.DecodeSigningKey(key)
				if kerr != nil {
					t.Fatal(kerr)
				}
				sum := mac(k, id, ts, body)
				want := "v1," + base64.StdEncoding.EncodeToString(sum[:])
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
