package envelope

import (
	"encoding/binary"
	"encoding/json"
	"math/rand/v2"
	"testing"
)

func TestSpecial8(t *testing.T) {
	check := func(w [8]byte) {
		t.Helper()
		want := false
		for _, c := range w {
			want = want || strByte[c]
		}
		if got := special8(binary.LittleEndian.Uint64(w[:])); got != want {
			t.Fatalf("special8(% x) = %v, want %v", w, got, want)
		}
	}
	for _, fill := range []byte{'a', 0x00, 0x21, 0x7f, 0x80, 0xa2, 0xdc, 0xff} {
		for pos := 0; pos < 8; pos++ {
			for c := 0; c < 256; c++ {
				var w [8]byte
				for i := range w {
					w[i] = fill
				}
				w[pos] = byte(c)
				check(w)
			}
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 200000 {
		var w [8]byte
		binary.LittleEndian.PutUint64(w[:], r.Uint64())
		check(w)
	}
}

// validate parses b with a new parser and returns parse's result.
func validate(b []byte) (int, string) {
	var p parser
	return p.parse(b)
}

func TestValidate(t *testing.T) {
	tests := []string{
		`{}`, `[]`, `""`, `0`, `-0`, `1.5e+10`, `-1E-2`, `true`, `false`, `null`,
		` { "a" : [ 1 , 2 , { } , [ ] ] , "b" : "\u00e9\n\"" } `,
		`{"a":"` + "\xff\xfe" + `"}`, // invalid UTF-8 is accepted, like encoding/json
		`{"long":"0123456789abcdef0123456789abcdef\"0123456789abcdef"}`,
		``, ` `, `{`, `}`, `[`, `{"a"}`, `{"a":1,}`, `[1,]`, `[,1]`, `{,}`, `01`, `1.`, `.1`, `1e`, `-`, `+1`,
		`"a`, `"\`, `"\u12"`, `"\u12g4"`, `"\a"`, "\"\x00\"", "\"\t\"", `tru`, `nul`, `falsey`, `1 2`, `{}{}`,
		`{"a":1}}`, `[1]]`, `{"a":[}`, `{1:2}`, `{"a" 1}`, "\x00",
	}
	for _, s := range tests {
		off, reason := validate([]byte(s))
		if got, want := reason == "", json.Valid([]byte(s)); got != want {
			t.Errorf("validate(%q) ok = %v (at %d, %q), json.Valid = %v", s, got, off, reason, want)
		}
		if oldOff, oldReason := oldValidate([]byte(s)); off != oldOff || reason != oldReason {
			t.Errorf("validate(%q) = %d, %q; the former validator gave %d, %q", s, off, reason, oldOff, oldReason)
		}
	}
}

func BenchmarkValidate(b *testing.B) {
	body := []byte(`{"object_kind":"note","object_attributes":{"note":"` + string(make([]byte, 0)) +
		`a reasonably long comment with some text in it, as people write them","id":1244,"system":false}}`)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		validate(body)
	}
}
