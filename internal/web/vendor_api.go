package web

import (
	"cmp"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/marketbridge/marketbridge/internal/fault"
	"github.com/marketbridge/marketbridge/internal/marketplace"
	"github.com/marketbridge/marketbridge/internal/org"
)

// The vendor API: the vendor's back end ties organizations to the tenants
// of its product (#12). Routes spanning organizations go through s.vendor
// (service tokens only); those of one organization through s.api.

// orgJSON is an organization as the vendor API shows it.
type orgJSON struct {
	ID           int64     `json:"id"`
	Name         string    `json:"name"`
	ExternalID   *string   `json:"external_id"` // null when not set
	BillingState string    `json:"billing_state"`
	CreatedAt    time.Time `json:"created_at"`
	MemberCount  int       `json:"member_count"`
}

// grantJSON is what adding someone did: "member" (an existing user joined
// at once) or "invited" (an invitation was mailed).
type grantJSON struct {
	Email     string     `json:"email"`
	Role      org.Role   `json:"role"`
	Status    string     `json:"status"`
	UserID    int64      `json:"user_id,omitempty"`
	ExpiresAt *time.Time `json:"invitation_expires_at,omitempty"`
}

type createdOrgJSON struct {
	orgJSON
	Admin grantJSON `json:"admin"`
}

type orgListJSON struct {
	Organizations []orgJSON `json:"organizations"`
	NextCursor    string    `json:"next_cursor,omitempty"`
}

type memberJSON struct {
	UserID   int64     `json:"user_id"`
	Email    string    `json:"email"`
	Name     string    `json:"name"`
	Role     org.Role  `json:"role"`
	JoinedAt time.Time `json:"joined_at"`
}

type invitationJSON struct {
	Email     string    `json:"email"`
	Role      org.Role  `json:"role"`
	ExpiresAt time.Time `json:"expires_at"`
}

type membersJSON struct {
	Members     []memberJSON     `json:"members"`
	Invitations []invitationJSON `json:"invitations"`
}

// Request bodies.
type (
	createOrgRequest struct {
		ExternalID string `json:"external_id"`
		Name       string `json:"name"`
		AdminEmail string `json:"admin_email"`
	}
	addMemberRequest struct {
		Email string   `json:"email"`
		Role  org.Role `json:"role"`
	}
	roleRequest struct {
		Role org.Role `json:"role"`
	}
	externalIDRequest struct {
		ExternalID string `json:"external_id"`
	}
)

// maxVendorBody bounds a vendor API request body: the largest is three
// short strings.
const maxVendorBody = 64 << 10

// decodeBody reads a JSON object of exactly v's fields.
func decodeBody(r io.Reader, v any) error {
	dec := json.NewDecoder(io.LimitReader(r, maxVendorBody+1))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil && dec.More() {
		err = errors.New("more than one JSON value")
	}
	if err == nil {
		if _, terr := dec.Token(); terr != io.EOF {
			err = errors.New("more than one JSON value")
		}
	}
	if err != nil {
		return fault.Validation(fault.Field("body", "Send one JSON object with the documented fields ("+jsonProblem(err)+")."))
	}
	return nil
}

// jsonProblem says briefly what is wrong with a body, without echoing it.
func jsonProblem(err error) string {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return fmt.Sprintf("invalid JSON at byte %d", syntax.Offset)
	case errors.As(err, &typ):
		return fmt.Sprintf("%s must be a %s", cmp.Or(typ.Field, "the body"), typ.Type.Kind())
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return "the body is empty or cut short"
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ")
	}
	return err.Error()
}

// decodeCreateOrg reads the body of POST /api/v1/organizations.
func decodeCreateOrg(r io.Reader) (org.CreateTenantInput, error) {
	var req createOrgRequest
	if err := decodeBody(r, &req); err != nil {
		return org.CreateTenantInput{}, err
	}
	return org.CreateTenantInput{ExternalID: req.ExternalID, Name: req.Name, AdminEmail: req.AdminEmail}, nil
}

func grantOut(g org.Grant) grantJSON {
	out := grantJSON{Email: g.Email, Role: g.Role, Status: "member", UserID: g.UserID}
	if g.Invited {
		out.Status, out.UserID, out.ExpiresAt = "invited", 0, optionalTime(g.ExpiresAt)
	}
	return out
}

// orgOut is a tenant with its billing state, as GET /billing has it.
func (s *Server) orgOut(r *http.Request, t org.Tenant) (orgJSON, error) {
	b, _, err := s.billingState(r.Context(), t.ID)
	if err != nil {
		return orgJSON{}, err
	}
	out := orgJSON{ID: t.ID, Name: t.Name, BillingState: b.State, CreatedAt: t.CreatedAt, MemberCount: t.Members}
	if t.ExternalID != "" {
		out.ExternalID = &t.ExternalID
	}
	return out, nil
}

