package auth

import (
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway/config"
)

// The Standard Webhooks reference vector: what GitLab and every receiver
// library compute.
const (
	vectorKey  = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vectorID   = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vectorTS   = 1614265330
	vectorBody = `{"test": 2432232314}`
	vectorSig  = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

var otherKey = "whsec_" + base64.StdEncoding.EncodeToString([]byte("another signing key, 32 bytes.."))

func TestSignVector(t *testing.T) {
	if got := Sign(vectorKey, vectorID, time.Unix(vectorTS, 0), []byte(vectorBody)); got != vectorSig {
		t.Fatalf("Sign = %q, want %q", got, vectorSig)
	}
	v, err := New([]config.WebhookSecret{{Project: "*", SigningKey: config.NewSecret(vectorKey)}})
	if err != nil {
		t.Fatal(err)
	}
	h := Headers{WebhookID: vectorID, WebhookTimestamp: strconv.Itoa(vectorTS), WebhookSignature: vectorSig}
	if err := verify(v, "a/b", h, []byte(vectorBody), time.Unix(vectorTS+10, 0)); err != nil {
		t.Fatalf("reference vector refused: %v", err)
	}
}

func secret(project, token, key string) config.WebhookSecret {
	return config.WebhookSecret{Project: project, Token: config.NewSecret(token), SigningKey: config.NewSecret(key)}
}

// testSecrets is the configuration the table below runs against; every
// token and key value is one no error may contain.
var testSecrets = []config.WebhookSecret{
	secret("group/proj", "exact-token-1", ""),
	secret("group/proj", "exact-token-2", ""), // rotation
	secret("group/*", "group-glob-token", ""),
	secret("deep/**", "deep-token", ""),
	secret("Mixed/Case", "mixed-token", ""),
	secret("*", "star-token", ""),
	secret("signed/proj", "", vectorKey),
	secret("both/proj", "both-token", otherKey),
	secret("rotated/proj", "", vectorKey),
	secret("rotated/proj", "", otherKey),
	secret("other/proj", "other-token", ""),
}

func TestVerify(t *testing.T) {
	v, err := New(testSecrets)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_700_000_000, 0)
	body := []byte(`{"object_kind":"push"}`)
	signedBy := func(key string, ts time.Time) Headers {
		return Headers{
			WebhookID:        "msg_1",
			WebhookTimestamp: strconv.FormatInt(ts.Unix(), 10),
			WebhookSignature: Sign(key, "msg_1", ts, body),
		}
	}
	good := signedBy(vectorKey, now)
	with := func(h Headers, f func(*Headers)) Headers { f(&h); return h }

	tests := []struct {
		name    string
		project string
		h       Headers
		body    []byte // nil: body
		want    error
	}{
		// Token tiers.
		{"exact", "group/proj", Headers{Token: "exact-token-1"}, nil, nil},
		{"exact rotated", "group/proj", Headers{Token: "exact-token-2"}, nil, nil},
		{"exact beats glob", "group/proj", Headers{Token: "group-glob-token"}, nil, ErrBadToken},
		{"exact beats star", "group/proj", Headers{Token: "star-token"}, nil, ErrBadToken},
		{"glob", "group/other", Headers{Token: "group-glob-token"}, nil, nil},
		{"glob beats star", "group/other", Headers{Token: "star-token"}, nil, ErrBadToken},
		{"glob is one level", "group/sub/proj", Headers{Token: "group-glob-token"}, nil, ErrBadToken},
		{"deeper than glob falls to star", "group/sub/proj", Headers{Token: "star-token"}, nil, nil},
		{"deep glob", "deep/a/b/c", Headers{Token: "deep-token"}, nil, nil},
		{"deep glob one level", "deep/a", Headers{Token: "deep-token"}, nil, nil},
		// "**" matches no segment too (projectglob's dialect, as in rules);
		// no project's path is a bare group, so this opens nothing.
		{"deep glob, the group itself", "deep", Headers{Token: "deep-token"}, nil, nil},
		{"case-insensitive", "mixed/CASE", Headers{Token: "mixed-token"}, nil, nil},
		{"star", "someone/else", Headers{Token: "star-token"}, nil, nil},
		{"no project uses star", "", Headers{Token: "star-token"}, nil, nil},
		{"token of another project", "group/proj", Headers{Token: "other-token"}, nil, ErrBadToken},
		{"token of another project (star)", "someone/else", Headers{Token: "other-token"}, nil, ErrBadToken},
		{"missing token", "group/proj", Headers{}, nil, ErrBadToken},
		{"token prefix", "group/proj", Headers{Token: "exact-token-"}, nil, ErrBadToken},
		{"token longer", "group/proj", Headers{Token: "exact-token-1x"}, nil, ErrBadToken},

		// Signatures.
		{"valid signature", "signed/proj", good, nil, nil},
		{"token does not replace signature", "signed/proj", Headers{Token: "star-token"}, nil, ErrMissingSignature},
		{"signed with another key", "signed/proj", signedBy(otherKey, now), nil, ErrBadSignature},
		{"body changed", "signed/proj", good, []byte(`{"object_kind":"push "}`), ErrBadSignature},
		{"id changed", "signed/proj", with(good, func(h *Headers) { h.WebhookID = "msg_2" }), nil, ErrBadSignature},
		{"timestamp changed", "signed/proj", with(good, func(h *Headers) {
			h.WebhookTimestamp = strconv.FormatInt(now.Unix()+1, 10)
		}), nil, ErrBadSignature},
		{"several signatures, one valid", "signed/proj", with(good, func(h *Headers) {
			h.WebhookSignature = "v1a,c29tZXRoaW5nIGVsc2U= " + signedBy(otherKey, now).WebhookSignature + "  " + h.WebhookSignature
		}), nil, nil},
		{"several signatures, none valid", "signed/proj", with(good, func(h *Headers) {
			h.WebhookSignature = signedBy(otherKey, now).WebhookSignature + " " + signedBy(otherKey, now.Add(time.Second)).WebhookSignature
		}), nil, ErrBadSignature},
		{"stale", "signed/proj", signedBy(vectorKey, now.Add(-MaxSkew-time.Second)), nil, ErrStaleTimestamp},
		{"future", "signed/proj", signedBy(vectorKey, now.Add(MaxSkew+time.Second)), nil, ErrStaleTimestamp},
		{"oldest accepted", "signed/proj", signedBy(vectorKey, now.Add(-MaxSkew)), nil, nil},
		{"newest accepted", "signed/proj", signedBy(vectorKey, now.Add(MaxSkew)), nil, nil},
		{"timestamp not a number", "signed/proj", with(good, func(h *Headers) { h.WebhookTimestamp = "yesterday" }), nil, ErrBadSignature},
		{"timestamp in milliseconds", "signed/proj", with(good, func(h *Headers) { h.WebhookTimestamp += "000" }), nil, ErrStaleTimestamp},
		{"timestamp huge", "signed/proj", with(good, func(h *Headers) { h.WebhookTimestamp = "-9223372036854775808" }), nil, ErrStaleTimestamp},
		{"signature not base64", "signed/proj", with(good, func(h *Headers) { h.WebhookSignature = "v1,!!!!" }), nil, ErrBadSignature},
		{"signature without version", "signed/proj", with(good, func(h *Headers) {
			h.WebhookSignature = strings.TrimPrefix(h.WebhookSignature, "v1,")
		}), nil, ErrBadSignature},
		{"signature other version", "signed/proj", with(good, func(h *Headers) {
			h.WebhookSignature = "v2," + strings.TrimPrefix(h.WebhookSignature, "v1,")
		}), nil, ErrBadSignature},
		{"signature truncated", "signed/proj", with(good, func(h *Headers) { h.WebhookSignature = h.WebhookSignature[:30] }), nil, ErrBadSignature},
		{"missing id", "signed/proj", with(good, func(h *Headers) { h.WebhookID = "" }), nil, ErrMissingSignature},
		{"missing timestamp", "signed/proj", with(good, func(h *Headers) { h.WebhookTimestamp = "" }), nil, ErrMissingSignature},
		{"missing signature", "signed/proj", with(good, func(h *Headers) { h.WebhookSignature = "" }), nil, ErrMissingSignature},
		{"blank signature", "signed/proj", with(good, func(h *Headers) { h.WebhookSignature = "   " }), nil, ErrBadSignature},

		// Token and key on one secret: both required.
		{"both given", "both/proj", with(signedBy(otherKey, now), func(h *Headers) { h.Token = "both-token" }), nil, nil},
		{"both: token only", "both/proj", Headers{Token: "both-token"}, nil, ErrMissingSignature},
		{"both: signature only", "both/proj", signedBy(otherKey, now), nil, ErrBadToken},
		{"both: wrong token", "both/proj", with(signedBy(otherKey, now), func(h *Headers) { h.Token = "star-token" }), nil, ErrBadToken},
		{"both: wrong key", "both/proj", with(good, func(h *Headers) { h.Token = "both-token" }), nil, ErrBadSignature},

		// Rotated signing keys.
		{"rotated key 1", "rotated/proj", good, nil, nil},
		{"rotated key 2", "rotated/proj", signedBy(otherKey, now), nil, nil},
		{"rotated stale", "rotated/proj", signedBy(otherKey, now.Add(-time.Hour)), nil, ErrStaleTimestamp},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.body
			if b == nil {
				b = body
			}
			err := verify(v, tt.project, tt.h, b, now)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Verify = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
			assertNoSecret(t, err.Error(), tt.h)
		})
	}
}

