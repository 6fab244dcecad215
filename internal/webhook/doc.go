// Package webhook tells the vendor's product what happened to its tenants'
// billing (issue 12): an event is recorded in the transaction of the change
// it reports, with the next sequence number of its organization, and
// delivered to the vendor's endpoints as Standard Webhooks
// (https://www.standardwebhooks.com), signed with HMAC-SHA256.
//
// Recording and delivery are apart on purpose: the domain packages record
// through the Recorder, inside their own transactions, and know nothing of
// endpoints, retries or HTTP.
package webhook
