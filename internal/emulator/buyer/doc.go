// Package buyer serves the buyer's side of the AWS Marketplace console:
// search, listings, purchase options, subscribe, "Set up your account", the
// subscriptions list with cancel, and the private offer inbox with "Review
// offer" and accept. Pages are server-rendered html/template, embedded, and
// work without JavaScript; the only script submits the "Set up your account"
// form by itself, which also has a visible button.
package buyer
