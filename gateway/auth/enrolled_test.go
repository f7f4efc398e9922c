package auth

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway/config"
	"github.com/hookgate/hookgate/gateway/envelope"
)

var testSalt = []byte("0123456789abcdef0123456789abcdef")

// The stack HMAC Verify uses is crypto/hmac's, for every salt size allowed.
func TestEnrolledHashIsHMAC(t *testing.T) {
	for _, n := range []int{MinSaltSize, 32, 63, MaxSaltSize} {
		salt := []byte(strings.Repeat("s", n))
		e, err := NewEnrolled(salt, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, tok := range []string{"", "a", "a-long-token-" + strings.Repeat("x", 200)} {
			d := sha256.Sum256([]byte(tok))
			if got, want := e.hash(&d), TokenHash(salt, tok); got != want {
				t.Errorf("salt %d, token %q: stack hash %x, TokenHash %x", n, tok, got, want)
			}
		}
	}
	if TokenHash(testSalt, "t") == TokenHash([]byte("another salt, sixteen+"), "t") {
		t.Error("the salt does not change the hash")
	}
}

func TestNewEnrolledErrors(t *testing.T) {
	one := []EnrolledSecret{{Hash: TokenHash(testSalt, "x")}}
	tests := []struct {
		name     string
		salt     []byte
		projects []EnrolledProject
		want     string
	}{
		{"short salt", testSalt[:MinSaltSize-1], nil, "salt must be"},
		{"long salt", []byte(strings.Repeat("s", MaxSaltSize+1)), nil, "salt must be"},
		{"empty project", testSalt, []EnrolledProject{{Secrets: one}}, "empty project"},
		{"twice", testSalt, []EnrolledProject{{Project: "g/p", Secrets: one}, {Project: "G/P", Secrets: one}}, "listed twice"},
		{"twice on one instance", testSalt, []EnrolledProject{{Instance: "https://a.example", Project: "g/p", Secrets: one}, {Instance: "https://A.example/", Project: "g/p", Secrets: one}}, "listed twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewEnrolled(tt.salt, tt.projects)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestVerifyEnrolled(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	base, err := New([]config.WebhookSecret{
		secret("*", "star-token", ""),
		secret("group/*", "group-token", ""),
		secret("group/enrolled", "exact-token", ""),
	})
	if err != nil {
		t.Fatal(err)
	}
	h := func(tok string) [sha256.Size]byte { return TokenHash(testSalt, tok) }
	enrolled, err := NewEnrolled(testSalt, []EnrolledProject{
		{Project: "Group/Enrolled", Secrets: []EnrolledSecret{{Hash: h("new")}, {Hash: h("old"), NotAfter: now.Add(time.Hour)}}},
		{Project: "rotated/proj", Secrets: []EnrolledSecret{{Hash: h("new")}, {Hash: h("old"), NotAfter: now}}},
		{Project: "expired/proj", Secrets: []EnrolledSecret{{Hash: h("gone"), NotAfter: now.Add(-time.Second)}}},
		{Project: "closed/proj"},
		{Project: "moving/proj", Secrets: []EnrolledSecret{{Hash: h("new")}}, FallbackUntil: now.Add(time.Minute)},
		{Project: "moved/proj", Secrets: []EnrolledSecret{{Hash: h("new")}}, FallbackUntil: now},
	})
	if err != nil {
		t.Fatal(err)
	}
	v := base.WithEnrolled(enrolled)

	tests := []struct {
		project, token string
		want           error
	}{
		{"group/enrolled", "new", nil},
		{"GROUP/ENROLLED", "new", nil},
		{"group/enrolled", "old", nil}, // in its grace period
		{"group/enrolled", "star-token", ErrBadToken},
		{"group/enrolled", "group-token", ErrBadToken},
		{"group/enrolled", "exact-token", ErrBadToken},
		{"group/enrolled", "", ErrBadToken},
		{"group/enrolled", "nope", ErrBadToken},
		{"rotated/proj", "new", nil},
		{"rotated/proj", "old", ErrBadToken}, // NotAfter == now: over
		{"expired/proj", "gone", errEnrolledExpired},
		{"expired/proj", "star-token", errEnrolledExpired},
		{"closed/proj", "star-token", errEnrolledExpired},
		{"moving/proj", "new", nil},
		{"moving/proj", "star-token", nil}, // still falling back
		{"moving/proj", "nope", ErrBadToken},
		{"moved/proj", "star-token", ErrBadToken},
		{"moved/proj", "new", nil},
		// Projects not enrolled keep the configured tiers.
		{"other/proj", "star-token", nil},
		{"other/proj", "new", ErrBadToken},
		{"group/other", "group-token", nil},
		{"group/other", "star-token", ErrBadToken},
		{"", "star-token", nil},
	}
	for _, tt := range tests {
		t.Run(tt.project+"/"+tt.token, func(t *testing.T) {
			err := verify(v, tt.project, Headers{Token: tt.token}, nil, now)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), tt.token) && tt.token != "" {
				t.Errorf("error %q shows the token", err)
			}
		})
	}

	// The base verifier is unchanged, and nil enrolled is the base.
	for _, w := range []*Verifier{base, base.WithEnrolled(nil)} {
		if err := verify(w, "group/enrolled", Headers{Token: "exact-token"}, nil, now); err != nil {
			t.Errorf("base verifier changed: %v", err)
		}
	}
}

