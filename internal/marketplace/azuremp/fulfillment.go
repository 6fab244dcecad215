package azuremp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strings"
)

// checkID refuses an id that is empty or could leave its path segment.
func checkID(what, id string) error {
	if id == "" || strings.ContainsAny(id, "/?#%\\") || strings.ContainsFunc(id, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return &APIError{Kind: ErrInvalidInput, Op: what, Err: fmt.Errorf("id %q: want a subscription or operation id", id)}
	}
	return nil
}

func subscriptionPath(id string) string { return "/saas/subscriptions/" + url.PathEscape(id) }

// read GETs url, a call that may be repeated, and parses the answer.
func read[T any](ctx context.Context, c *Client, op, url string, parse func([]byte) (T, error)) (T, error) {
	var zero T
	res, err := c.do(ctx, request{op: op, method: http.MethodGet, url: url, idempotent: true})
	if err != nil {
		return zero, err
	}
	v, err := parse(res.body)
	if err != nil {
		return zero, badResponse(op, res, err)
	}
	return v, nil
}

// parseJSON is a parse function for read: the body as one JSON value.
func parseJSON[T any](b []byte) (T, error) {
	var v T
	err := json.Unmarshal(b, &v)
	return v, err
}

// badResponse is an answer that could not be used.
func badResponse(op string, r *response, err error) *APIError {
	return &APIError{Kind: ErrBadResponse, Op: op, Status: r.status, RequestID: r.requestID, CorrelationID: r.correlationID, Err: err}
}

// Resolve exchanges the landing page's marketplace token for the
// subscription it names, in any status. token is the query parameter as
// the landing page got it, URL-decoded once (r.URL.Query().Get does that):
// spaces, which a '+' that was not encoded turns into, are put back. The
// token is neither logged nor kept. A refused token is ErrTokenInvalid.
func (c *Client) Resolve(ctx context.Context, token string) (Resolved, error) {
	const op = "resolve marketplace token"
	// Not trimmed: a trailing space is a '+' too.
	token = strings.ReplaceAll(token, " ", "+")
	if token == "" || strings.ContainsFunc(token, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return Resolved{}, &APIError{Kind: ErrTokenInvalid, Op: op, Err: errors.New("empty or not printable")}
	}
	res, err := c.do(ctx, request{op: op, method: http.MethodPost, url: c.endpoint("/saas/subscriptions/resolve", nil),
		header: http.Header{"X-Ms-Marketplace-Token": {token}}, idempotent: true})
	if err != nil {
		var ae *APIError
		if errors.As(err, &ae) && ae.Status == http.StatusBadRequest {
			ae.Kind = ErrTokenInvalid
		}
		return Resolved{}, err
	}
	out, err := parseJSON[Resolved](res.body)
	if err != nil {
		return Resolved{}, badResponse(op, res, err)
	}
	if out.ID == "" {
		out.ID = out.Subscription.ID
	}
	if out.ID == "" {
		return Resolved{}, badResponse(op, res, errors.New("the answer names no subscription id"))
	}
	return out, nil
}

// Activate starts billing a PendingFulfillmentStart subscription with the
// plan (and, for per-user plans, the seat count) it was bought with; pass
// an unset Seats for flat-rate plans. It is not idempotent: Microsoft
// answers 400 (ErrBadRequest) for a subscription already Subscribed or
// Suspended, so after a lost answer read the subscription instead of
// activating again. It is therefore tried once, but for a 429.
func (c *Client) Activate(ctx context.Context, id, planID string, quantity Seats) error {
	const op = "activate subscription"
	if err := checkID(op, id); err != nil {
		return err
	}
	if planID == "" {
		return &APIError{Kind: ErrInvalidInput, Op: op, Err: errors.New("plan id required")}
	}
	body := struct {
		PlanID   string `json:"planId"`
		Quantity *int64 `json:"quantity,omitempty"`
	}{PlanID: planID}
	if quantity.Valid {
		body.Quantity = &quantity.Count
	}
	b, _ := json.Marshal(body)
	_, err := c.do(ctx, request{op: op, method: http.MethodPost, url: c.endpoint(subscriptionPath(id)+"/activate", nil), body: b})
	return err
}

// Subscription reads one subscription.
func (c *Client) Subscription(ctx context.Context, id string) (Subscription, error) {
	const op = "get subscription"
	if err := checkID(op, id); err != nil {
		return Subscription{}, err
	}
	return read(ctx, c, op, c.endpoint(subscriptionPath(id), nil), parseJSON[Subscription])
}

