// Package deliver sends the emulator's outbox over HTTP: signed SNS envelopes
// to subscribed endpoints and EventBridge events to the API destination. A
// delivery succeeds on any 2xx answer; anything else is retried with
// exponential backoff by the outbox, up to its attempt limit, as SNS's
// HTTP/S delivery policy does.
package deliver
