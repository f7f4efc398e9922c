package command

import "strings"

// Limits of Parse. They bound the work done on one note and the size of the
// envelope built from it.
const (
	// MaxCommands is the most commands Parse returns for one note; later
	// command lines are dropped.
	MaxCommands = 64
	// MaxLineBytes is the longest line (in bytes, line break excluded) that
	// can be a command; longer lines are never commands.
	MaxLineBytes = 4096
)

// Parse returns the slash commands in a GitLab note (Markdown text), in order
// of appearance, at most MaxCommands of them. The result is never nil.
//
// A command is a line whose first non-space character is "/" followed by a
// name, with these rules:
//
//   - The line may be indented by at most 3 spaces; a line indented by 4 or
//     more columns (or by a tab) is indented code in CommonMark, or the
//     continuation of a paragraph, and never a command.
//   - Lines inside fenced code blocks are ignored: a fence opens with at
//     least three backticks or tildes (indented at most 3 spaces, with any
//     info string; a backtick fence's info string has no backtick) and closes
//     with a line of at least as many of the same character and nothing but
//     spaces after them. An unclosed fence runs to the end of the note.
//   - Quote lines (first non-space character ">") are ignored, and so are the
//     lines of a GitLab multi-line quote: from a line ">>>" to the next line
//     ">>>". A ">>>" that is never closed is just a quote line.
//   - The name is the run of ASCII letters, digits, "_" and "-" right after
//     the slash (as GitLab's quick actions), kept as typed (not lowercased:
//     compare with strings.EqualFold for case-insensitive matching). It must
//     be followed by whitespace or the end of the line, so "/", "//",
//     "/ foo", "/path/to/file" and "/v1.2" are not commands.
//   - Args are the whitespace-separated (ASCII space and tab) words after the
//     name. A quote ('"' or "'") at the start of a word or right after an
//     ASCII punctuation character opens a quoted part that runs to the next
//     same quote and keeps its spaces: `/run "a b" --msg='x y' ~"to do"`
//     gives the args `a b`, `--msg=x y` and `~to do`. A quote after a letter
//     or digit ("don't") is an ordinary character, and so is a quote that is
//     never closed; there are no backslash escapes. Args is never nil.
//   - Line is the whole line without surrounding whitespace, so it starts
//     with "/".
//
// Line breaks may be "\n" or "\r\n". Lines longer than MaxLineBytes are never
// commands (they still open and close fences).
func Parse(note string) []Command {
	cmds := []Command{}
	if strings.IndexByte(note, '/') < 0 {
		return cmds
	}
	var (
		fence     byte // '`' or '~' while inside a fenced code block
		fenceLen  int  // length of the opening fence run
		inQuote   bool // inside a ">>>" multi-line quote
		noCloser  bool // no ">>>" closer exists past the current line
		quoteStop int  // offset in note where the current ">>>" closer starts
	)
	for pos := 0; pos < len(note) && len(cmds) < MaxCommands; {
		start := pos
		line, next := nextLine(note, pos)
		pos = next

		if inQuote {
			if start == quoteStop {
				inQuote = false
			}
			continue
		}
		indent, rest := leadingIndent(line)
		if fence != 0 {
			if indent < 4 && isClosingFence(rest, fence, fenceLen) {
				fence = 0
			}
			continue
		}
		if indent >= 4 || rest == "" {
			continue
		}
		switch rest[0] {
		case '`', '~':
			if c, n, ok := openingFence(rest); ok {
				fence, fenceLen = c, n
			}
			continue
		case '>':
			if !noCloser && isQuoteFence(rest) {
				if at, ok := findQuoteCloser(note, pos); ok {
					inQuote, quoteStop = true, at
				} else {
					noCloser = true
				}
			}
			continue
		case '/':
			if len(line) > MaxLineBytes {
				continue
			}
			if c, ok := parseCommand(strings.TrimSpace(line)); ok {
				cmds = append(cmds, c)
			}
		}
	}
	return cmds
}

// nextLine returns the line starting at pos without its line break ("\n" or
// "\r\n") and the offset of the next line.
func nextLine(s string, pos int) (line string, next int) {
	end := strings.IndexByte(s[pos:], '\n')
	if end < 0 {
		line, next = s[pos:], len(s)
	} else {
		line, next = s[pos:pos+end], pos+end+1
	}
	line = strings.TrimSuffix(line, "\r")
	return line, next
}

