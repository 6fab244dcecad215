// Package azurespec checks HTTP exchanges with Microsoft's commercial
// marketplace APIs (SaaS Fulfillment v2 and Metering, api-version
// 2018-08-31) against the OpenAPI documents Microsoft publishes in
// microsoft/commercial-marketplace-openapi, so that the emulator and the
// seller are held to Microsoft's text rather than to our reading of it (#15).
//
// # The documents
//
// They are not part of this repository. LoadDir reads them from a directory
// laid out like Microsoft's repository (SaaSDocument, MeteringDocument);
// Locate finds one through DirEnv or at SharedDir beside the checkout. The
// tests were written against commit 49068a8 (2025-06-16), whose documents
// are OpenAPI 3.0.2 (not Swagger 2.0), 13 operations in all:
//
//	saasapi.v2.json      43169 bytes  sha256 8a50259e1be653608d51002059de80ba072a7e45daaf969c349ced934931e019
//	meteringapi.v1.json  20907 bytes  sha256 1c431b39d9a975bb86109dab27f3f717f3c0434320541c88dcfa041dd14cc047
//
// The tests that need them are skipped without them, except in CI, where they
// fail.
//
// # What is checked
//
// Requests: that the documents declare the path and method; path, query and
// header parameters (api-version's one value, GUIDs, date-times, required
// x-ms-marketplace-token and usageStartDate); the body against its schema,
// with a JSON content type; that a bearer token is sent. Responses: that the
// status is declared for the operation; declared headers (Operation-Location
// an absolute URI); the body against the schema declared for that status.
// Fields the schemas do not name pass, as the schemas allow.
//
// # Tolerances
//
// Where the checker departs from a literal reading, each with its reason
// beside the code:
//   - The OAuth2 flow without "scopes" is given an empty set, so that the
//     documents load (tolerateScopelessOAuthFlows).
//   - Only the presence of "Authorization: Bearer ..." is checked, not the
//     token (bearerPresent).
//   - GET /saas/subscriptions reaches the operation declared at
//     /saas/subscriptions/ (Checker.route).
//   - A uuid is any 8-4-4-4-12 hexadecimal GUID, whatever its version bits
//     (stringFormats).
//   - A body sent to Resolve, which declares none, passes (options).
//   - Error statuses declared without content accept any body, as declared
//     (CheckResponse).
//
// Not tolerated, though Microsoft's own material shows them: zone-less
// date-times and bare dates, quantities as strings, padded status values,
// a bare array for the outstanding operations, actions beyond the declared
// six (Transfer), and statuses the documents do not declare, 401 and 429
// among them. A test that provokes these on purpose (throttling, faults)
// can tell them apart in its report function through *Mismatch.
package azurespec
