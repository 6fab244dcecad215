package account

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/marketbridge/marketbridge/internal/fault"
)

// Business is the information about the buyer's business that the seed's
// two onboarding screens ask for.
type Business struct {
	CompanyName string
	Country     string // ISO 3166-1 alpha-2
	Address     string
	JobRole     string
	CompanySize string
	UseCase     string
}

// Option is a choice offered in a select box.
type Option struct{ Value, Label string }

// The choices of the second screen, and the countries of the first.
var (
	JobRoles = []Option{{"engineering", "Engineering / development"}, {"data", "Data / analytics"}, {"devops", "DevOps / SRE / platform"},
		{"management", "Management / executive"}, {"procurement", "Procurement / finance"}, {"other", "Other"}}
	CompanySizes = []Option{{"1-10", "1–10 employees"}, {"11-50", "11–50"}, {"51-200", "51–200"}, {"201-1000", "201–1,000"},
		{"1001-5000", "1,001–5,000"}, {"5000+", "More than 5,000"}}
	UseCases = []Option{{"analytics", "Real-time analytics"}, {"observability", "Logs, metrics and observability"},
		{"warehouse", "Data warehouse"}, {"ml", "Machine learning / AI"}, {"product", "Features in our own product"}, {"evaluation", "Evaluating"}, {"other", "Other"}}
	Countries = []Option{{"AU", "Australia"}, {"AT", "Austria"}, {"BE", "Belgium"}, {"BR", "Brazil"}, {"CA", "Canada"}, {"CN", "China"},
		{"DK", "Denmark"}, {"FI", "Finland"}, {"FR", "France"}, {"DE", "Germany"}, {"HK", "Hong Kong"}, {"IN", "India"},
		{"ID", "Indonesia"}, {"IE", "Ireland"}, {"IL", "Israel"}, {"IT", "Italy"}, {"JP", "Japan"}, {"KR", "Korea, Republic of"},
		{"MY", "Malaysia"}, {"MX", "Mexico"}, {"NL", "Netherlands"}, {"NZ", "New Zealand"}, {"NO", "Norway"}, {"PL", "Poland"},
		{"PT", "Portugal"}, {"SG", "Singapore"}, {"ZA", "South Africa"}, {"ES", "Spain"}, {"SE", "Sweden"}, {"CH", "Switzerland"},
		{"TW", "Taiwan"}, {"TH", "Thailand"}, {"AE", "United Arab Emirates"}, {"GB", "United Kingdom"}, {"US", "United States"},
		{"VN", "Viet Nam"}}
)

func isOption(opts []Option, v string) bool {
	return slices.ContainsFunc(opts, func(o Option) bool { return o.Value == v })
}

// CompanyInput is onboarding's first screen.
type CompanyInput struct{ CompanyName, Country, Address string }

// Validate reports every field error.
func (in CompanyInput) Validate() error {
	var errs []error
	if n := len(strings.TrimSpace(in.CompanyName)); n == 0 || n > 200 {
		errs = append(errs, fault.Field("company_name", "Enter your company's name (at most 200 characters)."))
	}
	if !isOption(Countries, in.Country) {
		errs = append(errs, fault.Field("country", "Choose a country."))
	}
	if n := len(strings.TrimSpace(in.Address)); n == 0 || n > 500 {
		errs = append(errs, fault.Field("address", "Enter the business address (at most 500 characters)."))
	}
	return fault.Validation(errs...)
}

// ProfileInput is onboarding's second screen.
type ProfileInput struct{ JobRole, CompanySize, UseCase string }

// Validate reports every field error.
func (in ProfileInput) Validate() error {
	var errs []error
	if !isOption(JobRoles, in.JobRole) {
		errs = append(errs, fault.Field("job_role", "Choose your role."))
	}
	if !isOption(CompanySizes, in.CompanySize) {
		errs = append(errs, fault.Field("company_size", "Choose the company size."))
	}
	if !isOption(UseCases, in.UseCase) {
		errs = append(errs, fault.Field("use_case", "Choose what you will use the service for."))
	}
	return fault.Validation(errs...)
}

// Business returns what the user entered so far; found is false before the
// first screen is saved.
func (s *Service) Business(ctx context.Context, userID int64) (b Business, found bool, err error) {
	err = s.db.Read().QueryRowContext(ctx, `SELECT company_name, country, address, job_role, company_size, use_case
		FROM business_profiles WHERE user_id = $1`, userID).
		Scan(&b.CompanyName, &b.Country, &b.Address, &b.JobRole, &b.CompanySize, &b.UseCase)
	if errors.Is(err, sql.ErrNoRows) {
		return Business{}, false, nil
	}
	if err != nil {
		return Business{}, false, fmt.Errorf("read business of user %d: %w", userID, err)
	}
	return b, true, nil
}

// SaveCompany stores onboarding's first screen.
func (s *Service) SaveCompany(ctx context.Context, userID int64, in CompanyInput) error {
	if err := in.Validate(); err != nil {
		return err
	}
	_, err := s.db.Write().ExecContext(ctx, `INSERT INTO business_profiles (user_id, company_name, country, address, updated_at)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (user_id) DO UPDATE SET company_name = excluded.company_name, country = excluded.country,
			address = excluded.address, updated_at = excluded.updated_at`,
		userID, strings.TrimSpace(in.CompanyName), in.Country, strings.TrimSpace(in.Address), s.now())
	if err != nil {
		return fmt.Errorf("save company of user %d: %w", userID, err)
	}
	return nil
}

// ErrCompanyFirst is returned when the second screen comes before the first.
var ErrCompanyFirst = fault.New(fault.KindConflict, "Tell us about your company first.")

// SaveProfile stores onboarding's second screen and completes onboarding.
func (s *Service) SaveProfile(ctx context.Context, userID int64, in ProfileInput) error {
	if err := in.Validate(); err != nil {
		return err
	}
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE business_profiles SET job_role = $1, company_size = $2, use_case = $3, updated_at = $4
			WHERE user_id = $5`, in.JobRole, in.CompanySize, in.UseCase, s.now(), userID)
		if err != nil {
			return fmt.Errorf("save profile of user %d: %w", userID, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrCompanyFirst
		}
		if _, err := tx.ExecContext(ctx, `UPDATE users SET onboarded_at = COALESCE(onboarded_at, $1) WHERE id = $2`, s.now(), userID); err != nil {
			return fmt.Errorf("complete onboarding of user %d: %w", userID, err)
		}
		return nil
	})
}
