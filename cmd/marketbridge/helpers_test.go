package main

import (
	"flag"
	"log/slog"
	"strconv"
	"testing"
	"time"
)

type flagT = flag.Flag

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func findCommand(t *testing.T, name string) *command {
	t.Helper()
	for _, c := range commands() {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no command %q", name)
	return nil
}

// sampleValue returns a value of the same kind as def that differs from it.
func sampleValue(def string) string {
	if _, err := time.ParseDuration(def); err == nil {
		return "7s"
	}
	if _, err := strconv.ParseFloat(def, 64); err == nil {
		return "7"
	}
	switch def {
	case "true":
		return "false"
	case "false":
		return "true"
	case "auto", "info":
		return map[string]string{"auto": "text", "info": "debug"}[def]
	}
	return "sample-" + def
}
