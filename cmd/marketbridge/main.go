// Command marketbridge is the seller's side of AWS Marketplace: the web
// console buyers sign up in, the marketplace endpoints, the usage API and the
// metering workers. See README.md for the commands.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	// Time zone data in the binary: the container image is FROM scratch,
	// with no /usr/share/zoneinfo to load zones from (#17).
	_ "time/tzdata"

	"github.com/marketbridge/marketbridge/internal/config"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		// One line, whatever the cause: errors.Join separates with newlines.
		fmt.Fprintf(os.Stderr, "marketbridge: %s\n", strings.ReplaceAll(err.Error(), "\n", "; "))
		os.Exit(1)
	}
}

// env is what a command may touch of the process, passed in so that tests
// run commands in-process with their own environment and outputs.
type env struct {
	getenv func(string) string
	stdout io.Writer
	stderr io.Writer
}

// command is a subcommand: its flags, and what it does once they are parsed.
type command struct {
	*config.Command
	run func(ctx context.Context, e env) error
}

func commands() []*command {
	return []*command{newServeCommand(), newMigrateCommand(), newDemoCommand(), newEmulatorCommand(), newReconcileCommand(),
		newTokenCreateCommand(), newTokenListCommand(), newTokenRevokeCommand(), newHealthcheckCommand()}
}

// run is main without the process: it parses args and runs one command
// until ctx is cancelled or the command ends.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	e := env{getenv: getenv, stdout: stdout, stderr: stderr}
	cmds := commands()
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		printUsage(stdout, cmds)
		if len(args) == 0 {
			return errors.New("no command given")
		}
		return nil
	}
	for _, c := range cmds {
		// A command's name is one word ("serve") or two ("token create").
		words := strings.Fields(c.Name)
		if len(args) < len(words) || strings.Join(args[:len(words)], " ") != c.Name {
			continue
		}
		if err := c.Parse(args[len(words):], getenv, stdout); err != nil {
			if errors.Is(err, config.ErrHelp) {
				return nil
			}
			return err
		}
		return c.run(ctx, e)
	}
	return fmt.Errorf("unknown command %q (see 'marketbridge --help')", args[0])
}

func printUsage(out io.Writer, cmds []*command) {
	fmt.Fprintln(out, "Usage: marketbridge COMMAND [flags]")
	fmt.Fprintln(out, "\nSell and bill through AWS Marketplace: the seller's side, self-hosted.")
	fmt.Fprintln(out, "\nCommands:")
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	for _, c := range cmds {
		fmt.Fprintf(tw, "  %s\t%s\n", c.Name, c.Summary)
	}
	tw.Flush()
	fmt.Fprintln(out, "\nRun 'marketbridge COMMAND --help' for a command's flags.")
}
