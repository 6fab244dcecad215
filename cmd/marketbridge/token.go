package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/marketbridge/marketbridge/internal/config"
	"github.com/marketbridge/marketbridge/internal/fault"
	"github.com/marketbridge/marketbridge/internal/mail"
	"github.com/marketbridge/marketbridge/internal/org"
	"github.com/marketbridge/marketbridge/internal/store"
)

// The token commands manage the vendor API's service tokens on the database
// that serve uses, with the same flags as migrate: for infrastructure as
// code and for the first token, before anyone can log in to the operator
// view.

// tokenCommand is a token subcommand's shared flags and set-up.
type tokenCommand struct {
	*command
	storage config.Storage
	log     config.Log
}

func newTokenCommand(name, summary, detail string) *tokenCommand {
	c := &tokenCommand{command: &command{Command: config.NewCommand(name, summary, detail)}}
	c.storage.Bind(c.Flags)
	c.log.Bind(c.Flags)
	return c
}

// open opens and migrates the database and returns the organizations'
// service, which holds the tokens.
func (c *tokenCommand) open(ctx context.Context, e env) (*org.Service, *store.DB, error) {
	if err := joinErrors(c.storage.Validate(), c.log.Validate()); err != nil {
		return nil, nil, err
	}
	if c.storage.DatabaseURL == "" {
		if err := c.storage.PrepareDataDir(); err != nil {
			return nil, nil, err
		}
	}
	logger := c.log.Logger(e.stderr)
	db, err := openDatabase(ctx, c.storage, logger)
	if err != nil {
		return nil, nil, err
	}
	// Tokens send no mail and build no links: the outbox and base URL are
	// there because the service needs them for its other operations.
	orgs, err := org.New(org.Config{DB: db, Mailer: mail.NewOutbox(db, time.Now), Logger: logger, Now: time.Now, BaseURL: "http://127.0.0.1"})
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	return orgs, db, nil
}

func newTokenCreateCommand() *command {
	c := newTokenCommand("token create",
		"Create a service token for the vendor API and print it, once.",
		"The token alone goes to standard output, so that a script can keep it: TOKEN=$(marketbridge token create ...).\n"+
			"Only its hash is stored; it cannot be shown again. Scope read reaches every organization's GET endpoints;\n"+
			"write also creates and changes organizations, their members and external ids.")
	var name, scope string
	c.Flags.StringVar(&name, "name", "", "the token's name, shown in lists and in audit logs, e.g. after the system that uses it")
	c.Flags.StringVar(&scope, "scope", "read", "read (GET endpoints of every organization) or write (also create and change)")
	c.run = func(ctx context.Context, e env) error {
		orgs, db, err := c.open(ctx, e)
		if err != nil {
			return err
		}
		defer db.Close()
		tok, full, err := orgs.CreateToken(ctx, 0, org.CreateTokenInput{Name: name, Scope: org.Scope(scope)})
		if err != nil {
			return fmt.Errorf("token create: %w", fieldErrors(err))
		}
		fmt.Fprintln(e.stdout, full)
		fmt.Fprintf(e.stderr, "Created service token #%d %q with scope %s. It is shown only this once: store it now.\n", tok.ID, tok.Name, tok.Scope)
		return nil
	}
	return c.command
}

func newTokenListCommand() *command {
	c := newTokenCommand("token list", "List the vendor API's service tokens (never their secrets).", "")
	c.run = func(ctx context.Context, e env) error {
		orgs, db, err := c.open(ctx, e)
		if err != nil {
			return err
		}
		defer db.Close()
		toks, err := orgs.Tokens(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tSCOPE\tPREFIX\tCREATED\tLAST USED\tREVOKED")
		for _, t := range toks {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s…\t%s\t%s\t%s\n", t.ID, t.Name, t.Scope, t.Prefix, stamp(t.CreatedAt), stamp(t.LastUsedAt), stamp(t.RevokedAt))
		}
		return tw.Flush()
	}
	return c.command
}

func newTokenRevokeCommand() *command {
	c := newTokenCommand("token revoke", "Revoke a service token at once: requests that use it are refused from then on.", "")
	c.Args = []string{"ID"}
	c.run = func(ctx context.Context, e env) error {
		id, err := strconv.ParseInt(c.Values[0], 10, 64)
		if err != nil || id <= 0 {
			return fmt.Errorf("token revoke: %q is not a token id (see 'marketbridge token list')", c.Values[0])
		}
		orgs, db, err := c.open(ctx, e)
		if err != nil {
			return err
		}
		defer db.Close()
		tok, err := orgs.RevokeToken(ctx, id)
		if err != nil {
			return fmt.Errorf("token revoke: %w", err)
		}
		fmt.Fprintf(e.stdout, "revoked service token #%d %q\n", tok.ID, tok.Name)
		return nil
	}
	return c.command
}

// fieldErrors says which flag to fix for each field error of err, the
// flags being named after the fields.
func fieldErrors(err error) error {
	fields := fault.Fields(err)
	if len(fields) == 0 {
		return err
	}
	var errs []error
	for _, f := range slices.Sorted(maps.Keys(fields)) {
		errs = append(errs, fmt.Errorf("--%s: %s", f, fields[f]))
	}
	return errors.Join(errs...)
}

// stamp is a time for a table, "-" when zero.
func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}
