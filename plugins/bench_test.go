package plugins

import (
	"context"
	"testing"
)

// BenchmarkRun is one run of a trivial plugin on a pooled state, the note
// envelope converted (payload left lazy, as the handler does not read it).
func BenchmarkRun(b *testing.B) {
	s := mustLoad(b, map[string]string{"p": `
function handle(event, params)
  if event.command.name == "packit" then
    return { ok = true, mr = event.merge_request.iid }
  end
end`}, Options{})
	env := noteEnvelope(b)
	params := map[string]any{"chroots": []any{"fedora-rawhide-x86_64"}}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if r := s.Run(ctx, "p", env, params); r.Status != StatusOK {
			b.Fatal(r.Err)
		}
	}
}

// BenchmarkRunPayload also reads event.payload, decoding it.
func BenchmarkRunPayload(b *testing.B) {
	s := mustLoad(b, map[string]string{"p": `
function handle(event, params)
  return event.payload.object_attributes.id
end`}, Options{})
	env := noteEnvelope(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if r := s.Run(ctx, "p", env, nil); r.Status != StatusOK {
			b.Fatal(r.Err)
		}
	}
}

func BenchmarkEnvelopeToLua(b *testing.B) {
	s := mustLoad(b, map[string]string{"p": `function handle() end`}, Options{})
	st, err := s.newState()
	if err != nil {
		b.Fatal(err)
	}
	defer st.close()
	env := noteEnvelope(b)
	b.Run("lazy", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := eventToLua(st.L, env, st.eventMeta); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("eager", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := eventToLua(st.L, env, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("payload", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := decodeJSON(nil, st.L, env.Payload); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkNewState(b *testing.B) {
	s := mustLoad(b, map[string]string{"p": `function handle() end`}, Options{})
	b.ReportAllocs()
	for b.Loop() {
		st, err := s.newState()
		if err != nil {
			b.Fatal(err)
		}
		st.close()
	}
}
