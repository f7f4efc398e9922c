package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hookgate/hookgate/gateway/config"
)

// maxSignatures bounds how many v1 entries of webhook-signature are tried.
const maxSignatures = 8

// signed is the parsed signature headers of one delivery.
type signed struct {
	err  error // why the headers cannot verify anything; nil when usable
	id   string
	ts   string
	n    int
	sigs [maxSignatures][sha256.Size]byte
}

// parseSigned checks presence, format and freshness once per delivery.
func parseSigned(h Headers, now time.Time) *signed {
	s := &signed{id: h.WebhookID, ts: h.WebhookTimestamp}
	switch {
	case h.WebhookID == "":
		s.err = fmt.Errorf("%w: webhook-id", ErrMissingSignature)
		return s
	case h.WebhookTimestamp == "":
		s.err = fmt.Errorf("%w: webhook-timestamp", ErrMissingSignature)
		return s
	case h.WebhookSignature == "":
		s.err = fmt.Errorf("%w: webhook-signature", ErrMissingSignature)
		return s
	}
	ts, err := strconv.ParseInt(h.WebhookTimestamp, 10, 64)
	if err != nil {
		s.err = fmt.Errorf("%w: webhook-timestamp is not unix seconds", ErrBadSignature)
		return s
	}
	skew := int64(MaxSkew / time.Second)
	if n := now.Unix(); ts > n+skew || ts < n-skew {
		s.err = ErrStaleTimestamp
		return s
	}
	for _, part := range strings.Fields(h.WebhookSignature) {
		version, b64, ok := strings.Cut(part, ",")
		if !ok || version != "v1" || len(b64) != base64.StdEncoding.EncodedLen(sha256.Size) {
			continue // another scheme, or not an HMAC-SHA256
		}
		var buf [sha256.Size + 2]byte // DecodedLen of 44 characters is 33
		// Strict: only the canonical encoding of a MAC is that MAC, as in
		// the reference implementations, which compare encoded strings.
		if n, err := base64.StdEncoding.Strict().Decode(buf[:], []byte(b64)); err != nil || n != sha256.Size {
			continue
		}
		copy(s.sigs[s.n][:], buf[:sha256.Size])
		if s.n++; s.n == maxSignatures {
			break
		}
	}
	if s.n == 0 {
		s.err = fmt.Errorf("%w: no v1 HMAC-SHA256 signature in webhook-signature", ErrBadSignature)
	}
	return s
}

// verify reports whether one of the received signatures is the HMAC of
// this delivery under key.
func (s *signed) verify(key, body []byte) error {
	if s.err != nil {
		return s.err
	}
	want := mac(key, s.id, s.ts, body)
	for i := range s.n {
		if hmac.Equal(want[:], s.sigs[i][:]) {
			return nil
		}
	}
	return ErrBadSignature
}

// mac is HMAC-SHA256(key, id + "." + timestamp + "." + body).
func mac(key []byte, id, ts string, body []byte) [sha256.Size]byte {
	m := hmac.New(sha256.New, key)
	buf := make([]byte, 0, len(id)+len(ts)+2)
	buf = append(append(append(append(buf, id...), '.'), ts...), '.')
	m.Write(buf)
	m.Write(body)
	var out [sha256.Size]byte
	m.Sum(out[:0])
	return out
}

// Sign returns the webhook-signature header value ("v1,<base64>") GitLab
// would send for body with this id and timestamp, for tests and load
// tools. key is a "whsec_<base64>" signing key; anything else is used as
// raw key bytes (after removing a "whsec_" prefix).
func Sign(key string, id string, ts time.Time, body []byte) string {
	k, err := config.DecodeSigningKey(key)
	if err != nil {
		k = []byte(strings.TrimPrefix(key, config.SigningKeyPrefix))
	}
	sum := mac(k, id, strconv.FormatInt(ts.Unix(), 10), body)
	return "v1," + base64.StdEncoding.EncodeToString(sum[:])
}
