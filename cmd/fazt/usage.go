package main

import (
	"fmt"
	"runtime"
	"strings"

	"github.com/spf13/cobra"
)

// Usage errors, at every level: a command group (fazt net, fazt net route)
// given an unknown subcommand, or none, fails with exit status 2 and says
// what it knows (cobra itself does this only at the top, and prints a
// group's help with status 0 for a typo below it, so a misspelt command in
// a script would "work").

// strictGroups makes every command group of c, and c, refuse what it does
// not know.
func strictGroups(c *cobra.Command) {
	for _, sub := range c.Commands() {
		strictGroups(sub)
	}
	if c.HasSubCommands() {
		c.SuggestionsMinimumDistance = 2
	}
	if !c.HasSubCommands() || c.Run != nil || c.RunE != nil {
		return
	}
	c.Args = cobra.ArbitraryArgs
	c.RunE = func(c *cobra.Command, a []string) error {
		if len(a) == 0 {
			return usageError{fmt.Errorf("%sa command is missing; one of: %s\n(see %s --help)",
				where(c), strings.Join(subcommands(c), ", "), c.CommandPath())}
		}
		return unknownCommand(c, a[0])
	}
}

// unknownCommand is the usage error for name given to the group c.
func unknownCommand(c *cobra.Command, name string) error {
	msg := fmt.Sprintf("%sunknown command %q", where(c), name)
	if s := c.SuggestionsFor(name); len(s) > 0 {
		msg += "; did you mean " + strings.Join(s, " or ") + "?"
	} else {
		msg += "; the commands are " + strings.Join(subcommands(c), ", ")
	}
	return usageError{fmt.Errorf("%s", msg)}
}

func subcommands(c *cobra.Command) []string {
	var names []string
	for _, sub := range c.Commands() {
		if sub.IsAvailableCommand() {
			names = append(names, sub.Name())
		}
	}
	return names
}

// commandPath is c's path without the program's name: main prefixes every
// error with "fazt: " once.
func commandPath(c *cobra.Command) string {
	return strings.TrimSpace(strings.TrimPrefix(c.CommandPath(), c.Root().Name()))
}

// where starts an error about c: "net route: ", nothing for the root.
func where(c *cobra.Command) string {
	if p := commandPath(c); p != "" {
		return p + ": "
	}
	return ""
}

// versionLine is what fazt version and fazt --version print.
func versionLine() string {
	return fmt.Sprintf("fazt %s %s %s/%s\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
