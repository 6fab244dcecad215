package buyer

import (
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/marketbridge/marketbridge/internal/emulator/azure/market"
)

// DefaultPrefix is where the house mounts the pages (with http.StripPrefix).
const DefaultPrefix = "/azure/buyer"

// Config is what the pages need.
type Config struct {
	Market *market.Market
	Logger *slog.Logger // discarded when nil
	// Prefix is the path the pages are mounted at, without a trailing slash
	// ("/azure/buyer"); every link, redirect and the cookie's path are built
	// from it, because the handler itself sees paths with the prefix stripped.
	// Empty means the pages are served at the root.
	Prefix string
	// Rand makes the suggested new tenant ids on the sign-in page
	// (crypto/rand when nil).
	Rand io.Reader
}

// Validate reports every configuration error at once.
func (c Config) Validate() error {
	var errs []error
	if c.Market == nil {
		errs = append(errs, errors.New("buyer pages: a market is required"))
	}
	if c.Prefix != "" && (!strings.HasPrefix(c.Prefix, "/") || strings.HasSuffix(c.Prefix, "/") || strings.ContainsAny(c.Prefix, "?#\"'<> ")) {
		errs = append(errs, errors.New("buyer pages: prefix "+c.Prefix+": want a path like /azure/buyer, with a leading and no trailing slash"))
	}
	return errors.Join(errs...)
}

// Pages serves the buyer's portal.
type Pages struct {
	m      *market.Market
	log    *slog.Logger
	base   string
	rand   io.Reader
	tmpl   *templates
	handle http.Handler
}

// NewPages returns the pages for the configured prefix.
func NewPages(cfg Config) (*Pages, error) {
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
	p.handle = p.routes()
	return p, nil
}

// ServeHTTP serves paths relative to the prefix ("/", "/offers/x", ...).
func (p *Pages) ServeHTTP(w http.ResponseWriter, r *http.Request) { p.handle.ServeHTTP(w, r) }

// path is an absolute path of a page: the prefix and rel ("/offers/x").
func (p *Pages) path(rel string) string { return p.base + rel }
