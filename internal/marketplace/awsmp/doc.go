// Package awsmp is marketbridge's side of AWS Marketplace, spoken only
// through the official AWS SDK for Go v2: resolving registration tokens
// (ResolveCustomer) and reading contract entitlements (GetEntitlements).
// Pointed at AWS or at the bundled emulator by configuration alone: the
// SDK's standard environment (AWS_REGION, credentials,
// AWS_ENDPOINT_URL_MARKETPLACE_METERING, ...) or BaseEndpoint options.
//
// It also reads what AWS Marketplace sends: SNS messages, whose signature
// it verifies, and EventBridge events. Both are believed only from where
// AWS Marketplace sends them (Origins: its topic account, us-east-1), and
// only as AWS Marketplace could have written them (#11).
package awsmp
