package awsapi

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strconv"

	"github.com/aws/smithy-go/encoding/cbor"
)

// The Smithy RPC v2 CBOR protocol carries the same shapes as AWS JSON 1.1,
// so the handler translates at the edge and serves both from one code path.
// AWS SDK for Go v2 speaks it to the Entitlement Service since
// marketplaceentitlementservice v1.37.0; the CLI and older SDKs speak JSON.

// timestampMembers are the members whose shape is a timestamp: CBOR sends
// them as tag 1 (epoch seconds), JSON as a plain number. The metering and
// entitlement members are UpperCamel, the agreement ones lowerCamel, so the
// names cannot collide across services.
var timestampMembers = map[string]bool{
	"Timestamp": true, "ExpirationDate": true,
	"acceptanceTime": true, "startTime": true, "endTime": true, "lastUpdateTime": true,
	"agreementStartDate": true, "agreementEndDate": true, "chargeDate": true,
}

// cborToJSON turns a CBOR request body into the JSON the AWS JSON 1.1 path decodes.
func cborToJSON(body []byte) ([]byte, error) {
	if len(body) == 0 {
		return []byte("{}"), nil
	}
	v, err := cbor.Decode(body)
	if err != nil {
		return nil, fmt.Errorf("decode cbor: %w", err)
	}
	plain, err := fromCBOR(v)
	if err != nil {
		return nil, err
	}
	return json.Marshal(plain)
}

func fromCBOR(v cbor.Value) (any, error) {
	switch x := v.(type) {
	case cbor.Uint:
		return json.Number(strconv.FormatUint(uint64(x), 10)), nil
	case cbor.NegInt:
		if x == 0 || uint64(x) > math.MaxInt64 {
			return nil, fmt.Errorf("negative integer out of range")
		}
		return json.Number("-" + strconv.FormatUint(uint64(x), 10)), nil
	case cbor.Float32:
		return json.Number(strconv.FormatFloat(float64(x), 'f', -1, 32)), nil
	case cbor.Float64:
		return json.Number(strconv.FormatFloat(float64(x), 'f', -1, 64)), nil
	case cbor.String:
		return string(x), nil
	case cbor.Slice:
		return base64.StdEncoding.EncodeToString(x), nil
	case cbor.Bool:
		return bool(x), nil
	case *cbor.Nil, *cbor.Undefined:
		return nil, nil
	case cbor.List:
		out := make([]any, 0, len(x))
		for _, e := range x {
			pe, err := fromCBOR(e)
			if err != nil {
				return nil, err
			}
			out = append(out, pe)
		}
		return out, nil
	case cbor.Map:
		out := make(map[string]any, len(x))
		for k, e := range x {
			pe, err := fromCBOR(e)
			if err != nil {
				return nil, err
			}
			out[k] = pe
		}
		return out, nil
	case *cbor.Tag:
		if x.ID != 1 {
			return nil, fmt.Errorf("unsupported cbor tag %d", x.ID)
		}
		return fromCBOR(x.Value)
	}
	return nil, fmt.Errorf("unsupported cbor value %T", v)
}

// jsonToCBOR encodes a JSON response body as CBOR.
func jsonToCBOR(body []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var plain any
	if err := dec.Decode(&plain); err != nil {
		return nil, fmt.Errorf("re-read response: %w", err)
	}
	v, err := toCBOR(plain, false)
	if err != nil {
		return nil, err
	}
	return cbor.Encode(v), nil
}

func toCBOR(v any, timestamp bool) (cbor.Value, error) {
	switch x := v.(type) {
	case nil:
		return &cbor.Nil{}, nil
	case bool:
		return cbor.Bool(x), nil
	case string:
		return cbor.String(x), nil
	case json.Number:
		if timestamp {
			f, err := x.Float64()
			if err != nil {
				return nil, err
			}
			return &cbor.Tag{ID: 1, Value: cbor.Float64(f)}, nil
		}
		if i, err := x.Int64(); err == nil {
			if i < 0 {
				return cbor.NegInt(uint64(-i)), nil
			}
			return cbor.Uint(uint64(i)), nil
		}
		f, err := x.Float64()
		if err != nil {
			return nil, err
		}
		return cbor.Float64(f), nil
	case []any:
		out := make(cbor.List, 0, len(x))
		for _, e := range x {
			ce, err := toCBOR(e, false)
			if err != nil {
				return nil, err
			}
			out = append(out, ce)
		}
		return out, nil
	case map[string]any:
		out := make(cbor.Map, len(x))
		for k, e := range x {
			if e == nil {
				continue
			}
			ce, err := toCBOR(e, timestampMembers[k])
			if err != nil {
				return nil, err
			}
			out[k] = ce
		}
		return out, nil
	}
	return nil, fmt.Errorf("unsupported response value %T", v)
}
