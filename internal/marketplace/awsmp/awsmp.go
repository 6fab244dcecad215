package awsmp

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/marketplaceagreement"
	"github.com/aws/aws-sdk-go-v2/service/marketplaceentitlementservice"
	enttypes "github.com/aws/aws-sdk-go-v2/service/marketplaceentitlementservice/types"
	"github.com/aws/aws-sdk-go-v2/service/marketplacemetering"
	metertypes "github.com/aws/aws-sdk-go-v2/service/marketplacemetering/types"
	"github.com/aws/smithy-go"

	"github.com/marketbridge/marketbridge/internal/marketplace"
)

// Client implements marketplace.Resolver and marketplace.AgreementReader
// with the AWS SDK.
type Client struct {
	metering     *marketplacemetering.Client
	entitlements *marketplaceentitlementservice.Client
	agreements   *marketplaceagreement.Client
	// entitlementPace and agreementPace, when set, pace the calls of
	// GetEntitlements and of the Agreement API.
	entitlementPace, agreementPace Pacer
}

// Pacer lets a call go when an AWS quota allows it: package quota's
// Limiter, shared by every process of the seller (#13).
type Pacer interface {
	Wait(ctx context.Context) error
}

// PaceEntitlements makes every GetEntitlements call, each page of one,
// wait for p first: AWS counts calls per seller account, whatever number of
// processes make them. Call it before the client is used.
func (c *Client) PaceEntitlements(p Pacer) { c.entitlementPace = p }

// PaceAgreements does the same for every Agreement API call
// (DescribeAgreement, each page of GetAgreementTerms and SearchAgreements).
func (c *Client) PaceAgreements(p Pacer) { c.agreementPace = p }

// pace waits for p, if there is one.
func pace(ctx context.Context, p Pacer) error {
	if p == nil {
		return nil
	}
	return p.Wait(ctx)
}

// Endpoints overrides where the three services are reached; empty fields
// keep the SDK's resolution (AWS, or AWS_ENDPOINT_URL_* variables).
type Endpoints struct {
	Metering    string
	Entitlement string
	Agreement   string
}

// attemptTimeout bounds one HTTP attempt. The SDK's default client waits
// for an answer forever: one hung BatchMeterUsage would hold a metering
// worker, and the lease of its records, for good. With the SDK's three
// attempts a call ends within about 90 s, inside the sender's 2-minute lease.
const attemptTimeout = 30 * time.Second

// New builds the clients from an SDK configuration. A configuration without
// its own HTTP client gets one that gives up on an attempt after
// attemptTimeout.
func New(cfg aws.Config, ep Endpoints) *Client {
	switch c := cfg.HTTPClient.(type) {
	case nil:
		cfg.HTTPClient = awshttp.NewBuildableClient().WithTimeout(attemptTimeout)
	case *awshttp.BuildableClient:
		// LoadDefaultConfig's: keep its transport (proxy, TLS), add the bound.
		if c.GetTimeout() == 0 {
			cfg.HTTPClient = c.WithTimeout(attemptTimeout)
		}
	}
	return &Client{
		metering: marketplacemetering.NewFromConfig(cfg, func(o *marketplacemetering.Options) {
			if ep.Metering != "" {
				o.BaseEndpoint = aws.String(ep.Metering)
			}
		}),
		entitlements: marketplaceentitlementservice.NewFromConfig(cfg, func(o *marketplaceentitlementservice.Options) {
			if ep.Entitlement != "" {
				o.BaseEndpoint = aws.String(ep.Entitlement)
			}
		}),
		agreements: marketplaceagreement.NewFromConfig(cfg, func(o *marketplaceagreement.Options) {
			if ep.Agreement != "" {
				o.BaseEndpoint = aws.String(ep.Agreement)
			}
		}),
	}
}

