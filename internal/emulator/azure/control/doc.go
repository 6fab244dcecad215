// Package control is the Microsoft marketplace emulator's control API under
// /emulator/v1/ (JSON, snake_case): publishers, offers with plans,
// dimensions and private audiences, the buyer's actions (purchase with the
// landing URL, "Manage account" tokens, plan and seat changes, cancel,
// suspend, reinstate, renew, auto-renew), the clock, faults, throttling and
// other settings, the ledger of accepted usage, per-subscription invoices
// and the webhook outbox. It is for tests, demos and the buyer pages'
// operators; Microsoft has no such API (#15).
package control
