package servicecontrol

import (
	"net/http"
	"time"
)

// ledgerPage serves GET /v1/emulator/ledger (ours, not Google's): every
// recorded entry, for acceptance tests and people.
func (s *Server) ledgerPage(w http.ResponseWriter, r *http.Request) {
	entries, err := s.Ledger(r.Context())
	if err != nil {
		s.log.Error("ledger not read", "error", err)
		s.writeError(w, r, &apiError{status: http.StatusInternalServerError, code: "INTERNAL", message: err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"entries": entries})
}

// invoicePage serves GET /v1/emulator/invoices/{account}/{month} (ours).
func (s *Server) invoicePage(w http.ResponseWriter, r *http.Request) {
	month := r.PathValue("month")
	if _, err := time.Parse("2006-01", month); err != nil {
		s.writeError(w, r, invalidArgument("month "+month+": want YYYY-MM"))
		return
	}
	inv, err := s.Invoice(r.Context(), r.PathValue("account"), month)
	if err != nil {
		s.log.Error("invoice not read", "error", err)
		s.writeError(w, r, &apiError{status: http.StatusInternalServerError, code: "INTERNAL", message: err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, inv)
}
