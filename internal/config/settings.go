package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// DefaultDataDir is where the embedded defaults keep their files.
const DefaultDataDir = "./marketbridge-data"

// Storage says where the data lives: a folder for files, and a database
// that is SQLite in that folder unless a PostgreSQL URL is given.
type Storage struct {
	DataDir     string
	DatabaseURL string
}

// Bind declares the storage flags on fs.
func (s *Storage) Bind(fs *flag.FlagSet) {
	fs.StringVar(&s.DataDir, "data", DefaultDataDir, "data folder (SQLite database, local files)")
	fs.StringVar(&s.DatabaseURL, "database-url", "", "postgres://... for PostgreSQL, or sqlite:PATH; empty means SQLite in the data folder")
}

// Validate checks the URL's form; whether the database answers is the
// store's business.
func (s Storage) Validate() error {
	var errs []error
	if strings.TrimSpace(s.DataDir) == "" {
		errs = append(errs, errors.New("--data: must not be empty"))
	}
	if s.DatabaseURL != "" {
		u, err := url.Parse(s.DatabaseURL)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("--database-url: not a URL: %w", err))
		case u.Scheme != "postgres" && u.Scheme != "postgresql" && u.Scheme != "sqlite":
			errs = append(errs, fmt.Errorf("--database-url: scheme %q is not supported (use postgres://... or sqlite:PATH)", u.Scheme))
		}
	}
	return errors.Join(errs...)
}

// PrepareDataDir creates the data folder and proves it is writable, so that
// a bad folder is one clear error at start rather than a failure later.
func (s Storage) PrepareDataDir() error {
	if err := os.MkdirAll(s.DataDir, 0o750); err != nil {
		return fmt.Errorf("data folder %s: %w", s.DataDir, err)
	}
	probe, err := os.CreateTemp(s.DataDir, ".write-check-*")
	if err != nil {
		return fmt.Errorf("data folder %s is not writable: %w", s.DataDir, errors.Unwrap(err))
	}
	name := probe.Name()
	probe.Close()
	return os.Remove(name)
}

// URL is the database to open: the given URL, or SQLite in the data folder.
func (s Storage) URL() string {
	if s.DatabaseURL != "" {
		return s.DatabaseURL
	}
	return "sqlite:" + filepath.Join(s.DataDir, "marketbridge.db")
}

// HTTP configures a listening server.
type HTTP struct {
	Addr            string
	RequestTimeout  time.Duration
	ShutdownTimeout time.Duration
}

// Bind declares the HTTP flags on fs with the given default address.
func (h *HTTP) Bind(fs *flag.FlagSet, defaultAddr string) {
	fs.StringVar(&h.Addr, "addr", defaultAddr, "address the seller service listens on")
	fs.DurationVar(&h.RequestTimeout, "request-timeout", 30*time.Second, "longest a request may take before it is answered 503")
	fs.DurationVar(&h.ShutdownTimeout, "shutdown-timeout", 20*time.Second, "how long shutdown waits for requests in flight")
}

// Validate checks the address and durations.
func (h HTTP) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(h.Addr); err != nil {
		errs = append(errs, fmt.Errorf("--addr: %q is not host:port: %w", h.Addr, err))
	}
	if h.RequestTimeout <= 0 {
		errs = append(errs, errors.New("--request-timeout: must be positive"))
	}
	if h.ShutdownTimeout <= 0 {
		errs = append(errs, errors.New("--shutdown-timeout: must be positive"))
	}
	return errors.Join(errs...)
}

// Log configures structured logging.
type Log struct {
	Format string // auto, json or text
	Level  string
}

// Bind declares the logging flags on fs.
func (l *Log) Bind(fs *flag.FlagSet) {
	fs.StringVar(&l.Format, "log-format", "auto", "auto (text on a terminal, JSON otherwise), json or text")
	fs.StringVar(&l.Level, "log-level", "info", "debug, info, warn or error")
}

// Validate checks the format and level names.
func (l Log) Validate() error {
	var errs []error
	switch l.Format {
	case "auto", "json", "text":
	default:
		errs = append(errs, fmt.Errorf("--log-format: %q is not auto, json or text", l.Format))
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(l.Level)); err != nil {
		errs = append(errs, fmt.Errorf("--log-level: %q is not debug, info, warn or error", l.Level))
	}
	return errors.Join(errs...)
}

// Logger builds the logger; terminal says whether out is a terminal, which
// decides the format when it is "auto".
func (l Log) Logger(out io.Writer) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(l.Level)) // validated already
	opts := &slog.HandlerOptions{Level: lvl}
	format := l.Format
	if format == "auto" {
		format = "json"
		if f, ok := out.(*os.File); ok && isTerminal(f) {
			format = "text"
		}
	}
	if format == "text" {
		return slog.New(slog.NewTextHandler(out, opts))
	}
	return slog.New(slog.NewJSONHandler(out, opts))
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
