package loadgen

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fastjson"
)

// Payload is one delivery body and what is sent with it. Every request of
// a run sends the same body with its own Idempotency-Key (and, when
// signing, its own webhook-id, timestamp and signature).
type Payload struct {
	// Body is the JSON body sent.
	Body []byte
	// Event is the X-Gitlab-Event header, e.g. "Note Hook".
	Event string
	// Token, when set, is sent as X-Gitlab-Token.
	Token string
	// signKey is the decoded HMAC key of a "whsec_..." signing key; nil
	// when deliveries are not signed.
	signKey []byte
}

// NewPayload builds the payload from a GitLab delivery body. When note is
// not empty, object_attributes.note is set to it (the body must then be a
// note event). signingKey ("whsec_<base64>") signs every request the way
// GitLab does (webhook-id, webhook-timestamp, webhook-signature); "" sends
// no signature.
func NewPayload(body []byte, event, note, token, signingKey string) (*Payload, error) {
	if event == "" {
		return nil, errors.New("loadgen: payload: empty event type")
	}
	var p fastjson.Parser
	v, err := p.ParseBytes(body)
	if err != nil {
		return nil, fmt.Errorf("loadgen: payload: %w", err)
	}
	if note != "" {
		attrs := v.Get("object_attributes")
		if attrs == nil || attrs.Type() != fastjson.TypeObject {
			return nil, errors.New("loadgen: payload: a note text needs a body with object_attributes")
		}
		var a fastjson.Arena
		attrs.Set("note", a.NewString(note))
		body = v.MarshalTo(nil)
	}
	pl := &Payload{Body: body, Event: event, Token: token}
	if signingKey != "" {
		b64, ok := strings.CutPrefix(signingKey, "whsec_")
		if !ok {
			return nil, errors.New(`loadgen: payload: signing key must start with "whsec_"`)
		}
		key, err := base64.StdEncoding.DecodeString(b64)
		if err != nil || len(key) == 0 {
			return nil, errors.New("loadgen: payload: signing key is not base64 after whsec_")
		}
		pl.signKey = key
	}
	return pl, nil
}

// header is one request header.
type header struct{ name, value string }

// headers are the headers of a request with Idempotency-Key key.
func (p *Payload) headers(key string, now time.Time) []header {
	h := make([]header, 0, 7)
	h = append(h,
		header{"Content-Type", "application/json"},
		header{"X-Gitlab-Event", p.Event},
		header{"Idempotency-Key", key},
	)
	if p.Token != "" {
		h = append(h, header{"X-Gitlab-Token", p.Token})
	}
	if p.signKey != nil {
		ts := strconv.FormatInt(now.Unix(), 10)
		h = append(h,
			header{"webhook-id", key},
			header{"webhook-timestamp", ts},
			header{"webhook-signature", "v1," + sign(p.signKey, key, ts, p.Body)},
		)
	}
	return h
}

// sign is the Standard Webhooks signature: base64 HMAC-SHA256 over
// id.timestamp.body.
func sign(key []byte, id, ts string, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}
