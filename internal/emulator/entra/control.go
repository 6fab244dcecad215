package entra

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
)

// The stand-in's control API, for a vendor's CI and the demo: register the
// publisher's app (what Partner Center's technical configuration names),
// list the apps, rotate the signing key. Apps live in memory: whoever
// starts the emulator registers them again (the demo does, --seed-demo
// does).

// maxControlBody bounds a control request's body.
const maxControlBody = 16 << 10

// appRequest is PUT /emulator/v1/apps/{tenant}/{client}'s body.
type appRequest struct {
	Secret string `json:"secret"`
	Name   string `json:"name"`
}

// parseAppRequest reads an app registration's body: one JSON object, a
// non-empty secret.
func parseAppRequest(body io.Reader) (appRequest, error) {
	var in appRequest
	dec := json.NewDecoder(io.LimitReader(body, maxControlBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return in, errors.New("the body is not a JSON object of secret and name: " + err.Error())
	}
	if _, err := dec.Token(); err != io.EOF {
		return in, errors.New("something follows the JSON object")
	}
	if strings.TrimSpace(in.Secret) == "" {
		return in, errors.New("secret is required")
	}
	return in, nil
}

func (s *Server) putApp(w http.ResponseWriter, r *http.Request) {
	in, err := parseAppRequest(r.Body)
	if err != nil {
		controlError(w, http.StatusBadRequest, err)
		return
	}
	a := App{TenantID: r.PathValue("tenant"), ClientID: r.PathValue("client"), SecretHash: HashSecret(in.Secret), Name: in.Name}
	if err := s.RegisterApp(a); err != nil {
		controlError(w, http.StatusBadRequest, err)
		return
	}
	controlJSON(w, http.StatusOK, appView(a))
}

func (s *Server) deleteApp(w http.ResponseWriter, r *http.Request) {
	if !s.RemoveApp(r.PathValue("tenant"), r.PathValue("client")) {
		controlError(w, http.StatusNotFound, errors.New("no such app in that tenant"))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) listApps(w http.ResponseWriter, _ *http.Request) {
	views := []map[string]string{}
	for _, a := range s.Apps() {
		views = append(views, appView(a))
	}
	controlJSON(w, http.StatusOK, map[string]any{"apps": views})
}

func (s *Server) rotate(w http.ResponseWriter, _ *http.Request) {
	kid, err := s.RotateKeys()
	if err != nil {
		controlError(w, http.StatusInternalServerError, err)
		return
	}
	controlJSON(w, http.StatusOK, map[string]any{"kid": kid, "published": s.KeyIDs()})
}

// appView is an app as the control API shows it: never its secret's hash.
func appView(a App) map[string]string {
	return map[string]string{"tenant_id": a.TenantID, "client_id": a.ClientID, "name": a.Name}
}

func controlJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func controlError(w http.ResponseWriter, status int, err error) {
	controlJSON(w, status, map[string]string{"error": err.Error()})
}
