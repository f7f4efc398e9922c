// Package projectglob is the one glob dialect for GitLab project paths,
// used by [[rule]] projects and [[secret]] project alike: doublestar's
// syntax (github.com/bmatcuk/doublestar/v4) over paths spelled as
// envelope.NormalizeProjectPath spells them (lower case, no outer "/").
//
//   - "*" matches any run of characters within one segment: "group/*"
//     matches "group/app", not "group/sub/app";
//   - "**" as a whole segment matches any number of segments, none
//     included: "group/**" matches "group/app" and "group/sub/app";
//     "**/docs" matches "docs" and "a/b/docs";
//   - "?" one character, "[a-z]" a class, "{a,b}" either, "\" escapes.
//
// Patterns and paths are compared case-insensitively, as GitLab compares
// paths.
package projectglob

import (
	"fmt"

	"github.com/bmatcuk/doublestar/v4"

	"github.com/hookgate/hookgate/gateway/envelope"
)

// Normalize spells a pattern as Match compares it.
func Normalize(pattern string) string { return envelope.NormalizeProjectPath(pattern) }

// Valid reports whether pattern is a well-formed glob.
func Valid(pattern string) error {
	if pattern == "" {
		return fmt.Errorf("empty glob")
	}
	if !doublestar.ValidatePattern(Normalize(pattern)) {
		return fmt.Errorf("bad glob %q: syntax error in pattern", pattern)
	}
	return nil
}

// IsGlob reports whether pattern holds glob syntax (else it names one
// project exactly).
func IsGlob(pattern string) bool {
	for _, c := range pattern {
		switch c {
		case '*', '?', '[', '{', '\\':
			return true
		}
	}
	return false
}

// Match reports whether project path p matches pattern; a malformed
// pattern matches nothing (check patterns with Valid when they are
// loaded).
func Match(pattern, p string) bool {
	return MatchString(Normalize(pattern), envelope.NormalizeProjectPath(p))
}

// MatchString matches any slash-separated string (a branch, a file path)
// in the same dialect, as written: case matters.
func MatchString(pattern, s string) bool {
	ok, err := doublestar.Match(pattern, s)
	return err == nil && ok
}

// ValidString is Valid for patterns given to MatchString.
func ValidString(pattern string) error {
	if !doublestar.ValidatePattern(pattern) {
		return fmt.Errorf("bad glob %q: syntax error in pattern", pattern)
	}
	return nil
}
