package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// EnvPrefix starts the environment variable of every flag.
const EnvPrefix = "MARKETBRIDGE_"

// EnvName is the environment variable that stands for the flag name.
func EnvName(flagName string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// Command describes one subcommand: its name, what it does, and its flags.
type Command struct {
	Name    string
	Summary string // one line, shown in the command list
	Detail  string // a paragraph, shown by --help
	Flags   *flag.FlagSet
	// Args names the positional arguments the command takes, in order
	// (e.g. "ID"); each is required. Parse sets Values to what was given.
	Args   []string
	Values []string
}

// NewCommand returns a command with an empty flag set that reports errors
// instead of exiting, so that main decides how to end.
func NewCommand(name, summary, detail string) *Command {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return &Command{Name: name, Summary: summary, Detail: detail, Flags: fs}
}

// ErrHelp is returned by Parse when --help or -h was asked for; the usage has
// then been written and the caller should end successfully.
var ErrHelp = flag.ErrHelp

// Parse reads args, then fills every flag not given on the command line from
// its environment variable, looked up with getenv. Usage goes to out on
// --help and on errors.
func (c *Command) Parse(args []string, getenv func(string) string, out io.Writer) error {
	// Flags may come before and after the positional arguments: the flag
	// package stops at the first non-flag, so parse again after each.
	c.Values = nil
	for rest := args; ; {
		if err := c.Flags.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				c.Usage(out)
				return ErrHelp
			}
			return fmt.Errorf("%s: %w (see 'marketbridge %s --help')", c.Name, err, c.Name)
		}
		if c.Flags.NArg() == 0 {
			break
		}
		if len(c.Values) == len(c.Args) {
			return fmt.Errorf("%s: unexpected argument %q (see 'marketbridge %s --help')", c.Name, c.Flags.Arg(0), c.Name)
		}
		c.Values = append(c.Values, c.Flags.Arg(0))
		rest = c.Flags.Args()[1:]
	}
	if len(c.Values) < len(c.Args) {
		return fmt.Errorf("%s: missing %s (see 'marketbridge %s --help')", c.Name, c.Args[len(c.Values)], c.Name)
	}
	given := map[string]bool{}
	c.Flags.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var errs []error
	c.Flags.VisitAll(func(f *flag.Flag) {
		if given[f.Name] {
			return
		}
		name := EnvName(f.Name)
		v := getenv(name)
		if v == "" {
			return
		}
		if err := f.Value.Set(v); err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: %w", name, v, err))
		}
	})
	return errors.Join(errs...)
}

// Usage writes what the command does and a table of its flags with their
// environment variables and defaults.
func (c *Command) Usage(out io.Writer) {
	fmt.Fprintf(out, "Usage: marketbridge %s [flags]%s\n\n%s\n", c.Name, strings.TrimRight(" "+strings.Join(c.Args, " "), " "), c.Summary)
	if c.Detail != "" {
		fmt.Fprintf(out, "\n%s\n", c.Detail)
	}
	fmt.Fprintf(out, "\nFlags (each may also be set by its environment variable):\n")
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	c.Flags.VisitAll(func(f *flag.Flag) {
		def := ""
		if f.DefValue != "" {
			def = " (default " + f.DefValue + ")"
		}
		fmt.Fprintf(tw, "  --%s\t%s\t%s%s\n", f.Name, EnvName(f.Name), f.Usage, def)
	})
	tw.Flush()
}
