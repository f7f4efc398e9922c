package config

import "time"

// Fairness keeps one project's or one user's flood of commands from
// starving the others (see gateway/fair). A command is a note with a
// slash command ("/packit build"), by anyone but the bot, that matches at
// least one rule. The limits are kept by each replica for itself.
type Fairness struct {
	// CommandsPerUser is how many commands one user may give within
	// CommandWindow, over all projects; more are refused (their rules are
	// skipped, no API call is made). Default 10; -1 turns the limit off.
	CommandsPerUser int `toml:"commands_per_user"`
	// CommandsPerProject is how many commands one project may receive
	// within CommandWindow, from all its users. Default 30; -1 turns the
	// limit off.
	CommandsPerProject int `toml:"commands_per_project"`
	// CommandWindow is the sliding window both limits count over.
	// Default 1m.
	CommandWindow Duration `toml:"command_window"`
}

// Defaults of [fairness], also written out in default.toml.
const (
	DefaultCommandsPerUser    = 10
	DefaultCommandsPerProject = 30
	DefaultCommandWindow      = Duration(time.Minute)
)

func applyFairnessDefaults(f *Fairness) {
	def(&f.CommandsPerUser, DefaultCommandsPerUser)
	def(&f.CommandsPerProject, DefaultCommandsPerProject)
	def(&f.CommandWindow, DefaultCommandWindow)
}
