package sns

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Message types, as sent in the Type field and the x-amz-sns-message-type header.
const (
	TypeNotification             = "Notification"
	TypeSubscriptionConfirmation = "SubscriptionConfirmation"
	TypeUnsubscribeConfirmation  = "UnsubscribeConfirmation"
)

// Signature versions SNS supports.
const (
	SignatureV1 = "1" // SHA1withRSA, the topic default
	SignatureV2 = "2" // SHA256withRSA
)

// Envelope is the JSON body SNS posts to an HTTP/S endpoint. The field order
// follows what SNS sends; empty optional fields are left out.
type Envelope struct {
	Type             string `json:"Type"`
	MessageID        string `json:"MessageId"`
	Token            string `json:"Token,omitempty"`
	TopicArn         string `json:"TopicArn"`
	Subject          string `json:"Subject,omitempty"`
	Message          string `json:"Message"`
	SubscribeURL     string `json:"SubscribeURL,omitempty"`
	Timestamp        string `json:"Timestamp"`
	SignatureVersion string `json:"SignatureVersion"`
	Signature        string `json:"Signature"`
	SigningCertURL   string `json:"SigningCertURL"`
	UnsubscribeURL   string `json:"UnsubscribeURL,omitempty"`
}

// CanonicalString is the text SNS signs: for each field of the message type,
// in the published order, "Name\nValue\n". Subject only counts when present.
func CanonicalString(e *Envelope) (string, error) {
	var fields []string
	switch e.Type {
	case TypeNotification:
		fields = []string{"Message", e.Message, "MessageId", e.MessageID}
		if e.Subject != "" {
			fields = append(fields, "Subject", e.Subject)
		}
		fields = append(fields, "Timestamp", e.Timestamp, "TopicArn", e.TopicArn, "Type", e.Type)
	case TypeSubscriptionConfirmation, TypeUnsubscribeConfirmation:
		fields = []string{"Message", e.Message, "MessageId", e.MessageID, "SubscribeURL", e.SubscribeURL,
			"Timestamp", e.Timestamp, "Token", e.Token, "TopicArn", e.TopicArn, "Type", e.Type}
	default:
		return "", fmt.Errorf("canonical string: unknown message type %q", e.Type)
	}
	var b bytes.Buffer
	for i := 0; i < len(fields); i += 2 {
		b.WriteString(fields[i])
		b.WriteByte('\n')
		b.WriteString(fields[i+1])
		b.WriteByte('\n')
	}
	return b.String(), nil
}

// Marshal encodes the envelope as SNS does, without escaping <, > and & so
// the Message reads as sent.
func Marshal(e *Envelope) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(e); err != nil {
		return nil, fmt.Errorf("marshal sns envelope: %w", err)
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}
