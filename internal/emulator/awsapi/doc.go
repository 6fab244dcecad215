// Package awsapi serves the two Marketplace services in both protocols AWS
// offers for them: AWS JSON 1.1 on POST / dispatched on X-Amz-Target (the CLI,
// older SDKs, the metering client), and Smithy RPC v2 CBOR on
// POST /service/{service}/operation/{operation} (the Go SDK's entitlement
// client since v1.37.0). The operations are
// AWSMPMeteringService.ResolveCustomer and .BatchMeterUsage, and
// AWSMPEntitlementService.GetEntitlements.
//
// Each request is checked in AWS's order: SigV4 signature, injected faults,
// throttle, JSON shape, then the operation's own rules in the market package.
// Errors go out as AWS sends them, {"__type":"Name","message":"..."} (a CBOR
// map in RPC v2) with 400, or 500 for InternalServiceErrorException, and every
// response carries an x-amzn-RequestId header.
package awsapi
