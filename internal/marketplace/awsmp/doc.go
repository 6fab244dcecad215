// Package awsmp is marketbridge's side of AWS Marketplace, spoken only
// through the official AWS SDK for Go v2: resolving registration tokens
// (ResolveCustomer) and reading contract entitlements (GetEntitlements).
// Pointed at AWS or at the bundled emulator by configuration alone: the
// SDK's standard environment (AWS_REGION, credentials,
// AWS_ENDPOINT_URL_MARKETPLACE_METERING, ...) or BaseEndpoint options.
package awsmp
