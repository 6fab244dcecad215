package market

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
)

var (
	productCodePattern = regexp.MustCompile(`^[-a-zA-Z0-9/=:_.@]{1,255}$`)
	dimensionPattern   = regexp.MustCompile(`^[\s\S]{1,255}$`)
)

// ProductInput creates a product; empty fields take defaults.
type ProductInput struct {
	Code                 string       `json:"code,omitempty"`
	Title                string       `json:"title"`
	Description          string       `json:"description,omitempty"`
	SellerAccountID      string       `json:"seller_account_id,omitempty"`
	PricingModel         PricingModel `json:"pricing_model"`
	Mode                 Mode         `json:"mode,omitempty"`
	FulfillmentURL       string       `json:"fulfillment_url"`
	Dimensions           []Dimension  `json:"dimensions"`
	ConcurrentAgreements bool         `json:"concurrent_agreements,omitempty"`
	FreeTrialDays        int          `json:"free_trial_days,omitempty"`
	ContractMonths       int          `json:"contract_months,omitempty"`
}

// Validate reports every field error at once.
func (in *ProductInput) Validate() error {
	var errs []error
	if in.Code != "" && !productCodePattern.MatchString(in.Code) {
		errs = append(errs, fmt.Errorf("code %q: 1-255 characters of [-a-zA-Z0-9/=:_.@]", in.Code))
	}
	if strings.TrimSpace(in.Title) == "" {
		errs = append(errs, errors.New("title is required"))
	}
	if in.SellerAccountID != "" && !accountIDPattern.MatchString(in.SellerAccountID) {
		errs = append(errs, fmt.Errorf("seller_account_id %q: want 12 digits", in.SellerAccountID))
	}
	switch in.PricingModel {
	case PricingSubscription, PricingContract, PricingContractConsumption:
	default:
		errs = append(errs, fmt.Errorf("pricing_model %q: want subscription, contract or contract-with-consumption", in.PricingModel))
	}
	switch in.Mode {
	case "", ModeLegacy, ModeCurrent:
	default:
		errs = append(errs, fmt.Errorf("mode %q: want legacy or current", in.Mode))
	}
	if u, err := url.Parse(in.FulfillmentURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(in.FulfillmentURL) > 2048 {
		errs = append(errs, fmt.Errorf("fulfillment_url %q: want an absolute http(s) URL of at most 2048 characters", in.FulfillmentURL))
	}
	if len(in.Dimensions) == 0 {
		errs = append(errs, errors.New("dimensions: at least one is required"))
	}
	seen := map[string]bool{}
	var metered, contract int
	for i, d := range in.Dimensions {
		if !dimensionPattern.MatchString(d.Key) {
			errs = append(errs, fmt.Errorf("dimensions[%d].key: 1-255 characters", i))
		}
		if seen[d.Key] {
			errs = append(errs, fmt.Errorf("dimensions[%d].key %q: duplicate", i, d.Key))
		}
		seen[d.Key] = true
		switch d.Kind {
		case DimensionMetered:
			metered++
		case DimensionContract:
			contract++
		default:
			errs = append(errs, fmt.Errorf("dimensions[%d].kind %q: want metered or contract", i, d.Kind))
		}
		if d.PriceMicros < 0 {
			errs = append(errs, fmt.Errorf("dimensions[%d].price_micros: must not be negative", i))
		}
	}
	switch in.PricingModel {
	case PricingSubscription:
		if contract > 0 {
			errs = append(errs, errors.New("dimensions: a subscription product has metered dimensions only"))
		}
	case PricingContract:
		if metered > 0 {
			errs = append(errs, errors.New("dimensions: a contract product has contract dimensions only"))
		}
	case PricingContractConsumption:
		if metered == 0 || contract == 0 {
			errs = append(errs, errors.New("dimensions: contract with consumption needs contract and metered dimensions"))
		}
	}
	if in.FreeTrialDays < 0 || in.ContractMonths < 0 {
		errs = append(errs, errors.New("free_trial_days and contract_months must not be negative"))
	}
	if len(errs) > 0 {
		return &Error{Kind: KindInvalid, Message: errors.Join(errs...).Error()}
	}
	return nil
}

// CreateProduct adds a listing.
func (m *Market) CreateProduct(ctx context.Context, in ProductInput) (Product, error) {
	if err := in.Validate(); err != nil {
		return Product{}, err
	}
	var out Product
	err := m.update(ctx, func(tx *txn) error {
		code := in.Code
		if code == "" {
			code = m.randomString(lowerAlnum, 25)
		}
		if _, ok := m.products[code]; ok {
			return errorf(KindConflict, "product %s already exists", code)
		}
		p := &Product{
			Code: code, ID: "prod-" + m.randomString(lowerAlnum, 13), Title: in.Title, Description: in.Description,
			SellerAccountID: in.SellerAccountID, PricingModel: in.PricingModel, Mode: in.Mode,
			FulfillmentURL: in.FulfillmentURL, Dimensions: in.Dimensions, ConcurrentAgreements: in.ConcurrentAgreements,
			FreeTrialDays: in.FreeTrialDays, ContractMonths: in.ContractMonths,
			PublicOfferID: "offer-" + m.randomString(lowerAlnum, 13), CreatedAt: m.now(),
		}
		if p.SellerAccountID == "" {
			p.SellerAccountID = m.cfg.SellerAccountID
		}
		if p.Mode == "" {
			p.Mode = ModeCurrent
		}
		if p.ContractMonths == 0 && p.PricingModel != PricingSubscription {
			p.ContractMonths = 12
		}
		m.products[code] = p
		tx.put(kindProduct, code, p)
		out = *p
		return nil
	})
	return out, err
}

// SetFulfillmentURL changes where "Set up your account" posts to.
func (m *Market) SetFulfillmentURL(ctx context.Context, code, fulfillmentURL string) (Product, error) {
	if u, err := url.Parse(fulfillmentURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return Product{}, errorf(KindInvalid, "fulfillment_url %q: want an absolute http(s) URL", fulfillmentURL)
	}
	var out Product
	err := m.update(ctx, func(tx *txn) error {
		p, ok := m.products[code]
		if !ok {
			return errorf(KindNotFound, "no product %s", code)
		}
		p.FulfillmentURL = fulfillmentURL
		tx.put(kindProduct, code, p)
		out = *p
		return nil
	})
	return out, err
}

// Products lists the catalog by title.
func (m *Market) Products() []Product {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Product, 0, len(m.products))
	for _, p := range m.products {
		out = append(out, *p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Title < out[j].Title })
	return out
}

