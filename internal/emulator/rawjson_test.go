package emulator_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// postJSON sends one AWS JSON 1.1 call as the AWS CLI does, signed with the
// SDK's SigV4 signer, and decodes the answer.
func (e *env) postJSON(target string, body any) (int, map[string]any, http.Header) {
	return e.postJSONVersion("1.1", target, body)
}

// postJSONVersion is postJSON in AWS JSON 1.0 or 1.1.
func (e *env) postJSONVersion(version, target string, body any) (int, map[string]any, http.Header) {
	e.t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, e.url+"/", bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/x-amz-json-"+version)
	req.Header.Set("X-Amz-Target", target)
	sum := sha256.Sum256(b)
	err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: "test", SecretAccessKey: "test"}, req,
		hex.EncodeToString(sum[:]), "aws-marketplace", "us-east-1", time.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		e.t.Fatalf("response %q: %v", raw, err)
	}
	return resp.StatusCode, out, resp.Header
}

func TestAWSJSON_WireShapes(t *testing.T) {
	e := newEnv(t)
	c := e.catalog()
	a := e.subscribe(c.buyer.ID, c.contract.Code, map[string]int64{"committed": 5})
	must(e.m.AdvanceClock(context.Background(), 2*time.Hour))
	ts := float64(e.m.Now().Add(-30*time.Minute).UnixMilli()) / 1000

	t.Run("fractional epoch seconds are accepted and echoed", func(t *testing.T) {
		status, out, hdr := e.postJSON("AWSMPMeteringService.BatchMeterUsage", map[string]any{
			"ProductCode":  c.contract.Code,
			"UsageRecords": []any{map[string]any{"Timestamp": ts, "CustomerAWSAccountId": c.buyer.ID, "CustomerIdentifier": "", "Dimension": "overage", "Quantity": 3}},
		})
		results, _ := out["Results"].([]any)
		if status != 200 || len(results) != 1 || hdr.Get("x-amzn-RequestId") == "" {
			t.Fatalf("status %d, body %v", status, out)
		}
		r := results[0].(map[string]any)
		if r["Status"] != "Success" || r["UsageRecord"].(map[string]any)["Timestamp"] != ts {
			t.Fatalf("result = %v", r)
		}
	})
	t.Run("errors carry __type and a lowercase message", func(t *testing.T) {
		status, out, hdr := e.postJSON("AWSMPMeteringService.ResolveCustomer", map[string]any{"RegistrationToken": "nope"})
		if status != 400 || out["__type"] != "InvalidTokenException" || out["message"] == nil || hdr.Get("x-amzn-RequestId") == "" {
			t.Fatalf("status %d, body %v", status, out)
		}
	})
	t.Run("GetEntitlements over JSON has epoch ExpirationDate and IntegerValue", func(t *testing.T) {
		status, out, _ := e.postJSON("AWSMPEntitlementService.GetEntitlements", map[string]any{"ProductCode": c.contract.Code})
		ents, _ := out["Entitlements"].([]any)
		if status != 200 || len(ents) != 1 {
			t.Fatalf("status %d, body %v", status, out)
		}
		en := ents[0].(map[string]any)
		if en["ExpirationDate"] != float64(a.EndAt.Unix()) || en["Value"].(map[string]any)["IntegerValue"] != float64(5) || en["LicenseArn"] != a.LicenseArn {
			t.Fatalf("entitlement = %v", en)
		}
	})
	// #13: an empty message made the JavaScript SDK report "UnknownError".
	for _, target := range []string{"AWSMPMeteringService.Nope", "AWSMPCommerceService_v20200301.CancelAgreement"} {
		t.Run("unknown target "+target+" is UnknownOperationException with AWS's message", func(t *testing.T) {
			status, out, _ := e.postJSON(target, map[string]any{})
			if status != 400 || out["__type"] != "com.amazon.coral.service#UnknownOperationException" ||
				out["message"] != "The requested operation is not recognized by the service." {
				t.Fatalf("status %d, body %v", status, out)
			}
		})
	}
	t.Run("the Agreement Service answers AWS JSON 1.0 with epoch seconds (#13)", func(t *testing.T) {
		status, out, hdr := e.postJSONVersion("1.0", "AWSMPCommerceService_v20200301.DescribeAgreement", map[string]any{"agreementId": a.ID})
		if status != 200 || hdr.Get("Content-Type") != "application/x-amz-json-1.0" || out["agreementId"] != a.ID ||
			out["endTime"] != float64(a.EndAt.Unix()) || out["status"] != "ACTIVE" {
			t.Fatalf("status %d, %s, body %v", status, hdr.Get("Content-Type"), out)
		}
		status, out, _ = e.postJSONVersion("1.0", "AWSMPCommerceService_v20200301.DescribeAgreement", map[string]any{"agreementId": "agmt-none"})
		if status != 404 || out["__type"] != "ResourceNotFoundException" || out["resourceId"] != "agmt-none" || out["requestId"] == nil {
			t.Fatalf("status %d, body %v", status, out)
		}
	})
	t.Run("malformed JSON is SerializationException", func(t *testing.T) {
		status, out, _ := e.postJSON("AWSMPMeteringService.ResolveCustomer", json.RawMessage(`"just a string"`))
		if status != 400 || out["__type"] != "SerializationException" {
			t.Fatalf("status %d, body %v", status, fmt.Sprint(out))
		}
	})
}