// assertNoSecret fails when msg contains a configured secret or a
// received credential.
func assertNoSecret(t *testing.T, msg string, h Headers) {
	t.Helper()
	values := []string{h.Token, h.WebhookSignature, strings.TrimPrefix(h.WebhookSignature, "v1,")}
	for _, s := range testSecrets {
		values = append(values, s.Token.Value(), s.SigningKey.Value(), strings.TrimPrefix(s.SigningKey.Value(), "whsec_"))
	}
	for _, v := range values {
		if len(v) > 3 && strings.Contains(msg, v) {
			t.Errorf("error %q contains a secret or credential %q", msg, v)
		}
	}
}

func TestNoSecret(t *testing.T) {
	empty, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := verify(empty, "a/b", Headers{Token: "x"}, nil, time.Now()); !errors.Is(err, ErrNoSecret) {
		t.Errorf("no secrets: %v", err)
	}
	v, err := New([]config.WebhookSecret{secret("group/proj", "t", ""), secret("team/*", "t", "")})
	if err != nil {
		t.Fatal(err)
	}
	for _, project := range []string{"group/other", "team/a/b", "", "group"} {
		if err := verify(v, project, Headers{Token: "t"}, nil, time.Now()); !errors.Is(err, ErrNoSecret) {
			t.Errorf("%q: %v, want ErrNoSecret", project, err)
		}
	}
}

