package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
)

// ConfigEndpoint is an endpoint declared by flags or by the webhooks file,
// for infrastructure as code: it is created or updated at start-up, and
// read only in the operator view.
type ConfigEndpoint struct {
	URL    string `json:"url"`
	Secret string `json:"secret"`
	// Types are the event types it takes; none takes every type.
	Types []Type `json:"types,omitempty"`
}

// Validate reports what is wrong with the endpoint.
func (c ConfigEndpoint) Validate(allowPrivate bool) error {
	var errs []error
	if err := CheckURL(c.URL, allowPrivate); err != nil {
		errs = append(errs, fmt.Errorf("url %q: %w", c.URL, err))
	}
	if err := ValidSecret(c.Secret); err != nil {
		errs = append(errs, fmt.Errorf("secret of %q: %w", c.URL, err))
	}
	for _, t := range c.Types {
		if !t.Valid() {
			errs = append(errs, fmt.Errorf("types of %q: unknown event type %q", c.URL, t))
		}
	}
	return errors.Join(errs...)
}

// endpointsFile is the webhooks file:
//
//	{"endpoints": [{"url": "https://...", "secret": "whsec_...", "types": ["subscription.updated"]}]}
type endpointsFile struct {
	Endpoints []ConfigEndpoint `json:"endpoints"`
}

// maxFileEndpoints bounds the webhooks file.
const maxFileEndpoints = 100

// ParseEndpointsFile reads the webhooks file: a JSON object whose
// "endpoints" list each endpoint's url, secret and, optionally, types.
// Unknown fields are refused, so that a misspelt "types" does not silently
// subscribe an endpoint to everything.
func ParseEndpointsFile(data []byte, allowPrivate bool) ([]ConfigEndpoint, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f endpointsFile
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("webhooks file: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("webhooks file: data after the JSON object")
	}
	if len(f.Endpoints) > maxFileEndpoints {
		return nil, fmt.Errorf("webhooks file: %d endpoints, at most %d", len(f.Endpoints), maxFileEndpoints)
	}
	if err := ValidateConfig(f.Endpoints, allowPrivate); err != nil {
		return nil, fmt.Errorf("webhooks file: %w", err)
	}
	return f.Endpoints, nil
}

// ValidateConfig checks every endpoint and that no URL comes twice: the URL
// names a configured endpoint from one start to the next.
func ValidateConfig(eps []ConfigEndpoint, allowPrivate bool) error {
	var errs []error
	var seen []string
	for i, e := range eps {
		if err := e.Validate(allowPrivate); err != nil {
			errs = append(errs, fmt.Errorf("endpoint %d: %w", i+1, err))
		}
		if slices.Contains(seen, e.URL) {
			errs = append(errs, fmt.Errorf("endpoint %d: %q is given twice", i+1, e.URL))
		}
		seen = append(seen, e.URL)
	}
	return errors.Join(errs...)
}
