package command

import (
	"reflect"
	"strings"
	"testing"
)

// cmd builds an expected Command; line is the trimmed line.
func cmd(line, name string, args ...string) Command {
	if args == nil {
		args = []string{}
	}
	return Command{Name: name, Args: args, Line: line}
}

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		note string
		want []Command
	}{
		{"empty", "", nil},
		{"no slash", "looks good to me", nil},
		{"single", "/packit build", []Command{cmd("/packit build", "packit", "build")}},
		{"no args", "/lgtm", []Command{cmd("/lgtm", "lgtm")}},
		{"args", "/packit build --chroot fedora-rawhide-x86_64",
			[]Command{cmd("/packit build --chroot fedora-rawhide-x86_64", "packit", "build", "--chroot", "fedora-rawhide-x86_64")}},
		{"case kept", "/Packit Build", []Command{cmd("/Packit Build", "Packit", "Build")}},
		{"name chars", "/run_tests-2 x", []Command{cmd("/run_tests-2 x", "run_tests-2", "x")}},
		{"tabs and spaces between args", "/a\tb   c \t", []Command{cmd("/a\tb   c", "a", "b", "c")}},
		{"among prose", "Thanks!\n/retest\nCheers", []Command{cmd("/retest", "retest")}},
		{"several", "/label ~bug\n/assign @me\n\n/cc @you",
			[]Command{cmd("/label ~bug", "label", "~bug"), cmd("/assign @me", "assign", "@me"), cmd("/cc @you", "cc", "@you")}},
		{"crlf", "hi\r\n/retest now\r\n/lgtm\r\n",
			[]Command{cmd("/retest now", "retest", "now"), cmd("/lgtm", "lgtm")}},
		{"indent up to 3 spaces", " /a\n  /b\n   /c", []Command{cmd("/a", "a"), cmd("/b", "b"), cmd("/c", "c")}},
		{"4 spaces is code", "    /a", nil},
		{"tab is code", "\t/a", nil},
		{"indented code after blank", "text\n\n    /a\n/b", []Command{cmd("/b", "b")}},
		{"paragraph continuation", "text\n    /a", nil},
		{"not at line start", "please /retest", nil},
		{"slash alone", "/", nil},
		{"slash then space", "/ foo", nil},
		{"double slash", "//", nil},
		{"double slash comment", "// comment", nil},
		{"path", "/path/to/file", nil},
		{"path with args", "/usr/bin/env x", nil},
		{"dotted", "/v1.2", nil},
		{"punctuation after name", "/lgtm!", nil},
		{"colon after name", "/note: hi", nil},
		{"unicode name", "/café", nil},
		{"backtick fence", "```\n/a\n```\n/b", []Command{cmd("/b", "b")}},
		{"tilde fence", "~~~\n/a\n~~~\n/b", []Command{cmd("/b", "b")}},
		{"fence with info string", "```bash title=\"x\"\n/a\n```\n/b", []Command{cmd("/b", "b")}},
		{"indented fence", "   ```\n/a\n   ```\n/b", []Command{cmd("/b", "b")}},
		{"fence needs 3", "``\n/a\n``", []Command{cmd("/a", "a")}},
		{"closing fence must match char", "```\n~~~\n/a\n```\n/b", []Command{cmd("/b", "b")}},
		{"closing fence at least as long", "````\n```\n/a\n````\n/b", []Command{cmd("/b", "b")}},
		{"longer closing fence", "```\n/a\n`````\n/b", []Command{cmd("/b", "b")}},
		{"closing fence with trailing spaces", "```\n/a\n```  \n/b", []Command{cmd("/b", "b")}},
		{"closing fence with text is content", "```\n/a\n``` x\n/b\n```\n/c", []Command{cmd("/c", "c")}},
		{"backtick info with backtick is not a fence", "``` a`b\n/a", []Command{cmd("/a", "a")}},
		{"tilde info may have backticks", "~~~ a`b\n/a\n~~~\n/b", []Command{cmd("/b", "b")}},
		{"unclosed fence runs to end", "/a\n```\n/b\n/c", []Command{cmd("/a", "a")}},
		{"4-space fence is code, not a fence", "    ```\n/a", []Command{cmd("/a", "a")}},
		{"crlf fence", "```\r\n/a\r\n```\r\n/b\r\n", []Command{cmd("/b", "b")}},
		{"quote", "> /a\n/b", []Command{cmd("/b", "b")}},
		{"quote no space", ">/a", nil},
		{"indented quote", "  > /a", nil},
		{"nested quote", ">> /a", nil},
		{"fence in quote does not swallow", "> ```\n/a", []Command{cmd("/a", "a")}},
		{"multi-line quote", ">>>\n/a\n/b\n>>>\n/c", []Command{cmd("/c", "c")}},
		{"unclosed multi-line quote", ">>>\n/a", []Command{cmd("/a", "a")}},
		{"two multi-line quotes", ">>>\n/a\n>>>\n/b\n>>>\n/c\n>>>\n/d", []Command{cmd("/b", "b"), cmd("/d", "d")}},
		{"multi-line quote crlf", ">>>\r\n/a\r\n>>>\r\n/b", []Command{cmd("/b", "b")}},
		{"double quotes", `/run "a b" c`, []Command{cmd(`/run "a b" c`, "run", "a b", "c")}},
		{"single quotes", `/run 'a b' c`, []Command{cmd(`/run 'a b' c`, "run", "a b", "c")}},
		{"quote after =", `/run --msg="hello world" x`, []Command{cmd(`/run --msg="hello world" x`, "run", "--msg=hello world", "x")}},
		{"empty quoted arg", `/run "" x`, []Command{cmd(`/run "" x`, "run", "", "x")}},
		{"apostrophe is literal", "/note don't stop", []Command{cmd("/note don't stop", "note", "don't", "stop")}},
		{"unclosed quote is literal", `/run "a b`, []Command{cmd(`/run "a b`, "run", `"a`, "b")}},
		{"other quote inside", `/run "it's here"`, []Command{cmd(`/run "it's here"`, "run", "it's here")}},
		{"quoted then text", `/run "a b"c`, []Command{cmd(`/run "a b"c`, "run", "a bc")}},
		{"quote after punctuation", "/label ~\"needs review\" ✓", []Command{cmd("/label ~\"needs review\" ✓", "label", "~needs review", "✓")}},
		{"quote after non-ASCII letter is literal", "/x café's day", []Command{cmd("/x café's day", "x", "café's", "day")}},
		{"trailing spaces trimmed", "/a   ", []Command{cmd("/a", "a")}},
		{"blank lines only", "\n\n\r\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Parse(tt.note)
			if got == nil {
				t.Fatal("Parse returned nil, want a non-nil slice")
			}
			want := tt.want
			if want == nil {
				want = []Command{}
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Parse(%q)\n got %#v\nwant %#v", tt.note, got, want)
			}
		})
	}
}

