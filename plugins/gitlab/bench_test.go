package gitlab

import (
	"context"
	"testing"

	lua "github.com/yuin/gopher-lua"
)

// BenchmarkDryRunComment: one dry-run Comment (target < 2 µs).
func BenchmarkDryRunComment(b *testing.B) {
	cs, _ := New(nil, nil)
	env := mrNoteEnv()
	s := cs.For(env).Scope(env, testUUID)
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := s.Comment(ctx, "Building the package, see the pipeline."); err != nil {
			b.Fatal(err)
		}
		if i++; i%1024 == 0 { // keep the record from growing without bound
			s.mu.Lock()
			s.calls = s.calls[:0]
			s.mu.Unlock()
		}
	}
}

// BenchmarkLuaDryRunComment: gitlab.comment from Lua, dry run.
func BenchmarkLuaDryRunComment(b *testing.B) {
	cs, _ := New(nil, nil)
	env := mrNoteEnv()
	s := cs.For(env).Scope(env, testUUID)
	L := lua.NewState()
	defer L.Close()
	L.SetGlobal("gitlab", Module.Open(L))
	L.SetContext(WithScope(context.Background(), s))
	if err := L.DoString(`function f() gitlab.comment("Building the package, see the pipeline.") end`); err != nil {
		b.Fatal(err)
	}
	fn := L.GetGlobal("f")
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if err := L.CallByParam(lua.P{Fn: fn, NRet: 0, Protect: true}); err != nil {
			b.Fatal(err)
		}
		if i++; i%1024 == 0 {
			s.mu.Lock()
			s.calls = s.calls[:0]
			s.mu.Unlock()
		}
	}
}
