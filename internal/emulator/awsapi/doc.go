// Package awsapi serves the three Marketplace services in the protocols AWS
// offers for them: AWS JSON 1.1 (metering, entitlement) and 1.0 (agreement)
// on POST / dispatched on X-Amz-Target (the CLI, older SDKs, the metering
// client), and Smithy RPC v2 CBOR on
// POST /service/{service}/operation/{operation} (the Go SDK's entitlement
// client since v1.37.0, its agreement client). The operations are
// AWSMPMeteringService.ResolveCustomer and .BatchMeterUsage,
// AWSMPEntitlementService.GetEntitlements, and
// AWSMPCommerceService_v20200301.DescribeAgreement, .GetAgreementTerms and
// .SearchAgreements (#13).
//
// Each request is checked in AWS's order: SigV4 signature, injected faults,
// throttle, JSON shape, then the operation's own rules in the market package.
// Errors go out as AWS sends them, {"__type":"Name","message":"..."} (a CBOR
// map in RPC v2) with 400, or 500 for InternalServiceErrorException; the
// Agreement Service's errors use its model's statuses (403, 404, 429, 500)
// and members (requestId, reason, fields, resourceId). Every response
// carries an x-amzn-RequestId header.
package awsapi