func TestParseLimits(t *testing.T) {
	t.Run("at most MaxCommands", func(t *testing.T) {
		note := strings.Repeat("/retest\n", MaxCommands+10)
		if got := len(Parse(note)); got != MaxCommands {
			t.Errorf("got %d commands, want %d", got, MaxCommands)
		}
	})
	t.Run("long line ignored", func(t *testing.T) {
		long := "/echo " + strings.Repeat("x", MaxLineBytes)
		got := Parse(long + "\n/ok")
		want := []Command{cmd("/ok", "ok")}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("got %v, want %v", got, want)
		}
	})
	t.Run("line at the limit kept", func(t *testing.T) {
		line := "/echo " + strings.Repeat("x", MaxLineBytes-len("/echo "))
		if got := Parse(line); len(got) != 1 || got[0].Line != line {
			t.Errorf("a %d-byte line was not parsed", len(line))
		}
	})
	t.Run("long line still closes a fence", func(t *testing.T) {
		note := "```\n/a\n```" + strings.Repeat(" ", MaxLineBytes) + "\n/b"
		want := []Command{cmd("/b", "b")}
		if got := Parse(note); !reflect.DeepEqual(got, want) {
			t.Errorf("got %v, want %v", got, want)
		}
	})
	t.Run("many multi-line quote openers stay linear", func(t *testing.T) {
		// Without the noCloser shortcut this is quadratic.
		note := strings.Repeat(">>>\n/x\n", 50000)
		if got := len(Parse(note)); got != MaxCommands {
			t.Errorf("got %d commands, want %d", got, MaxCommands)
		}
	})
}

// FuzzParse checks Parse's invariants on arbitrary notes.
func FuzzParse(f *testing.F) {
	for _, seed := range seedNotes {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, note string) {
		cmds := Parse(note)
		if cmds == nil {
			t.Fatal("nil result")
		}
		if len(cmds) > MaxCommands {
			t.Fatalf("%d commands, more than %d", len(cmds), MaxCommands)
		}
		for _, c := range cmds {
			if !strings.HasPrefix(c.Line, "/") {
				t.Fatalf("line %q does not start with /", c.Line)
			}
			if len(c.Line) > MaxLineBytes || strings.ContainsAny(c.Line, "\n") {
				t.Fatalf("line %q too long or multi-line", c.Line)
			}
			if !strings.Contains(note, c.Line) {
				t.Fatalf("line %q is not from the note", c.Line)
			}
			if c.Name == "" || !strings.HasPrefix(c.Line[1:], c.Name) {
				t.Fatalf("bad name %q for line %q", c.Name, c.Line)
			}
			for i := 0; i < len(c.Name); i++ {
				if !isNameByte(c.Name[i]) {
					t.Fatalf("name %q has byte %q", c.Name, c.Name[i])
				}
			}
			if c.Args == nil {
				t.Fatalf("nil args for %q", c.Line)
			}
		}
	})
}

// seedNotes are comments as people write them on GitLab.
var seedNotes = []string{
	"/packit build",
	"LGTM, thanks!\n\n/approve\n/merge",
	"/packit copr-build --chroot fedora-rawhide-x86_64\r\n",
	"To retest run:\n\n```\n/retest\n```\n",
	"> /packit build\n\nWhy did this fail?",
	"Can you try `/retest`?",
	">>>\nquoted\n/cmd\n>>>\n/real",
	"/label ~\"needs review\" ~bug\n/assign @alice @bob\n/milestone %\"v1.0\"",
	"See /usr/share/doc and https://example.com/a/b",
	"~~~python\n/not\n~~~\n    /indented\n\t/tab\n /one",
	"/test 'a b' \"c d\" --x='y z'",
	"",
	"/",
	"``` unterminated\n/x",
}

func BenchmarkParse(b *testing.B) {
	notes := map[string]string{
		"prose":    strings.Repeat("This change looks good to me, but see the comment on line 12.\n", 20),
		"commands": "Thanks!\n/packit build --chroot fedora-rawhide-x86_64\n/label ~bug ~\"needs review\"\n/assign @alice",
		"fenced":   "Output:\n```\n" + strings.Repeat("/usr/bin/thing --flag\n", 20) + "```\n/retest",
	}
	for name, note := range notes {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(note)))
			b.ReportAllocs()
			for b.Loop() {
				Parse(note)
			}
		})
	}
}
