package main

import (
	"context"
	"fmt"

	"github.com/marketbridge/marketbridge/internal/config"
	"github.com/marketbridge/marketbridge/internal/store"
)

func newMigrateCommand() *command {
	c := &command{Command: config.NewCommand("migrate",
		"Apply pending database migrations, then exit.",
		"Safe to run more than once and from several processes at once: each migration is applied exactly once.\n"+
			"serve also applies them at start; run migrate on its own to upgrade the schema before rolling out replicas.")}
	var storage config.Storage
	var log config.Log
	storage.Bind(c.Flags)
	log.Bind(c.Flags)
	c.run = func(ctx context.Context, e env) error {
		if err := joinErrors(storage.Validate(), log.Validate()); err != nil {
			return err
		}
		if storage.DatabaseURL == "" {
			if err := storage.PrepareDataDir(); err != nil {
				return err
			}
		}
		db, err := store.Open(ctx, storage.URL(), log.Logger(e.stderr))
		if err != nil {
			return err
		}
		defer db.Close()
		applied, err := db.Migrate(ctx)
		if err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		version, err := db.SchemaVersion(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "applied %d migration(s); %s schema is at version %d\n", len(applied), db.Dialect(), version)
		return nil
	}
	return c
}
