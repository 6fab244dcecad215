package buyer

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
)

// DefaultPrefix is where the house mounts the pages (with http.StripPrefix).
const DefaultPrefix = "/google/buyer"

// Config is what the pages need.
type Config struct {
	Market Market
	Logger *slog.Logger // discarded when nil
	// Prefix is the path the pages are mounted at, without a trailing
	// slash; every link, form action, redirect and the cookies' path are
	// built from it, because the handler sees paths with it stripped.
	// Empty means the pages are served at the root.
	Prefix string
	// Rand makes the CSRF key, the browsers' CSRF nonces and suggested
	// billing account ids (crypto/rand when nil).
	Rand io.Reader
}

// Validate reports every configuration error at once.
func (c Config) Validate() error {
	var errs []error
	if c.Market == nil {
		errs = append(errs, errors.New("google buyer pages: a market is required"))
	}
	if c.Prefix != "" && (!strings.HasPrefix(c.Prefix, "/") || strings.HasSuffix(c.Prefix, "/") || strings.ContainsAny(c.Prefix, "?#\"'<>& ")) {
		errs = append(errs, fmt.Errorf("google buyer pages: prefix %q: want a path like %s, with a leading and no trailing slash", c.Prefix, DefaultPrefix))
	}
	return errors.Join(errs...)
}

// Pages serves the buyer's console.
type Pages struct {
	m       Market
	log     *slog.Logger
	base    string
	rand    io.Reader
	csrfKey []byte // signs the browsers' nonces; new each start, so old forms are refused
	tmpl    *templates
	handler http.Handler
}

// New returns the pages for the configured prefix.
func New(cfg Config) (*Pages, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	p := &Pages{m: cfg.Market, log: cfg.Logger, base: cfg.Prefix, rand: cfg.Rand, tmpl: parseTemplates()}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if p.rand == nil {
		p.rand = rand.Reader
	}
	p.csrfKey = make([]byte, 32)
	if _, err := io.ReadFull(p.rand, p.csrfKey); err != nil {
		return nil, fmt.Errorf("google buyer pages: make the CSRF key: %w", err)
	}
	p.handler = p.routes()
	return p, nil
}

// Handler serves paths relative to the prefix ("/", "/products/x", ...).
func (p *Pages) Handler() http.Handler { return p.handler }

// path is the absolute path of a page: the prefix and rel ("/orders").
func (p *Pages) path(rel string) string { return p.base + rel }