// leadingIndent returns the indentation of line in columns, capped at 4 (a
// tab counts as 4, which is all that matters here), and the line after its
// leading spaces. A line that is only whitespace returns rest "".
func leadingIndent(line string) (int, string) {
	n := 0
	for i := 0; i < len(line); i++ {
		switch line[i] {
		case ' ':
			n++
			if n >= 4 {
				return 4, strings.TrimLeft(line[i:], " \t")
			}
		case '\t':
			return 4, strings.TrimLeft(line[i:], " \t")
		default:
			return n, line[i:]
		}
	}
	return n, ""
}

// openingFence reports whether s (a line without its indentation) opens a
// fenced code block, and the fence character and length.
func openingFence(s string) (byte, int, bool) {
	c := s[0]
	n := runLen(s, c)
	if n < 3 {
		return 0, 0, false
	}
	if c == '`' && strings.IndexByte(s[n:], '`') >= 0 {
		return 0, 0, false
	}
	return c, n, true
}

// isClosingFence reports whether s (a line without its indentation) closes a
// fence of at least n characters c.
func isClosingFence(s string, c byte, n int) bool {
	if s == "" || s[0] != c {
		return false
	}
	k := runLen(s, c)
	return k >= n && strings.Trim(s[k:], " \t") == ""
}

func runLen(s string, c byte) int {
	n := 0
	for n < len(s) && s[n] == c {
		n++
	}
	return n
}

// isQuoteFence reports whether s (a line without its indentation) is a
// GitLab multi-line quote delimiter ">>>".
func isQuoteFence(s string) bool {
	return strings.HasPrefix(s, ">>>") && strings.TrimRight(s[3:], " \t") == ""
}

// findQuoteCloser returns the offset of the first line at or after pos that
// is a ">>>" delimiter.
func findQuoteCloser(note string, pos int) (int, bool) {
	for pos < len(note) {
		line, next := nextLine(note, pos)
		if indent, rest := leadingIndent(line); indent < 4 && isQuoteFence(rest) {
			return pos, true
		}
		pos = next
	}
	return 0, false
}

// isNameByte reports whether c may appear in a command name.
func isNameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' }

// opensQuote reports whether a quote right after byte c opens a quoted
// part: after ASCII punctuation ("=", "~", ...) it does, after a letter,
// a digit or any non-ASCII byte (part of a letter) it does not.
func opensQuote(c byte) bool {
	return c < 0x80 && !isNameByte(c) || c == '_' || c == '-'
}

// parseCommand parses a trimmed line that starts with "/".
func parseCommand(line string) (Command, bool) {
	n := 1
	for n < len(line) && isNameByte(line[n]) {
		n++
	}
	if n == 1 || n < len(line) && !isSpace(line[n]) {
		return Command{}, false
	}
	return Command{Name: line[1:n], Args: splitArgs(line[n:]), Line: line}, true
}

// splitArgs splits s into words separated by spaces and tabs; quoted parts
// of a word ("..." or '...', see opensQuote) keep their spaces and lose
// their quotes.
func splitArgs(s string) []string {
	args := []string{}
	for {
		s = strings.TrimLeft(s, " \t")
		if s == "" {
			return args
		}
		var word string
		word, s = nextWord(s)
		args = append(args, word)
	}
}

// nextWord returns the word at the start of s (which is not whitespace) and
// the rest of s. Words without quotes are substrings of s (no allocation).
func nextWord(s string) (string, string) {
	var b *strings.Builder // nil until a quote is removed
	i, from := 0, 0
	for i < len(s) && !isSpace(s[i]) {
		c := s[i]
		if c != '"' && c != '\'' || i > 0 && !opensQuote(s[i-1]) {
			i++
			continue
		}
		end := strings.IndexByte(s[i+1:], c)
		if end < 0 { // unclosed quote: an ordinary character
			i++
			continue
		}
		if b == nil {
			b = &strings.Builder{}
		}
		b.WriteString(s[from:i])
		b.WriteString(s[i+1 : i+1+end])
		i += end + 2
		from = i
	}
	if b == nil {
		return s[:i], s[i:]
	}
	b.WriteString(s[from:i])
	return b.String(), s[i:]
}