// SearchProducts finds listings whose title or description contains every word of q.
func (m *Market) SearchProducts(q string) []Product {
	words := strings.Fields(strings.ToLower(q))
	var out []Product
	for _, p := range m.Products() {
		text := strings.ToLower(p.Title + " " + p.Description)
		if !slices.ContainsFunc(words, func(w string) bool { return !strings.Contains(text, w) }) {
			out = append(out, p)
		}
	}
	return out
}

// Product returns one product.
func (m *Market) Product(code string) (Product, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.products[code]
	if !ok {
		return Product{}, errorf(KindNotFound, "no product %s", code)
	}
	return *p, nil
}

// AccountInput creates a buyer account.
type AccountInput struct {
	ID          string   `json:"id,omitempty"`
	Name        string   `json:"name"`
	Email       string   `json:"email,omitempty"`
	Permissions []string `json:"permissions,omitempty"`
}

// Validate reports every field error at once.
func (in *AccountInput) Validate() error {
	var errs []error
	if in.ID != "" && !accountIDPattern.MatchString(in.ID) {
		errs = append(errs, fmt.Errorf("id %q: want 12 digits", in.ID))
	}
	if strings.TrimSpace(in.Name) == "" {
		errs = append(errs, errors.New("name is required"))
	}
	if len(errs) > 0 {
		return &Error{Kind: KindInvalid, Message: errors.Join(errs...).Error()}
	}
	return nil
}

// CreateAccount adds a buyer account.
func (m *Market) CreateAccount(ctx context.Context, in AccountInput) (Account, error) {
	if err := in.Validate(); err != nil {
		return Account{}, err
	}
	var out Account
	err := m.update(ctx, func(tx *txn) error {
		id := in.ID
		if id == "" {
			id = m.randomString(digits, 12)
		}
		if _, ok := m.accounts[id]; ok {
			return errorf(KindConflict, "account %s already exists", id)
		}
		perms := in.Permissions
		if perms == nil {
			perms = []string{}
		}
		a := &Account{ID: id, Name: in.Name, Email: in.Email, Permissions: perms, CreatedAt: m.now()}
		m.accounts[id] = a
		tx.put(kindAccount, id, a)
		out = *a
		return nil
	})
	return out, err
}

