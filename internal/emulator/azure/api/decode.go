package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/marketbridge/marketbridge/internal/emulator/azure/market"
)

// The parsers of request bodies. They are lenient where Microsoft's docs
// show loose typing (a quantity as "3"), and never fail on unknown fields.

// looseInt reads a quantity given as a number, a numeric string, null or "".
func looseInt(raw json.RawMessage) (*int, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" || string(raw) == `""` {
		return nil, nil
	}
	text := string(raw)
	if strings.HasPrefix(text, `"`) {
		if err := json.Unmarshal(raw, &text); err != nil {
			return nil, err
		}
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(text), 64)
	if err != nil || f != math.Trunc(f) || f < 0 || f > math.MaxInt32 {
		return nil, fmt.Errorf("quantity %s: want a whole number of seats", raw)
	}
	n := int(f)
	return &n, nil
}

// parseActivate reads {"planId","quantity"}; an empty body has no plan.
func parseActivate(b []byte) (string, *int, error) {
	var body struct {
		PlanID   string          `json:"planId"`
		Quantity json.RawMessage `json:"quantity"`
	}
	if len(bytes.TrimSpace(b)) > 0 {
		if err := json.Unmarshal(b, &body); err != nil {
			return "", nil, badBody("", err)
		}
	}
	q, err := looseInt(body.Quantity)
	if err != nil {
		return "", nil, badBody("quantity", err)
	}
	return body.PlanID, q, nil
}

// parseChange reads a PATCH of a subscription: {"planId"} or {"quantity"}.
// Both, or neither, are left for the market to refuse with its message.
func parseChange(b []byte) (market.ChangeInput, error) {
	var body struct {
		PlanID   *string         `json:"planId"`
		Quantity json.RawMessage `json:"quantity"`
	}
	if err := json.Unmarshal(b, &body); err != nil {
		return market.ChangeInput{}, badBody("", err)
	}
	q, err := looseInt(body.Quantity)
	if err != nil {
		return market.ChangeInput{}, badBody("quantity", err)
	}
	in := market.ChangeInput{Quantity: q}
	if body.PlanID != nil {
		if *body.PlanID == "" {
			return market.ChangeInput{}, badBody("planId", errors.New("planId is empty"))
		}
		in.PlanID = *body.PlanID
	}
	return in, nil
}

// parseAck reads the PATCH of an operation: {"status":"Success|Failure"}.
func parseAck(b []byte) (string, error) {
	var body struct {
		Status string `json:"status"`
	}
	if err := json.Unmarshal(b, &body); err != nil {
		return "", badBody("", err)
	}
	return body.Status, nil
}

// usageItem is one usage event as sent; fields stay raw so that a bad
// field is a BadArgument result of that item, not of the batch.
type usageItem struct {
	ResourceID         json.RawMessage `json:"resourceId"`
	ResourceURI        json.RawMessage `json:"resourceUri"`
	Quantity           json.RawMessage `json:"quantity"`
	Dimension          json.RawMessage `json:"dimension"`
	EffectiveStartTime json.RawMessage `json:"effectiveStartTime"`
	PlanID             json.RawMessage `json:"planId"`
}

// input turns an item into the market's text form. A field of the wrong
// JSON type becomes a value the market refuses with its own message.
func (it usageItem) input() market.UsageInput {
	str := func(raw json.RawMessage) string {
		var s string
		if len(raw) == 0 || string(raw) == "null" {
			return ""
		}
		if err := json.Unmarshal(raw, &s); err != nil {
			return "\x00invalid" // not a string: fails the market's checks
		}
		return s
	}
	in := market.UsageInput{ResourceID: str(it.ResourceID), ResourceURI: str(it.ResourceURI), Dimension: str(it.Dimension),
		EffectiveStartTime: str(it.EffectiveStartTime), PlanID: str(it.PlanID)}
	q := bytes.TrimSpace(it.Quantity)
	switch {
	case len(q) == 0 || string(q) == "null":
	case q[0] == '"':
		in.Quantity = str(q)
	default:
		in.Quantity = string(q)
	}
	return in
}

// parseUsageEvent reads the body of POST /usageEvent.
func parseUsageEvent(b []byte) (market.UsageInput, usageItem, error) {
	var it usageItem
	if err := json.Unmarshal(b, &it); err != nil {
		return market.UsageInput{}, it, badBody("usageEventRequest", err)
	}
	return it.input(), it, nil
}

// maxBatch is the Metering API's batch limit.
const maxBatch = 25

// parseBatch reads the body of POST /batchUsageEvent: 1 to 25 items.
func parseBatch(b []byte) ([]market.UsageInput, []usageItem, error) {
	var body struct {
		Request []json.RawMessage `json:"request"`
	}
	if err := json.Unmarshal(b, &body); err != nil {
		return nil, nil, badBody("batchUsageEventRequest", err)
	}
	if len(body.Request) == 0 || len(body.Request) > maxBatch {
		return nil, nil, &market.Error{Kind: market.KindInvalid, Code: market.CodeBadArgument, Target: "request",
			Message: fmt.Sprintf("A batch holds 1 to %d usage events; got %d.", maxBatch, len(body.Request))}
	}
	ins := make([]market.UsageInput, len(body.Request))
	items := make([]usageItem, len(body.Request))
	for i, raw := range body.Request {
		if err := json.Unmarshal(raw, &items[i]); err != nil {
			items[i] = usageItem{} // not an object: every field missing, a BadArgument item
		}
		ins[i] = items[i].input()
	}
	return ins, items, nil
}