// handleAPICreateOrg creates an organization for a tenant: 201 when it was
// made, 200 when a retry finds the one an earlier request made.
func (s *Server) handleAPICreateOrg(w http.ResponseWriter, r *http.Request, tok org.Token) error {
	in, err := decodeCreateOrg(r.Body)
	if err != nil {
		return err
	}
	t, g, created, err := s.cfg.Orgs.CreateTenant(r.Context(), tok, in)
	if err != nil {
		return err
	}
	o, err := s.orgOut(r, t)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
		w.Header().Set("Location", fmt.Sprintf("/api/v1/organizations/%d", t.ID))
	}
	writeJSON(w, status, createdOrgJSON{orgJSON: o, Admin: grantOut(g)})
	return nil
}

// Listing organizations.
const (
	defaultOrgPage = 50
	maxOrgPage     = 200
	// maxOrgScan bounds the organizations one list request examines for a
	// billing_state filter: a page may then hold fewer than limit, with a
	// next_cursor to go on from.
	maxOrgScan = 1000
)

// billingStates are the states a list may filter on: those GET
// /api/v1/organizations/{org}/billing answers.
var billingStates = []string{marketplace.BillingNone, marketplace.BillingActive, marketplace.BillingCancellationPending,
	marketplace.BillingGrace, marketplace.BillingSuspended, marketplace.BillingContractExpired, marketplace.BillingCreditsExhausted}

// cursorPrefix versions the cursor's content, which clients must not read.
const cursorPrefix = "o1:"

// encodeCursor makes the opaque cursor that resumes a list after the
// organization with id after.
func encodeCursor(after int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(cursorPrefix + strconv.FormatInt(after, 10)))
}

// parseCursor reads a cursor that encodeCursor made.
func parseCursor(c string) (int64, error) {
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || len(raw) > 32 {
		return 0, errBadCursor
	}
	digits, ok := strings.CutPrefix(string(raw), cursorPrefix)
	if !ok {
		return 0, errBadCursor
	}
	after, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || after < 0 || strconv.FormatInt(after, 10) != digits {
		return 0, errBadCursor
	}
	return after, nil
}

var errBadCursor = fault.Field("cursor", "Pass the next_cursor of the previous page as it was given.")

// listQuery is GET /api/v1/organizations's query.
type listQuery struct {
	ExternalID   string
	BillingState string
	Limit        int
	After        int64
}

// parseListQuery reads the query, reporting every bad parameter at once.
func parseListQuery(q map[string][]string) (listQuery, error) {
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	lq := listQuery{ExternalID: get("external_id"), BillingState: get("billing_state"), Limit: defaultOrgPage}
	var errs []error
	if _, ok := q["external_id"]; ok && !org.ValidExternalID(lq.ExternalID) {
		errs = append(errs, org.ExternalIDError())
	}
	if lq.BillingState != "" && !slices.Contains(billingStates, lq.BillingState) {
		errs = append(errs, fault.Field("billing_state", "Use one of "+strings.Join(billingStates, ", ")+"."))
	}
	if v := get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxOrgPage {
			errs = append(errs, fault.Field("limit", fmt.Sprintf("Use a whole number from 1 to %d (default %d).", maxOrgPage, defaultOrgPage)))
		}
		lq.Limit = n
	}
	if c := get("cursor"); c != "" {
		after, err := parseCursor(c)
		if err != nil {
			errs = append(errs, err)
		}
		lq.After = after
	}
	return lq, fault.Validation(errs...)
}

