// Package config binds each command's flags to their MARKETBRIDGE_* environment
// variables and validates the result once, before anything is started.
//
// A flag given on the command line wins over its environment variable, which
// wins over the default; every flag has exactly one variable, derived from its
// name ("database-url" is MARKETBRIDGE_DATABASE_URL), so the two never drift.
package config
