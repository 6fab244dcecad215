// Package openapitest checks what marketbridge answers and delivers against
// its OpenAPI document (internal/web/openapi.json, served at
// /api/v1/openapi.json), for the tests of every package that sees the API:
// an undocumented route, method or status, a body its schema refuses, or a
// webhook the document's webhooks section does not describe is an error.
// Only tests import it.
package openapitest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
)

// Spec is a loaded, validated OpenAPI document.
type Spec struct {
	doc    *openapi3.T
	router routers.Router
}

// Load parses and validates an OpenAPI document.
func Load(raw []byte) (*Spec, error) {
	doc, err := openapi3.NewLoader().LoadFromData(raw)
	if err != nil {
		return nil, fmt.Errorf("load OpenAPI document: %w", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("validate OpenAPI document: %w", err)
	}
	// The document's server is "/", relative to wherever marketbridge
	// runs; the router matches paths alone without it.
	doc.Servers = nil
	router, err := legacy.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("route OpenAPI document: %w", err)
	}
	return &Spec{doc: doc, router: router}, nil
}

// HasOperation reports whether the document describes method on path (a
// pattern such as /api/v1/organizations/{org}).
func (s *Spec) HasOperation(method, path string) bool {
	item := s.doc.Paths.Find(path)
	return item != nil && item.GetOperation(method) != nil
}

// Operations lists the document's operations as "METHOD /path".
func (s *Spec) Operations() []string {
	var out []string
	for path, item := range s.doc.Paths.Map() {
		for method := range item.Operations() {
			out = append(out, method+" "+path)
		}
	}
	return out
}

// CheckResponse reports how an answer to r differs from the document.
func (s *Spec) CheckResponse(r *http.Request, status int, header http.Header, body []byte) error {
	req := r.Clone(context.Background())
	if req.URL.Host == "" {
		req.URL.Scheme, req.URL.Host = "http", r.Host
	}
	route, params, err := s.router.FindRoute(req)
	if err != nil {
		return err
	}
	return openapi3filter.ValidateResponse(context.Background(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
		Status:                 status, Header: header, Body: io.NopCloser(bytes.NewReader(body)),
		Options: &openapi3filter.Options{IncludeResponseStatus: true},
	})
}

// CheckWebhook reports how the body of a webhook delivery ({"type",
// "timestamp", "data"}) differs from the document's webhooks section.
func (s *Spec) CheckWebhook(body []byte) error {
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return fmt.Errorf("webhook body: %w", err)
	}
	obj, _ := v.(map[string]any)
	typ, _ := obj["type"].(string)
	if typ == "" {
		return errors.New("webhook body: no type")
	}
	hook := s.doc.Webhooks[typ]
	if hook == nil || hook.Post == nil || hook.Post.RequestBody == nil {
		return fmt.Errorf("no webhook %q", typ)
	}
	media := hook.Post.RequestBody.Value.Content.Get("application/json")
	if media == nil || media.Schema == nil {
		return fmt.Errorf("webhook %q has no JSON body", typ)
	}
	return s.doc.ValidateSchemaJSON(media.Schema.Value, v)
}
