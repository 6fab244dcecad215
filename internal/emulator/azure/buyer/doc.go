// Package buyer serves the buyer's side of the Microsoft commercial
// marketplace emulator, as the Azure portal and AppSource show it: sign in
// as a buyer tenant, find an offer, choose a plan (flat rate with metered
// dimensions, per user, private), a term, seats and a free trial, Subscribe,
// then "Configure account now", which sends the browser to the publisher's
// landing page with ?token= (contract §1.1). The buyer's SaaS subscriptions
// page has Manage account (a fresh token), change plan, change quantity,
// cancel and auto-renew, and an emulator-only "Billing events" panel
// (suspend for non-payment, reinstate, renew now).
//
// Pages are server-rendered html/template, embedded, and need no
// JavaScript. Every state change is a POST that http.CrossOriginProtection
// guards. A buyer sees and changes only the subscriptions of their own
// tenant; the emulator has no real identity, so "signing in" is a cookie.
//
// It drives the emulator through package market's buyer operations and
// imports nothing of the seller side nor of the AWS emulator (#15).
package buyer