// subscriptionPage is a page of List subscriptions.
type subscriptionPage struct {
	Subscriptions []Subscription `json:"subscriptions"`
	NextLink      string         `json:"@nextLink"`
}

func parseSubscriptionPage(b []byte) (subscriptionPage, error) {
	var p subscriptionPage
	if isEmptyBody(b) {
		return p, nil // "an empty response body is returned" for none
	}
	err := json.Unmarshal(b, &p)
	return p, err
}

// maxPages bounds a listing: 10 million subscriptions at Microsoft's 100 a
// page, far beyond any publisher, and a stop to links that never end.
const maxPages = 100_000

// ListSubscriptions reads every subscription of the publisher, of every
// offer and status, page by page (100 a page), and hands each to yield in
// Microsoft's order; an error from yield stops the listing and is
// returned. Each page's @nextLink is followed as written, but only on the
// API's own origin: a link elsewhere is ErrBadResponse.
func (c *Client) ListSubscriptions(ctx context.Context, yield func(Subscription) error) error {
	const op = "list subscriptions"
	next := c.endpoint("/saas/subscriptions", nil)
	base, _ := url.Parse(c.cfg.BaseURL)
	seen := map[string]bool{}
	for page := 1; next != ""; page++ {
		if page > maxPages {
			return &APIError{Kind: ErrBadResponse, Op: op, Err: fmt.Errorf("more than %d pages: a @nextLink loop", maxPages)}
		}
		seen[next] = true
		res, err := c.do(ctx, request{op: fmt.Sprintf("%s (page %d)", op, page), method: http.MethodGet, url: next, idempotent: true})
		if err != nil {
			return err
		}
		p, err := parseSubscriptionPage(res.body)
		if err != nil {
			return badResponse(op, res, err)
		}
		for _, s := range p.Subscriptions {
			if err := yield(s); err != nil {
				return err
			}
		}
		next = strings.TrimSpace(p.NextLink)
		if next == "" {
			return nil
		}
		if err := checkNextLink(base, next); err != nil {
			return badResponse(op, res, err)
		}
		if seen[next] {
			return badResponse(op, res, fmt.Errorf("@nextLink %s repeats an earlier page", next))
		}
	}
	return nil
}

// checkNextLink accepts an absolute link on the base URL's origin, under
// its path.
func checkNextLink(base *url.URL, link string) error {
	u, err := url.Parse(link)
	if err != nil {
		return fmt.Errorf("@nextLink: %w", err)
	}
	if !u.IsAbs() || u.User != nil || origin(u) != origin(base) {
		return fmt.Errorf("@nextLink %q: not on the API's origin %s", u.Redacted(), origin(base))
	}
	if p := path.Clean("/" + u.Path); !strings.HasPrefix(p+"/", strings.TrimRight(base.Path, "/")+"/") {
		return fmt.Errorf("@nextLink %q: outside the API's path %s", u.Redacted(), base.Path)
	}
	return nil
}

// parsePlans reads listAvailablePlans: {"plans":[...]}, a bare array, or
// an empty body.
func parsePlans(b []byte) ([]Plan, error) {
	b = bytes.TrimSpace(b)
	if isEmptyBody(b) {
		return nil, nil
	}
	if b[0] == '[' {
		var plans []Plan
		err := json.Unmarshal(b, &plans)
		return plans, err
	}
	var out struct {
		Plans []Plan `json:"plans"`
	}
	err := json.Unmarshal(b, &out)
	return out.Plans, err
}

// ListAvailablePlans lists the plans the subscription may move to, the
// current one included; planID, if not empty, asks for that one alone.
func (c *Client) ListAvailablePlans(ctx context.Context, id, planID string) ([]Plan, error) {
	const op = "list available plans"
	if err := checkID(op, id); err != nil {
		return nil, err
	}
	q := url.Values{}
	if planID != "" {
		q.Set("planId", planID)
	}
	return read(ctx, c, op, c.endpoint(subscriptionPath(id)+"/listAvailablePlans", q), parsePlans)
}

// ChangePlan asks Microsoft to move the subscription to planID, once the
// buyer approved it on the seller's site, and returns the id of the
// operation to poll (with Operation); apply the change only when that
// operation has Succeeded. The id is empty if Microsoft named none:
// ListOperations finds it. Not repeated but for a 429: a second PATCH
// while the first is in flight is refused.
func (c *Client) ChangePlan(ctx context.Context, id, planID string) (string, error) {
	if planID == "" {
		return "", &APIError{Kind: ErrInvalidInput, Op: "change plan", Err: errors.New("plan id required")}
	}
	b, _ := json.Marshal(map[string]string{"planId": planID})
	return c.startOperation(ctx, "change plan", http.MethodPatch, id, b)
}