func BenchmarkVerifyEnrolled(b *testing.B) {
	base, err := New(testSecrets)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Unix(vectorTS, 0)
	var projects []EnrolledProject
	for i := range 1000 {
		projects = append(projects, EnrolledProject{
			Project: fmt.Sprintf("group-%d/project-%d", i%50, i),
			Secrets: []EnrolledSecret{
				{Hash: TokenHash(testSalt, fmt.Sprintf("old-%d", i)), NotAfter: now.Add(time.Hour)},
				{Hash: TokenHash(testSalt, fmt.Sprintf("new-%d", i))},
			},
		})
	}
	enrolled, err := NewEnrolled(testSalt, projects)
	if err != nil {
		b.Fatal(err)
	}
	v := base.WithEnrolled(enrolled)
	run := func(name, project, token string) {
		b.Run(name, func(b *testing.B) {
			h := Headers{Token: token}
			b.ReportAllocs()
			for b.Loop() {
				if err := verify(v, project, h, nil, now); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	run("enrolled-new", "group-7/project-507", "new-507")
	run("enrolled-old", "group-7/project-507", "old-507")
	run("not-enrolled-star", "other/project", "star-token")
	run("not-enrolled-exact", "group/proj", "exact-token-2")
}

// The same path enrolled on two GitLab instances: X-Gitlab-Instance picks
// the entry; without it, either entry's secret is accepted; from a third
// instance the path is not enrolled and the [[secret]] blocks apply.
func TestVerifyEnrolledPerInstance(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	base, err := New([]config.WebhookSecret{secret("*", "star-token", "")})
	if err != nil {
		t.Fatal(err)
	}
	h := func(tok string) [sha256.Size]byte { return TokenHash(testSalt, tok) }
	enrolled, err := NewEnrolled(testSalt, []EnrolledProject{
		{Instance: "https://gitlab.a.example", Project: "team/app", Secrets: []EnrolledSecret{{Hash: h("token-a")}}},
		{Instance: "https://gitlab.b.example/", Project: "Team/App", Secrets: []EnrolledSecret{{Hash: h("token-b")}}},
		{Project: "legacy/app", Secrets: []EnrolledSecret{{Hash: h("token-l")}}}, // recorded without an instance
	})
	if err != nil {
		t.Fatal(err)
	}
	if enrolled.Len() != 3 {
		t.Fatalf("Len = %d, want 3", enrolled.Len())
	}
	v := base.WithEnrolled(enrolled)
	tests := []struct {
		project, instance, token string
		ok                       bool
	}{
		{"team/app", "https://gitlab.a.example", "token-a", true},
		{"team/app", "https://GITLAB.a.example/", "token-a", true},
		{"team/app", "https://gitlab.a.example/api/v4", "token-a", true}, // the picker's spelling too
		{"team/app", "https://gitlab.a.example/api/v4", "star-token", false},
		{"team/app", "https://gitlab.a.example:443", "star-token", false},
		{"Team/App/", "https://gitlab.a.example", "star-token", false}, // paths normalized the same way
		{"team/app", "https://gitlab.a.example", "token-b", false},     // b's secret does not open a's project
		{"team/app", "https://gitlab.b.example", "token-b", true},
		{"team/app", "https://gitlab.b.example", "token-a", false},
		{"team/app", "https://gitlab.b.example", "star-token", false}, // enrolled: [[secret]] blocks do not apply
		{"team/app", "", "token-a", true},                             // no header: either entry
		{"team/app", "", "token-b", true},
		{"team/app", "", "star-token", false},
		{"team/app", "https://gitlab.c.example", "star-token", true}, // not enrolled on c
		{"team/app", "https://gitlab.c.example", "token-a", false},
		{"legacy/app", "https://gitlab.c.example", "token-l", true}, // no instance recorded: any
		{"legacy/app", "", "token-l", true},
	}
	for _, tt := range tests {
		// The receiver passes the instance normalized (and refuses one
		// that is not configured before Verify: see the gateway's tests).
		inst := tt.instance
		if inst != "" {
			inst = envelope.NormalizeInstance(inst)
		}
		_, err := v.Verify(inst, tt.project, Headers{Token: tt.token}, nil, now)
		if (err == nil) != tt.ok {
			t.Errorf("%s from %q with %s: err = %v, want ok=%v", tt.project, tt.instance, tt.token, err, tt.ok)
		}
	}
}
