package gitlab

import (
	_ "embed"
	"fmt"
	"strings"
	"sync"

	"github.com/hookgate/hookgate/internal/suggest"
)

// emojiData is GitLab's emoji names, kept as data with its source stated
// in the file: emoji.tsv is the one place that knows them.
//
//go:embed emoji.tsv
var emojiData string

// emojis is emoji.tsv, read once.
type emojis struct {
	names  []string          // names and aliases, in file order (for suggestions)
	known  map[string]bool   // names and aliases
	byMoji map[string]string // the emoji itself -> its name
}

var emojiTable = sync.OnceValue(func() *emojis {
	e := &emojis{known: map[string]bool{}, byMoji: map[string]string{}}
	for line := range strings.Lines(emojiData) {
		line = strings.TrimRight(line, "\r\n")
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Split(line, "\t")
		name := fields[0]
		e.names = append(e.names, name)
		e.known[name] = true
		if len(fields) > 1 {
			e.byMoji[fields[1]] = name
		}
		for _, alias := range fields[min(2, len(fields)):] {
			e.names = append(e.names, alias)
			e.known[alias] = true
		}
	}
	return e
})

// EmojiName returns GitLab's name for the emoji a script wrote: a name
// ("eyes"), the same between colons (":eyes:"), or the emoji itself ("👀",
// with or without variation selector). A name GitLab does not know is an
// error naming the nearest one that it does.
func EmojiName(emoji string) (string, error) {
	e := emojiTable()
	s := strings.TrimSpace(emoji)
	if name, ok := e.byMoji[s]; ok {
		return name, nil
	}
	if name, ok := e.byMoji[strings.ReplaceAll(s, "\ufe0f", "")]; ok {
		return name, nil
	}
	if len(s) > 2 && strings.HasPrefix(s, ":") && strings.HasSuffix(s, ":") {
		s = s[1 : len(s)-1]
	}
	if e.known[s] {
		return s, nil
	}
	if s != "" {
		if near := suggest.Closest(s, e.names); near != "" {
			return "", fmt.Errorf("%q is not a GitLab emoji name; did you mean %q?", emoji, near)
		}
	}
	return "", fmt.Errorf("%q is not a GitLab emoji name (names like \"eyes\", \"thumbsup\", \"rocket\")", emoji)
}

// checkArg is the gitlab module's static check of literal arguments
// (plugins.Module.CheckArg): emoji names given to react.
func checkArg(fn string, arg int, value string) error {
	if fn == "react" && arg == 1 {
		_, err := EmojiName(value)
		return err
	}
	return nil
}
