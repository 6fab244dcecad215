// Package webhook tells the vendor's product what happened to its tenants'
// billing (issue 12): an event is recorded in the transaction of the change
// it reports, with the next sequence number of its organization, and
// delivered to the vendor's endpoints as Standard Webhooks
// (https://www.standardwebhooks.com), signed with HMAC-SHA256.
//
// Recording and delivery are apart on purpose: the domain packages record
// through the Recorder, inside their own transactions, and know nothing of
// endpoints, retries or HTTP.
//
// Delivery (endpoints.go, deliver.go): the Deliverer fans each new event
// out to the enabled endpoints made before it that take its type (one
// delivery per event and endpoint), then sends what is due, claiming each
// delivery with a lease so that several processes on one database send it
// once between them; the request goes out outside any transaction. Every
// attempt is logged; failures back off with full jitter (schedule) for
// RetryFor; an endpoint failing for DisableAfter is disabled and the
// operators mailed. Deliveries leave through NewClient's client, which
// refuses private and loopback addresses at each connection (guard.go).
package webhook