// ChangeQuantity is ChangePlan for a per-user plan's seat count.
func (c *Client) ChangeQuantity(ctx context.Context, id string, quantity int64) (string, error) {
	if quantity <= 0 {
		return "", &APIError{Kind: ErrInvalidInput, Op: "change quantity", Err: fmt.Errorf("quantity %d: want at least 1", quantity)}
	}
	b, _ := json.Marshal(map[string]int64{"quantity": quantity})
	return c.startOperation(ctx, "change quantity", http.MethodPatch, id, b)
}

// Cancel unsubscribes the subscription for good (DELETE) and returns the
// operation id, as ChangePlan does. Deprovision on the Unsubscribe
// webhook, or when the operation has Succeeded.
func (c *Client) Cancel(ctx context.Context, id string) (string, error) {
	return c.startOperation(ctx, "cancel subscription", http.MethodDelete, id, nil)
}

func (c *Client) startOperation(ctx context.Context, op, method, id string, body []byte) (string, error) {
	if err := checkID(op, id); err != nil {
		return "", err
	}
	res, err := c.do(ctx, request{op: op, method: method, url: c.endpoint(subscriptionPath(id), nil), body: body})
	if err != nil {
		return "", err
	}
	return operationID(res.header), nil
}

// operationID takes the id from Operation-Location
// (.../operations/{id}?api-version=...), else from Operation-Id.
func operationID(h http.Header) string {
	if loc := h.Get("Operation-Location"); loc != "" {
		if u, err := url.Parse(loc); err == nil {
			dir, last := path.Split(strings.TrimRight(u.Path, "/"))
			if strings.HasSuffix(dir, "/operations/") && checkID("", last) == nil {
				return last
			}
		}
	}
	if id := strings.TrimSpace(h.Get("Operation-Id")); checkID("", id) == nil {
		return id
	}
	return ""
}

// Operation reads one operation of a subscription. Microsoft has been
// seen answering 400 rather than 404 for an unknown one (§3.11): treat
// ErrBadRequest here as "not found", and do not retry it.
func (c *Client) Operation(ctx context.Context, subscriptionID, operationID string) (Operation, error) {
	const op = "get operation"
	if err := errors.Join(checkID(op, subscriptionID), checkID(op, operationID)); err != nil {
		return Operation{}, err
	}
	return read(ctx, c, op, c.endpoint(subscriptionPath(subscriptionID)+"/operations/"+url.PathEscape(operationID), nil), parseJSON[Operation])
}

// parseOperations reads the outstanding operations in each shape seen:
// {"operations":[...]}, a bare array, {} or nothing.
func parseOperations(b []byte) ([]Operation, error) {
	b = bytes.TrimSpace(b)
	if isEmptyBody(b) {
		return nil, nil
	}
	if b[0] == '[' {
		var ops []Operation
		err := json.Unmarshal(b, &ops)
		return ops, err
	}
	var out struct {
		Operations []Operation `json:"operations"`
	}
	err := json.Unmarshal(b, &out)
	return out.Operations, err
}

// ListOperations lists the subscription's operations still in progress:
// after downtime, those that still wait for an acknowledgement.
func (c *Client) ListOperations(ctx context.Context, subscriptionID string) ([]Operation, error) {
	const op = "list operations"
	if err := checkID(op, subscriptionID); err != nil {
		return nil, err
	}
	return read(ctx, c, op, c.endpoint(subscriptionPath(subscriptionID)+"/operations", nil), parseOperations)
}

// UpdateOperation acknowledges a ChangePlan, ChangeQuantity or Reinstate
// operation: success true accepts it, false refuses it (the subscription
// keeps its plan and quantity). ErrConflict: the operation is no longer in
// progress. ErrBadRequest or ErrNotFound: it needs no acknowledgement, or is
// unknown (§3.11); neither is worth repeating. Do not acknowledge the
// operations the seller itself started (RequestSource "Partner").
func (c *Client) UpdateOperation(ctx context.Context, subscriptionID, operationID string, success bool) error {
	const op = "update operation"
	if err := errors.Join(checkID(op, subscriptionID), checkID(op, operationID)); err != nil {
		return err
	}
	status := "Failure"
	if success {
		status = "Success"
	}
	b, _ := json.Marshal(map[string]string{"status": status})
	_, err := c.do(ctx, request{op: op, method: http.MethodPatch,
		url: c.endpoint(subscriptionPath(subscriptionID)+"/operations/"+url.PathEscape(operationID), nil), body: b})
	return err
}
