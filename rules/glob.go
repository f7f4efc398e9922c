package rules

import (
	"fmt"
	"path"
	"strings"
)

// Globs match slash-separated paths such as project paths ("group/sub/app").
// Within one segment the syntax is path.Match's: "*" is any run of non-"/"
// characters, "?" one such character, "[a-z]" a class, "\\" escapes. A
// segment that is exactly "**" matches zero or more whole segments, so
// "group/**" matches "group/app" and "group/sub/app", and "**/docs" matches
// "docs", "a/docs" and "a/b/docs".

// validGlob reports whether pattern is a well-formed glob.
func validGlob(pattern string) error {
	for _, seg := range strings.Split(pattern, "/") {
		if seg == "**" {
			continue
		}
		if _, err := path.Match(seg, ""); err != nil {
			return fmt.Errorf("bad glob %q: %w", pattern, err)
		}
	}
	return nil
}

// matchGlob reports whether s matches pattern. It returns an error only
// for a malformed pattern.
func matchGlob(pattern, s string) (bool, error) {
	if err := validGlob(pattern); err != nil {
		return false, err
	}
	return matchSegments(strings.Split(pattern, "/"), strings.Split(s, "/")), nil
}

// matchSegments matches already validated pattern segments against path
// segments.
func matchSegments(pat, segs []string) bool {
	for len(pat) > 0 {
		if pat[0] == "**" {
			// Collapse runs of "**" so the search stays linear per star.
			for len(pat) > 1 && pat[1] == "**" {
				pat = pat[1:]
			}
			if len(pat) == 1 {
				return true
			}
			for k := 0; k <= len(segs); k++ {
				if matchSegments(pat[1:], segs[k:]) {
					return true
				}
			}
			return false
		}
		if len(segs) == 0 {
			return false
		}
		if ok, _ := path.Match(pat[0], segs[0]); !ok {
			return false
		}
		pat, segs = pat[1:], segs[1:]
	}
	return len(segs) == 0
}