// handleAPIOrgs finds the organization with ?external_id=, or lists
// organizations by id, optionally in one billing state, a page at a time.
func (s *Server) handleAPIOrgs(w http.ResponseWriter, r *http.Request, _ org.Token) error {
	q, err := parseListQuery(r.URL.Query())
	if err != nil {
		return err
	}
	out := orgListJSON{Organizations: []orgJSON{}}
	if _, find := r.URL.Query()["external_id"]; find {
		t, err := s.cfg.Orgs.TenantByExternalID(r.Context(), q.ExternalID)
		if errors.Is(err, org.ErrNotFound) {
			writeJSON(w, http.StatusOK, out)
			return nil
		}
		if err != nil {
			return err
		}
		o, err := s.orgOut(r, t)
		if err != nil {
			return err
		}
		if q.BillingState == "" || q.BillingState == o.BillingState {
			out.Organizations = append(out.Organizations, o)
		}
		writeJSON(w, http.StatusOK, out)
		return nil
	}
	out.NextCursor, err = s.listOrgs(r, q, &out.Organizations)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// listOrgs appends to page the organizations after q.After, by id, in
// q.BillingState if set, until the page holds q.Limit or maxOrgScan were
// examined; it returns the cursor after the last one examined when more
// exist.
func (s *Server) listOrgs(r *http.Request, q listQuery, page *[]orgJSON) (next string, err error) {
	after, scanned := q.After, 0
	for {
		// One more than needed: finding it is what says more exist.
		batch := min(q.Limit-len(*page), maxOrgScan-scanned) + 1
		ts, err := s.cfg.Orgs.Tenants(r.Context(), after, batch)
		if err != nil {
			return "", err
		}
		for _, t := range ts {
			if len(*page) == q.Limit || scanned == maxOrgScan {
				return encodeCursor(after), nil
			}
			o, err := s.orgOut(r, t)
			if err != nil {
				return "", err
			}
			after, scanned = t.ID, scanned+1
			if q.BillingState == "" || q.BillingState == o.BillingState {
				*page = append(*page, o)
			}
		}
		if len(ts) < batch {
			return "", nil
		}
	}
}

// handleAPIOrg reads one organization.
func (s *Server) handleAPIOrg(w http.ResponseWriter, r *http.Request, orgID int64) error {
	t, err := s.cfg.Orgs.Tenant(r.Context(), orgID)
	return s.writeOrg(w, r, t, err)
}

// writeOrg answers the organization an operation returned, or its error.
func (s *Server) writeOrg(w http.ResponseWriter, r *http.Request, t org.Tenant, err error) error {
	if err != nil {
		return err
	}
	o, err := s.orgOut(r, t)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, o)
	return nil
}

// handleAPIMembers lists an organization's members and pending invitations.
func (s *Server) handleAPIMembers(w http.ResponseWriter, r *http.Request, orgID int64) error {
	members, invs, err := s.cfg.Orgs.TenantMembers(r.Context(), orgID)
	if err != nil {
		return err
	}
	out := membersJSON{Members: []memberJSON{}, Invitations: []invitationJSON{}}
	for _, m := range members {
		out.Members = append(out.Members, memberOut(m))
	}
	for _, inv := range invs {
		out.Invitations = append(out.Invitations, invitationJSON{Email: inv.Email, Role: inv.Role, ExpiresAt: inv.ExpiresAt})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func memberOut(m org.Member) memberJSON {
	return memberJSON{UserID: m.UserID, Email: m.Email, Name: m.Name, Role: m.Role, JoinedAt: m.JoinedAt}
}

// handleAPIAddMember adds a member: 201 when an existing user joined, 202
// when an invitation was mailed.
func (s *Server) handleAPIAddMember(w http.ResponseWriter, r *http.Request, orgID int64) error {
	var req addMemberRequest
	if err := decodeBody(r.Body, &req); err != nil {
		return err
	}
	g, err := s.cfg.Orgs.AddTenantMember(r.Context(), *callerOf(r).token, orgID, org.InviteInput{Email: req.Email, Role: req.Role})
	if err != nil {
		return err
	}
	status := http.StatusCreated
	if g.Invited {
		status = http.StatusAccepted
	}
	writeJSON(w, status, grantOut(g))
	return nil
}

// handleAPIChangeMember sets a member's role.
func (s *Server) handleAPIChangeMember(w http.ResponseWriter, r *http.Request, orgID int64) error {
	var req roleRequest
	if err := decodeBody(r.Body, &req); err != nil {
		return err
	}
	m, err := s.cfg.Orgs.ChangeTenantRole(r.Context(), *callerOf(r).token, orgID, org.MemberRef(r.PathValue("member")), req.Role)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, memberOut(m))
	return nil
}

// handleAPIRemoveMember removes a member, or withdraws an address's
// pending invitations.
func (s *Server) handleAPIRemoveMember(w http.ResponseWriter, r *http.Request, orgID int64) error {
	if err := s.cfg.Orgs.RemoveTenantMember(r.Context(), *callerOf(r).token, orgID, org.MemberRef(r.PathValue("member"))); err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// handleAPISetExternalID ties the organization to a tenant.
func (s *Server) handleAPISetExternalID(w http.ResponseWriter, r *http.Request, orgID int64) error {
	var req externalIDRequest
	if err := decodeBody(r.Body, &req); err != nil {
		return err
	}
	if req.ExternalID == "" {
		return fault.Validation(org.ExternalIDError())
	}
	return s.setExternalID(w, r, orgID, req.ExternalID)
}

// handleAPIClearExternalID unties the organization from its tenant.
func (s *Server) handleAPIClearExternalID(w http.ResponseWriter, r *http.Request, orgID int64) error {
	return s.setExternalID(w, r, orgID, "")
}

func (s *Server) setExternalID(w http.ResponseWriter, r *http.Request, orgID int64, externalID string) error {
	t, err := s.cfg.Orgs.SetExternalID(r.Context(), *callerOf(r).token, orgID, externalID)
	return s.writeOrg(w, r, t, err)
}
