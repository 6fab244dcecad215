// Package pubsub is the Google Cloud Marketplace emulator's Pub/Sub push
// subscription: it takes the procurement events the market publishes (the
// §3.2 JSON payloads of the GCP contract) and POSTs them to the seller's
// push endpoint in the wrapped format of §3.4, with the OIDC bearer token
// Pub/Sub puts on push requests.
//
// Delivery follows §3.3: at least once, acked by 102, 200, 201, 202 or 204,
// anything else or a missed ack deadline is a nack and the message comes back
// with exponential backoff under the same messageId. Messages go out one at a
// time in publish order, but a message waiting for its retry does not hold
// back the ones behind it (Marketplace uses no ordering key). With a maximum
// of attempts configured the subscription has a dead-letter policy: envelopes
// carry deliveryAttempt, and a message that used up its attempts stops being
// delivered and stays visible in the delivery log. Unacked messages older
// than the retention expire.
//
// Faults make the seller's duplicate and ordering handling testable:
// deliver every message twice, hold a message back until the one after it
// was delivered, or pause delivery.
//
// The package owns no storage: the market is the Source of pending events
// and learns through Source.Delivered when the subscription is done with
// one. The delivery log is kept in memory.
package pubsub
