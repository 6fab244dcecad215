// Package store opens the database, SQLite by default or PostgreSQL by URL,
// applies the embedded migrations, and runs transactions. Domain packages own
// their tables and queries and reach the database through a *DB.
//
// The same schema and the same SQL serve both engines: queries use $1
// parameters, RETURNING and ON CONFLICT, which both understand. The few
// places where the dialects differ (column types in migrations, the
// migration lock, row-lease claims) live in dialect.go and nowhere else.
//
// SQLite is set up for a server: WAL with synchronous=FULL (a commit is on
// disk when it returns, power loss included), a busy timeout, foreign keys,
// and one writer connection whose transactions start IMMEDIATE, so that
// concurrent requests queue for the write lock instead of failing with
// "database is locked"; reads use a separate pool that WAL lets run beside
// the writer.
package store
