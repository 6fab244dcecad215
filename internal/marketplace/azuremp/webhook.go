package azuremp

import (
	"encoding/json"
	"errors"
	"fmt"
)

// ErrBadWebhook is returned, wrapped with the reason, for a webhook body
// that lacks what the seller needs to act: an operation id, a subscription
// id and an action.
var ErrBadWebhook = errors.New("not a marketplace webhook")

// Webhook is a notice Microsoft posts to the Connection webhook URL
// (contract §4.2): an operation on a subscription. Only ID, SubscriptionID
// and Action are sure to be set. The rest is a hint that may be stale (a
// Suspend notice's subscription may still say Subscribed): re-read the
// operation and the subscription before acting.
type Webhook struct {
	// ID is the operation's id: what to acknowledge, and to de-duplicate
	// repeated deliveries on.
	ID             string
	SubscriptionID string
	Action         Action
	ActivityID     string
	PublisherID    string
	OfferID        string
	PlanID         string
	Quantity       Seats
	Status         OperationStatus
	TimeStamp      Time
	// RequestSource is "Azure", or "Partner" for a change the seller
	// asked for (not to be acknowledged).
	RequestSource string
	// Subscription is the embedded subscription object, nil if absent or
	// unreadable.
	Subscription *Subscription
}

// ParseWebhook reads a webhook body tolerantly: it requires id (or Id),
// subscriptionId and action (or the older operationType), and reads every
// other field it can, leaving unreadable ones unset ("avoid strict
// deserialization", §4.1). It checks no token: WebhookVerifier does.
func ParseWebhook(body []byte) (Webhook, error) {
	var raw struct {
		ID              json.RawMessage `json:"id"`
		SubscriptionID  json.RawMessage `json:"subscriptionId"`
		Action          json.RawMessage `json:"action"`
		OperationType   json.RawMessage `json:"operationType"`
		ActivityID      json.RawMessage `json:"activityId"`
		PublisherID     json.RawMessage `json:"publisherId"`
		OfferID         json.RawMessage `json:"offerId"`
		PlanID          json.RawMessage `json:"planId"`
		Quantity        json.RawMessage `json:"quantity"`
		Status          json.RawMessage `json:"status"`
		TimeStamp       json.RawMessage `json:"timeStamp"`
		RequestSource   json.RawMessage `json:"operationRequestSource"`
		RequestedSource json.RawMessage `json:"operationRequestedSource"`
		Subscription    json.RawMessage `json:"subscription"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return Webhook{}, fmt.Errorf("%w: %w", ErrBadWebhook, err)
	}
	var w Webhook
	var errs []error
	required := func(name string, b json.RawMessage, dst *string) {
		v, err := trimmed(b)
		switch {
		case len(b) == 0 || err == nil && v == "":
			errs = append(errs, fmt.Errorf("%s missing", name))
		case err != nil:
			errs = append(errs, fmt.Errorf("%s: want a string", name))
		case checkID("", v) != nil:
			errs = append(errs, fmt.Errorf("%s %q: not an id", name, v))
		default:
			*dst = v
		}
	}
	required("id", raw.ID, &w.ID)
	required("subscriptionId", raw.SubscriptionID, &w.SubscriptionID)
	if len(raw.Action) == 0 || string(raw.Action) == "null" {
		raw.Action = raw.OperationType
	}
	var action string
	required("action", raw.Action, &action)
	w.Action = Action(action)
	if err := errors.Join(errs...); err != nil {
		return Webhook{}, fmt.Errorf("%w: %w", ErrBadWebhook, err)
	}
	w.ActivityID = optionalString(raw.ActivityID)
	w.PublisherID = optionalString(raw.PublisherID)
	w.OfferID = optionalString(raw.OfferID)
	w.PlanID = optionalString(raw.PlanID)
	w.Status = OperationStatus(optionalString(raw.Status))
	w.RequestSource = optionalString(raw.RequestSource)
	if w.RequestSource == "" {
		w.RequestSource = optionalString(raw.RequestedSource)
	}
	var q Seats
	if len(raw.Quantity) > 0 && q.UnmarshalJSON(raw.Quantity) == nil {
		w.Quantity = q
	}
	var ts Time
	if len(raw.TimeStamp) > 0 && ts.UnmarshalJSON(raw.TimeStamp) == nil {
		w.TimeStamp = ts
	}
	var s Subscription
	if len(raw.Subscription) > 0 && string(raw.Subscription) != "null" && json.Unmarshal(raw.Subscription, &s) == nil {
		w.Subscription = &s
	}
	return w, nil
}

// optionalString is a trimmed string, or "" for anything else.
func optionalString(b json.RawMessage) string {
	if len(b) == 0 {
		return ""
	}
	v, err := trimmed(b)
	if err != nil {
		return ""
	}
	return v
}
