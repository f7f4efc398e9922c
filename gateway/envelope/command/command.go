// Package command parses slash commands out of GitLab comment text.
//
// A command is a line that starts with "/" outside fenced or indented code
// blocks and ">" quotes, such as "/packit build --chroot fedora". Parse finds
// them; see its doc for the exact rules.
package command

// Command is one slash command found in a note.
type Command struct {
	// Name is the word after the slash: "/packit build" has Name "packit".
	Name string `json:"name" expr:"name"`
	// Args are the whitespace-separated words after the name.
	Args []string `json:"args" expr:"args"`
	// Line is the whole trimmed line the command came from, slash included.
	Line string `json:"line" expr:"line"`
}