func TestNewErrors(t *testing.T) {
	_, err := New([]config.WebhookSecret{
		secret("ok/proj", "fine-token", ""),
		secret("", "lost-token", ""),
		secret("group/[", "glob-token", ""),
		secret("nothing/here", "", ""),
		secret("bad/key", "", "whsec_not*base64*secretvalue"),
		secret("bad/prefix", "", "sk_secretvalue"),
	})
	if err == nil {
		t.Fatal("New accepted bad secrets")
	}
	msg := err.Error()
	for _, want := range []string{
		`secret 2 (project ""): project is empty`,
		`secret 3 (project "group/["): bad glob "group/[": syntax error in pattern`,
		`secret 4 (project "nothing/here"): needs a token or a signing key`,
		`secret 5 (project "bad/key"): signing key must be "whsec_" followed by base64`,
		`secret 6 (project "bad/prefix"): signing key must start with "whsec_"`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	for _, secret := range []string{"fine-token", "lost-token", "glob-token", "secretvalue"} {
		if strings.Contains(msg, secret) {
			t.Errorf("error shows %q:\n%s", secret, msg)
		}
	}
}

func FuzzVerify(f *testing.F) {
	v, err := New(testSecrets)
	if err != nil {
		f.Fatal(err)
	}
	now := time.Unix(vectorTS, 0)
	f.Add("signed/proj", "", vectorID, strconv.Itoa(vectorTS), vectorSig, []byte(vectorBody))
	f.Add("group/proj", "exact-token-1", "", "", "", []byte("{}"))
	f.Add("deep/a/b", "deep-token", "id", "x", "v1,,v1 v1,=", []byte(nil))
	f.Add("both/proj", "both-token", "id", "-1", "v1,"+strings.Repeat("A", 44), []byte("x"))
	f.Fuzz(func(t *testing.T, project, token, id, ts, sig string, body []byte) {
		h := Headers{Token: token, WebhookID: id, WebhookTimestamp: ts, WebhookSignature: sig}
		err := verify(v, project, h, body, now)
		if err != nil && rank(err) == 1 && !errors.Is(err, ErrBadToken) && !errors.Is(err, ErrNoSecret) {
			t.Fatalf("unexpected error kind %v", err)
		}
		if err == nil {
			// Accepted: a real credential was given for this project.
			if sig == vectorSig || token != "" {
				return
			}
			t.Fatalf("accepted %q without a credential: %+v", project, h)
		}
	})
}

func BenchmarkVerify(b *testing.B) {
	v, err := New(testSecrets)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Unix(vectorTS, 0)
	b.Run("token", func(b *testing.B) {
		h := Headers{Token: "exact-token-2"}
		body := []byte(`{"object_kind":"push"}`)
		b.ReportAllocs()
		for b.Loop() {
			if err := verify(v, "group/proj", h, body, now); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("token-glob", func(b *testing.B) {
		h := Headers{Token: "group-glob-token"}
		b.ReportAllocs()
		for b.Loop() {
			if err := verify(v, "group/other", h, nil, now); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("signature-4KB", func(b *testing.B) {
		body := []byte(strings.Repeat("x", 4096))
		h := Headers{WebhookID: "msg_1", WebhookTimestamp: strconv.Itoa(vectorTS), WebhookSignature: Sign(vectorKey, "msg_1", now, body)}
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			if err := verify(v, "signed/proj", h, body, now); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// verify is Verify for a delivery from no particular instance (none is
// configured), returning only the error.
func verify(v *Verifier, project string, h Headers, body []byte, now time.Time) error {
	_, err := v.Verify("", project, h, body, now)
	return err
}
