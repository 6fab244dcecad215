package buyer

import (
	"log/slog"
	"net/http"

	"github.com/marketbridge/marketbridge/internal/emulator/market"
)

// New returns the buyer pages (placeholder until the pages land).
func New(m *market.Market, logger *slog.Logger) http.Handler {
	return http.NotFoundHandler()
}
