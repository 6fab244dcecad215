// Package awsapi serves the AWS JSON 1.1 protocol of the two Marketplace
// services on POST /, dispatched on X-Amz-Target:
// AWSMPMeteringService.ResolveCustomer and .BatchMeterUsage, and
// AWSMPEntitlementService.GetEntitlements.
//
// Each request is checked in AWS's order: SigV4 signature, injected faults,
// throttle, JSON shape, then the operation's own rules in the market package.
// Errors go out as AWS sends them: {"__type":"Name","message":"..."} with 400,
// or 500 for InternalServiceErrorException, and every response carries an
// x-amzn-RequestId header.
package awsapi
