package azurespec

import (
	"errors"
	"net/http"
	"strings"
	"testing"
)

// loadChecker loads Microsoft's documents from where Locate finds them.
// They are Microsoft's, fetched, and not ours to commit: a test without
// them says so and is skipped (in CI too, until the steering repository's
// shared/ folder carries a copy; see the package documentation).
func loadChecker(t testing.TB) *Checker {
	t.Helper()
	dir, err := Locate()
	if err != nil {
		t.Skipf("Microsoft's OpenAPI documents are absent, nothing to check against: %v", err)
	}
	c, err := LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

const (
	base  = "http://127.0.0.1:9/azure/api"
	sid   = "37f9dea2-4345-438f-b0bd-03d40d28c7e0"
	opID  = "529f53b4-3e7a-4a0b-9d2a-3f0e3c1b7b11"
	guid  = "f1b0b9d4-4b0a-4d5e-8c7a-1f2e3d4c5b6a"
	query = "?api-version=2018-08-31"
)

// newRequest builds a request as the seller sends it: bearer token, and a
// JSON content type when there is a body. A target that is not a whole URL
// is under base.
func newRequest(t testing.TB, method, target, body string) *http.Request {
	t.Helper()
	if !strings.HasPrefix(target, "http:") {
		target = base + target
	}
	r, err := http.NewRequest(method, target, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Authorization", "Bearer token")
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	return r
}

// subscription is the subscription object of the contract document (§3.2),
// with the placeholders filled in.
const subscription = `{"id":"` + sid + `","publisherId":"contoso","offerId":"offer1","name":"Contoso Cloud Solution",
 "saasSubscriptionStatus":"Subscribed",
 "beneficiary":{"emailId":"test@contoso.com","objectId":"` + guid + `","tenantId":"` + guid + `","puid":"1234567890"},
 "purchaser":{"emailId":"test@contoso.com","objectId":"` + guid + `","tenantId":"` + guid + `"},
 "planId":"silver","quantity":20,
 "term":{"termUnit":"P1M","startDate":"2022-03-04T00:00:00Z","endDate":"2022-04-03T00:00:00Z","chargeDuration":"P1M"},
 "autoRenew":true,"isTest":false,"isFreeTrial":false,"allowedCustomerOperations":["Read","Update","Delete"],
 "sandboxType":"None","created":"2021-12-04T19:48:06.7054737Z","sessionMode":"None"}`

const usageEvent = `{"resourceId":"` + sid + `","quantity":5.0,"dimension":"dim1","effectiveStartTime":"2018-12-01T08:30:14Z","planId":"plan1"}`

const acceptedEvent = `{"usageEventId":"` + guid + `","status":"Accepted","messageTime":"2020-01-12T13:19:35.3458658Z",
 "resourceId":"` + sid + `","quantity":5.0,"dimension":"dim1","effectiveStartTime":"2018-12-01T08:30:14Z","planId":"plan1"}`

func TestCheckRequest(t *testing.T) {
	c := loadChecker(t)
	tests := []struct {
		name                 string
		method, target, body string
		edit                 func(*http.Request)
		want                 string // part of the error; "" when the request conforms
	}{
		// The calls of the contract document (§3, §5), as the seller makes them.
		{name: "resolve", method: "POST", target: "/saas/subscriptions/resolve" + query,
			edit: func(r *http.Request) { r.Header.Set("x-ms-marketplace-token", "opaque+token/==") }},
		{name: "resolve with an empty JSON body", method: "POST", target: "/saas/subscriptions/resolve" + query, body: `{}`,
			edit: func(r *http.Request) { r.Header.Set("x-ms-marketplace-token", "t") }},
		{name: "resolve with tracing ids", method: "POST", target: "/saas/subscriptions/resolve" + query,
			edit: func(r *http.Request) {
				r.Header.Set("x-ms-marketplace-token", "t")
				r.Header.Set("x-ms-requestid", guid)
				r.Header.Set("x-ms-correlationid", strings.ToUpper(guid))
			}},
		{name: "activate", method: "POST", target: "/saas/subscriptions/" + sid + "/activate" + query, body: `{"planId":"gold","quantity":3}`},
		{name: "list without the trailing slash", method: "GET", target: "/saas/subscriptions" + query},
		{name: "list as @nextLink has it", method: "GET", target: "/saas/subscriptions/?continuationToken=abc&api-version=2018-08-31"},
		{name: "get", method: "GET", target: "/saas/subscriptions/" + sid + query},
		{name: "list available plans", method: "GET", target: "/saas/subscriptions/" + sid + "/listAvailablePlans" + query + "&planId=gold"},
		{name: "change plan", method: "PATCH", target: "/saas/subscriptions/" + sid + query, body: `{"planId":"gold"}`},
		{name: "change quantity", method: "PATCH", target: "/saas/subscriptions/" + sid + query, body: `{"quantity":5}`},
		{name: "cancel", method: "DELETE", target: "/saas/subscriptions/" + sid + query},
		{name: "list operations", method: "GET", target: "/saas/subscriptions/" + sid + "/operations" + query},
		{name: "get operation", method: "GET", target: "/saas/subscriptions/" + sid + "/operations/" + opID + query},
		{name: "acknowledge operation", method: "PATCH", target: "/saas/subscriptions/" + sid + "/operations/" + opID + query, body: `{"status":"Success"}`},
		{name: "usage event", method: "POST", target: "/usageEvent" + query, body: usageEvent},
		{name: "fractional usage", method: "POST", target: "/usageEvent" + query,
			body: strings.Replace(usageEvent, `"quantity":5.0`, `"quantity":0.25`, 1)},
		{name: "batch usage event", method: "POST", target: "/batchUsageEvent" + query, body: `{"request":[` + usageEvent + `,` + usageEvent + `]}`},
		{name: "usage events", method: "GET", target: "/usageEvents" + query + "&usageStartDate=2020-12-03T15:00:00Z&UsageEndDate=2020-12-04T00:00:00Z&reconStatus=Accepted&azureSubscriptionId=" + guid},
		{name: "not for these APIs", method: "GET", target: "http://127.0.0.1:9/emulator/v1/clock"},
		{name: "a path with apis but no /api segment", method: "GET", target: "http://127.0.0.1:9/apis/x"},

		// What the documents refuse.
		{name: "no api-version", method: "GET", target: "/saas/subscriptions/" + sid,
			want: `query parameter "api-version": value is required`},
		{name: "another api-version", method: "GET", target: "/saas/subscriptions/" + sid + "?api-version=2022-01-01",
			want: `query parameter "api-version": at /: value is not one of the allowed values ["2018-08-31"]`},
		{name: "no bearer token", method: "GET", target: "/saas/subscriptions/" + sid + query,
			edit: func(r *http.Request) { r.Header.Del("Authorization") }, want: `no "Authorization: Bearer <token>" header`},
		{name: "basic instead of bearer", method: "GET", target: "/saas/subscriptions/" + sid + query,
			edit: func(r *http.Request) { r.Header.Set("Authorization", "Basic dXNlcjpwYXNz") }, want: `Bearer`},
		{name: "resolve without the marketplace token", method: "POST", target: "/saas/subscriptions/resolve" + query,
			want: `header parameter "x-ms-marketplace-token": value is required`},
		{name: "subscription id not a GUID", method: "GET", target: "/saas/subscriptions/sub-1" + query,
			want: `path parameter "subscriptionId"`},
		{name: "request id not a GUID", method: "GET", target: "/saas/subscriptions/" + sid + query,
			edit: func(r *http.Request) { r.Header.Set("x-ms-requestid", "req-1") }, want: `header parameter "x-ms-requestid"`},
		{name: "activate with the quantity as a string (the 2022 doc's form)", method: "POST",
			target: "/saas/subscriptions/" + sid + "/activate" + query, body: `{"planId":"gold","quantity":"3"}`,
			want: `body: doesn't match schema #/components/schemas/SubscriberPlan: at /quantity: value must be an integer (value "3")`},
		{name: "activate without a body", method: "POST", target: "/saas/subscriptions/" + sid + "/activate" + query,
			want: `body: value is required`},
		{name: "activate without a content type", method: "POST", target: "/saas/subscriptions/" + sid + "/activate" + query,
			body: `{"planId":"gold"}`, edit: func(r *http.Request) { r.Header.Del("Content-Type") }, want: `Content-Type`},
		{name: "usage quantity as a string", method: "POST", target: "/usageEvent" + query,
			body: strings.Replace(usageEvent, `5.0`, `"5"`, 1), want: `body: doesn't match schema #/components/schemas/UsageEvent: at /quantity: value must be a number (value "5")`},
		{name: "usage time without a zone (the contract's example)", method: "POST", target: "/usageEvent" + query,
			body: strings.Replace(usageEvent, `08:30:14Z`, `08:30:14`, 1), want: `at /effectiveStartTime`},
		{name: "usage resource not a GUID", method: "POST", target: "/usageEvent" + query,
			body: strings.Replace(usageEvent, sid, "sub-1", 1), want: `at /resourceId`},
		{name: "empty batch", method: "POST", target: "/batchUsageEvent" + query, body: `{"request":[]}`,
			want: `at /request: minimum number of items is 1`},
		{name: "batch of 26", method: "POST", target: "/batchUsageEvent" + query,
			body: `{"request":[` + strings.Repeat(usageEvent+",", 25) + usageEvent + `]}`, want: `at /request: maximum number of items is 25`},
		{name: "acknowledge with an unknown status", method: "PATCH", target: "/saas/subscriptions/" + sid + "/operations/" + opID + query,
			body: `{"status":"blah"}`, want: `at /status: value is not one of the allowed values`},
		{name: "usage events without a start", method: "GET", target: "/usageEvents" + query,
			want: `query parameter "usageStartDate": value is required`},
		{name: "usage events from a bare date", method: "GET", target: "/usageEvents" + query + "&usageStartDate=2020-12-03",
			want: `query parameter "usageStartDate"`},
		{name: "unknown path", method: "GET", target: "/saas/offers" + query,
			want: `GET /saas/offers (no operation): route: the documents declare no such path`},
		{name: "undeclared method", method: "PUT", target: "/saas/subscriptions/" + sid + query, body: `{}`,
			want: `route: the documents declare this path for GET, PATCH, DELETE, not for PUT`},
		{name: "bare /api", method: "GET", target: "" + query, want: `route`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRequest(t, tt.method, tt.target, tt.body)
			if tt.edit != nil {
				tt.edit(r)
			}
			err := c.CheckRequest(r, []byte(tt.body))
			checkErr(t, err, tt.want)
		})
	}
}

func TestCheckResponse(t *testing.T) {
	c := loadChecker(t)
	tests := []struct {
		name           string
		method, target string
		status         int
		header         http.Header
		body           string
		want           string
	}{
		// The answers of the contract document (§3, §5), placeholders filled in.
		{name: "resolved", method: "POST", target: "/saas/subscriptions/resolve", status: 200,
			body: `{"id":"` + sid + `","subscriptionName":"Contoso Cloud Solution","offerId":"offer1","planId":"silver","quantity":20,"subscription":` + subscription + `}`},
		{name: "resolved flat rate", method: "POST", target: "/saas/subscriptions/resolve", status: 200,
			body: `{"id":"` + sid + `","subscriptionName":"x","offerId":"offer1","planId":"silver","subscription":{"id":"` + sid + `"}}`},
		{name: "resolve refused, any error body", method: "POST", target: "/saas/subscriptions/resolve", status: 400,
			body: `{"code":"HeaderNotPresent","message":"Mandatory header missing","target":"x-ms-marketplace-token"}`},
		{name: "subscription", method: "GET", target: "/saas/subscriptions/" + sid, status: 200, body: subscription},
		{name: "subscription with fields the documents lack", method: "GET", target: "/saas/subscriptions/" + sid, status: 200,
			body: strings.Replace(subscription, `"sessionMode":"None"`, `"sessionMode":"None","lastModified":"2022-03-04T00:00:00Z"`, 1)},
		{name: "subscriptions page", method: "GET", target: "/saas/subscriptions", status: 200,
			body: `{"subscriptions":[` + subscription + `],"@nextLink":"http://127.0.0.1:9/azure/api/saas/subscriptions/?continuationToken=x&api-version=2018-08-31"}`},
		{name: "last subscriptions page", method: "GET", target: "/saas/subscriptions/", status: 200, body: `{"subscriptions":[]}`},
		{name: "plans", method: "GET", target: "/saas/subscriptions/" + sid + "/listAvailablePlans", status: 200,
			body: `{"plans":[{"planId":"gold","displayName":"Gold plan","isPrivate":false,"description":"…",
			 "minQuantity":1,"maxQuantity":5,"hasFreeTrials":false,"isPricePerSeat":true,"isStopSell":false,"market":"US",
			 "planComponents":{"recurrentBillingTerms":[{"currency":"USD","price":100.0,"termUnit":"P1M","termDescription":"…",
			   "meteredQuantityIncluded":[{"dimensionId":"emails","units":"1000"}]}],
			  "meteringDimensions":[{"id":"emails","currency":"USD","pricePerUnit":0.01,"unitOfMeasure":"per email","displayName":"Emails"}]},
			 "sourceOffers":[{"externalId":"` + guid + `"}]}]}`},
		{name: "activated, no body", method: "POST", target: "/saas/subscriptions/" + sid + "/activate", status: 200},
		{name: "change accepted", method: "PATCH", target: "/saas/subscriptions/" + sid, status: 202,
			header: http.Header{"Operation-Location": {"http://127.0.0.1:9/azure/api/saas/subscriptions/" + sid + "/operations/" + opID + query}}},
		{name: "cancel accepted", method: "DELETE", target: "/saas/subscriptions/" + sid, status: 202,
			header: http.Header{"Operation-Location": {"https://marketplaceapi.microsoft.com/api/saas/subscriptions/" + sid + "/operations/" + opID + query}}},
		{name: "operations", method: "GET", target: "/saas/subscriptions/" + sid + "/operations", status: 200,
			body: `{"operations":[{"id":"` + opID + `","activityId":"` + guid + `","subscriptionId":"` + sid + `","offerId":"offer1",
			 "publisherId":"contoso","planId":"silver","quantity":20,"action":"ChangePlan","timeStamp":"2018-12-01T00:00:00Z",
			 "status":"InProgress","errorStatusCode":"","errorMessage":"","operationRequestSource":"Azure"}]}`},
		{name: "no operations", method: "GET", target: "/saas/subscriptions/" + sid + "/operations", status: 200, body: `{}`},
		{name: "acknowledged", method: "PATCH", target: "/saas/subscriptions/" + sid + "/operations/" + opID, status: 200},
		{name: "acknowledge conflicts", method: "PATCH", target: "/saas/subscriptions/" + sid + "/operations/" + opID, status: 409,
			body: `{"code":"Conflict","message":"a newer update is already fulfilled"}`},
		{name: "usage accepted", method: "POST", target: "/usageEvent", status: 200, body: acceptedEvent},
		{name: "usage refused", method: "POST", target: "/usageEvent", status: 400,
			body: `{"message":"One or more errors have occurred.","target":"usageEventRequest",
			 "details":[{"message":"The resourceId is required.","target":"ResourceId","code":"BadArgument"}],"code":"BadArgument"}`},
		{name: "usage forbidden", method: "POST", target: "/usageEvent", status: 403,
			body: `{"message":"Client is not authorized for this usage resource.","code":"Forbidden"}`},
		{name: "usage duplicate", method: "POST", target: "/usageEvent", status: 409,
			body: `{"additionalInfo":{"acceptedMessage":` + strings.Replace(acceptedEvent, "Accepted", "Duplicate", 1) + `},
			 "message":"This usage event already exist.","code":"Conflict"}`},
		{name: "batch results", method: "POST", target: "/batchUsageEvent", status: 200,
			body: `{"count":2,"result":[` + acceptedEvent + `,
			 {"status":"Duplicate","messageTime":"2020-01-12T13:19:35Z",
			  "error":{"additionalInfo":{"acceptedMessage":` + acceptedEvent + `},"message":"This usage event already exist.","code":"Conflict"},
			  "resourceId":"` + sid + `","quantity":1.0,"dimension":"email","effectiveStartTime":"2020-01-12T11:03:28.14Z","planId":"gold"}]}`},
		{name: "usage events", method: "GET", target: "/usageEvents", status: 200,
			body: `[{"usageDate":"2020-11-30T00:00:00Z","usageResourceId":"` + sid + `","dimension":"tokens","planId":"silver",
			 "planName":"Silver","offerId":"mycooloffer","offerName":"My Cool Offer","offerType":"SaaS",
			 "azureSubscriptionId":"` + guid + `","reconStatus":"Accepted","submittedQuantity":17.0,"processedQuantity":17.0,"submittedCount":17}]`},

		// What the documents refuse.
		{name: "throttled", method: "POST", target: "/batchUsageEvent", status: 429,
			want: `response 429: status 429 is not declared (declared: 200, 400, 403)`},
		{name: "401 for a missing bearer (Microsoft's Node emulator)", method: "GET", target: "/saas/subscriptions/" + sid, status: 401,
			want: `status 401 is not declared`},
		{name: "quantity as a string", method: "GET", target: "/saas/subscriptions/" + sid, status: 200,
			body: strings.Replace(subscription, `"quantity":20`, `"quantity":"20"`, 1), want: `at /quantity: value must be an integer`},
		{name: "status padded with spaces", method: "GET", target: "/saas/subscriptions/" + sid, status: 200,
			body: strings.Replace(subscription, `"Subscribed"`, `" Subscribed "`, 1), want: `at /saasSubscriptionStatus: value is not one of the allowed values`},
		{name: "date without a zone", method: "GET", target: "/saas/subscriptions/" + sid, status: 200,
			body: strings.Replace(subscription, `"2022-03-04T00:00:00Z"`, `"0001-01-01T00:00:00"`, 1), want: `at /term/startDate`},
		{name: "operation list as a bare array (Microsoft's Node emulator)", method: "GET", target: "/saas/subscriptions/" + sid + "/operations", status: 200,
			body: `[]`, want: `value must be an object`},
		{name: "action the documents lack", method: "GET", target: "/saas/subscriptions/" + sid + "/operations/" + opID, status: 200,
			body: `{"id":"` + opID + `","action":"Transfer","status":"InProgress"}`, want: `at /action: value is not one of the allowed values`},
		{name: "relative Operation-Location", method: "PATCH", target: "/saas/subscriptions/" + sid, status: 202,
			header: http.Header{"Operation-Location": {"/saas/subscriptions/" + sid + "/operations/" + opID}}, want: `Operation-Location`},
		{name: "usage answer without a content type", method: "POST", target: "/usageEvent", status: 200, body: acceptedEvent,
			header: http.Header{"Content-Type": nil}, want: `Content-Type`},
		{name: "usage status the documents lack", method: "POST", target: "/usageEvent", status: 200,
			body: strings.Replace(acceptedEvent, `"Accepted"`, `"Rejected"`, 1), want: `at /status`},
		{name: "batch count as a string", method: "POST", target: "/batchUsageEvent", status: 200,
			body: `{"count":"0","result":[]}`, want: `at /count: value must be an integer`},
		{name: "activate answered 201", method: "POST", target: "/saas/subscriptions/" + sid + "/activate", status: 201,
			want: `status 201 is not declared (declared: 200, 400, 403, 404, 500)`},
		{name: "empty subscriptions page (the documentation's \"empty response body\")", method: "GET", target: "/saas/subscriptions", status: 200,
			header: http.Header{"Content-Type": {"application/json"}}, want: `response 200: failed to decode response body`},
		{name: "answer to an unknown path", method: "GET", target: "/saas/offers", status: 200, want: `route`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRequest(t, tt.method, tt.target+query, "")
			header := http.Header{}
			if tt.body != "" {
				header.Set("Content-Type", "application/json; charset=utf-8")
			}
			for k, v := range tt.header {
				header[k] = v
			}
			err := c.CheckResponse(r, tt.status, header, []byte(tt.body))
			checkErr(t, err, tt.want)
		})
	}
}

// checkErr wants err nil when want is empty, and otherwise a *Mismatch
// whose message holds want.
func checkErr(t *testing.T, err error, want string) {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Fatalf("want no error, got %v", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("want an error with %q, got none", want)
	}
	var m *Mismatch
	if !errors.As(err, &m) {
		t.Fatalf("want a *Mismatch, got %T: %v", err, err)
	}
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("want an error with %q, got %v", want, err)
	}
	t.Log(err)
}

func TestOperations(t *testing.T) {
	c := loadChecker(t)
	ops := c.Operations()
	// 10 Fulfillment operations and 3 Metering ones, as the documents at
	// commit 49068a8 have them.
	if len(ops) != 13 {
		t.Fatalf("want 13 operations, got %d: %q", len(ops), ops)
	}
	for _, want := range []string{
		"FulfillmentOperations_Resolve POST /saas/subscriptions/resolve",
		"MeteringOperations_PostBatchUsageEvent POST /batchUsageEvent",
	} {
		found := false
		for _, op := range ops {
			found = found || op == want
		}
		if !found {
			t.Errorf("want %q among %q", want, ops)
		}
	}
}