// ResolveCustomer exchanges a registration token for the buyer's identity.
func (c *Client) ResolveCustomer(ctx context.Context, token string) (marketplace.Resolved, error) {
	out, err := c.metering.ResolveCustomer(ctx, &marketplacemetering.ResolveCustomerInput{RegistrationToken: aws.String(token)})
	if err != nil {
		return marketplace.Resolved{}, resolveError(err)
	}
	return marketplace.Resolved{
		ProductCode: aws.ToString(out.ProductCode),
		Customer: marketplace.Customer{
			AccountID:  aws.ToString(out.CustomerAWSAccountId),
			Identifier: aws.ToString(out.CustomerIdentifier),
			LicenseArn: aws.ToString(out.LicenseArn),
		},
	}, nil
}

// resolveError maps AWS's answers to what the buyer should be told.
func resolveError(err error) error {
	var invalid *metertypes.InvalidTokenException
	var expired *metertypes.ExpiredTokenException
	switch {
	case errors.As(err, &expired):
		return fmt.Errorf("%w: %w", marketplace.ErrTokenExpired, err)
	case errors.As(err, &invalid):
		return fmt.Errorf("%w: %w", marketplace.ErrTokenInvalid, err)
	}
	return unavailable("resolve customer", err)
}

// unavailable wraps anything else AWS or the network answered: throttling
// after the SDK's retries, internal errors, a disabled API, a timeout.
func unavailable(op string, err error) error {
	var api smithy.APIError
	if errors.As(err, &api) {
		return fmt.Errorf("%w: %s: %s: %w", marketplace.ErrMarketplaceUnavailable, op, api.ErrorCode(), err)
	}
	return fmt.Errorf("%w: %s: %w", marketplace.ErrMarketplaceUnavailable, op, err)
}

// Entitlements reads every page of the buyer's entitlements to a product.
// AWS may answer a page with no entitlements and a NextToken; the paginator
// keeps asking until the token is gone.
func (c *Client) Entitlements(ctx context.Context, productCode string, cu marketplace.Customer) ([]marketplace.Entitlement, error) {
	filter := map[string][]string{}
	switch {
	case cu.LicenseArn != "":
		filter[string(enttypes.GetEntitlementFilterNameLicenseArn)] = []string{cu.LicenseArn}
	case cu.Identifier != "":
		filter[string(enttypes.GetEntitlementFilterNameCustomerIdentifier)] = []string{cu.Identifier}
	default:
		filter[string(enttypes.GetEntitlementFilterNameCustomerAwsAccountId)] = []string{cu.AccountID}
	}
	in := &marketplaceentitlementservice.GetEntitlementsInput{ProductCode: aws.String(productCode), Filter: filter, MaxResults: aws.Int32(25)}
	pages := marketplaceentitlementservice.NewGetEntitlementsPaginator(c.entitlements, in)
	var out []marketplace.Entitlement
	for pages.HasMorePages() {
		if err := pace(ctx, c.entitlementPace); err != nil {
			return nil, unavailable("wait for the GetEntitlements quota", err)
		}
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, unavailable("get entitlements", err)
		}
		for _, e := range page.Entitlements {
			out = append(out, convert(e))
		}
	}
	return out, nil
}

func convert(e enttypes.Entitlement) marketplace.Entitlement {
	me := marketplace.Entitlement{Dimension: aws.ToString(e.Dimension)}
	if e.ExpirationDate != nil {
		me.ExpiresAt = e.ExpirationDate.UTC()
	}
	if v := e.Value; v != nil {
		switch {
		case v.IntegerValue != nil:
			me.Kind, me.Integer = "integer", int64(*v.IntegerValue)
		case v.DoubleValue != nil:
			me.Kind, me.Text = "double", strconv.FormatFloat(*v.DoubleValue, 'f', -1, 64)
		case v.BooleanValue != nil:
			me.Kind, me.Text = "boolean", strconv.FormatBool(*v.BooleanValue)
		case v.StringValue != nil:
			me.Kind, me.Text = "string", *v.StringValue
		}
	}
	return me
}
