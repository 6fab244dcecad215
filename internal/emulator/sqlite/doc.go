// Package sqlite persists the emulator's state in one SQLite file: a single
// table of JSON entities keyed by kind and id, written in one transaction per
// emulator operation. The emulator keeps its working state in memory and
// reads this table only at start, so the schema stays trivial and never needs
// a migration beyond its creation.
package sqlite
