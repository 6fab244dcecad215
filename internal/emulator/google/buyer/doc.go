// Package buyer serves the buyer's side of the Google Cloud Marketplace
// emulator, as the Google Cloud console shows it (contract §1.1): sign in
// as a buyer with a Cloud Billing account, find a product, pick a plan or
// one of the billing account's private offers, accept the terms and
// Subscribe; then "Register with <company>" (older wording "Sign up with
// <company>"), which posts the browser to the vendor's Sign up URL with a
// fresh x-gcp-marketplace-token (§1.2, §1.3). "Your orders" lists the
// billing account's entitlements with their state in words, and lets the
// buyer request a plan change, cancel (the order runs to its term end),
// revert a cancellation, and "Manage on <company>" (§1.5).
//
// Pages are server-rendered html/template, embedded, with no external
// assets; the only script submits the hand-off form by itself, which also
// has a visible button. Every state change is a POST that carries a CSRF
// token bound to the browser's cookie, behind http.CrossOriginProtection.
// The emulator has no real identity: "signing in" is a cookie.
//
// The market's state is not here: the pages call the Market interface this
// package declares, which the house adapts to package market (#16).
package buyer