// SetPermissions replaces an account's IAM actions and managed policies.
func (m *Market) SetPermissions(ctx context.Context, accountID string, perms []string) (Account, error) {
	var out Account
	err := m.update(ctx, func(tx *txn) error {
		a, ok := m.accounts[accountID]
		if !ok {
			return errorf(KindNotFound, "no account %s", accountID)
		}
		if perms == nil {
			perms = []string{}
		}
		a.Permissions = perms
		tx.put(kindAccount, a.ID, a)
		out = *a
		return nil
	})
	return out, err
}

// Accounts lists buyer accounts by name.
func (m *Market) Accounts() []Account {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Account, 0, len(m.accounts))
	for _, a := range m.accounts {
		out = append(out, *a)
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].Name < out[j].Name || out[i].Name == out[j].Name && out[i].ID < out[j].ID
	})
	return out
}

// Account returns one account.
func (m *Market) Account(id string) (Account, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, ok := m.accounts[id]
	if !ok {
		return Account{}, errorf(KindNotFound, "no account %s", id)
	}
	return *a, nil
}

// CanViewPrivateOffers applies AWS's rule for the private offer page: the
// actions aws-marketplace:ListPrivateListings and aws-marketplace:ViewSubscriptions,
// or the managed policies that grant them (AWSMarketplaceRead-only together
// with AWSMarketplaceManageSubscriptions, or AWSMarketplaceFullAccess).
func (a Account) CanViewPrivateOffers() bool {
	has := func(p string) bool { return slices.Contains(a.Permissions, p) }
	switch {
	case has("AWSMarketplaceFullAccess"), has("aws-marketplace:*"):
		return true
	case has("AWSMarketplaceRead-only") && has("AWSMarketplaceManageSubscriptions"):
		return true
	}
	return has("aws-marketplace:ListPrivateListings") && has("aws-marketplace:ViewSubscriptions")
}

// CredentialInput adds an access key for a seller account.
type CredentialInput struct {
	AccessKeyID     string `json:"access_key_id"`
	SecretAccessKey string `json:"secret_access_key"`
	AccountID       string `json:"account_id"`
}

// CreateCredential lets another seller account call the AWS API.
func (m *Market) CreateCredential(ctx context.Context, in CredentialInput) (Credential, error) {
	var errs []error
	if in.AccessKeyID == "" || in.SecretAccessKey == "" {
		errs = append(errs, errors.New("access_key_id and secret_access_key are required"))
	}
	if !accountIDPattern.MatchString(in.AccountID) {
		errs = append(errs, fmt.Errorf("account_id %q: want 12 digits", in.AccountID))
	}
	if len(errs) > 0 {
		return Credential{}, &Error{Kind: KindInvalid, Message: errors.Join(errs...).Error()}
	}
	var out Credential
	err := m.update(ctx, func(tx *txn) error {
		if _, ok := m.credentials[in.AccessKeyID]; ok || in.AccessKeyID == m.defaultCred.AccessKeyID {
			return errorf(KindConflict, "access key %s already exists", in.AccessKeyID)
		}
		c := &Credential{AccessKeyID: in.AccessKeyID, SecretAccessKey: in.SecretAccessKey, AccountID: in.AccountID, CreatedAt: m.now()}
		m.credentials[c.AccessKeyID] = c
		tx.put(kindCredential, c.AccessKeyID, c)
		out = *c
		return nil
	})
	return out, err
}

// Credentials lists access keys, the default one first, without secrets.
func (m *Market) Credentials() []Credential {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := []Credential{{AccessKeyID: m.defaultCred.AccessKeyID, AccountID: m.defaultCred.AccountID}}
	for _, c := range m.credentials {
		out = append(out, Credential{AccessKeyID: c.AccessKeyID, AccountID: c.AccountID, CreatedAt: c.CreatedAt})
	}
	sort.Slice(out[1:], func(i, j int) bool { return out[1+i].AccessKeyID < out[1+j].AccessKeyID })
	return out
}

// LookupCredential returns the secret and seller account of an access key.
func (m *Market) LookupCredential(accessKeyID string) (Credential, bool) {
	if accessKeyID == m.defaultCred.AccessKeyID {
		return m.defaultCred, true
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.credentials[accessKeyID]
	if !ok {
		return Credential{}, false
	}
	return *c, true
}
