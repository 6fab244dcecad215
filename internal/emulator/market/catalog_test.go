package market

import "testing"

func TestCanViewPrivateOffers_NeedsBothPermissions(t *testing.T) {
	cases := []struct {
		name  string
		perms []string
		want  bool
	}{
		{"full access policy", []string{"AWSMarketplaceFullAccess"}, true},
		{"read-only and manage subscriptions policies", []string{"AWSMarketplaceRead-only", "AWSMarketplaceManageSubscriptions"}, true},
		{"both IAM actions", []string{"aws-marketplace:ListPrivateListings", "aws-marketplace:ViewSubscriptions"}, true},
		{"read-only policy alone", []string{"AWSMarketplaceRead-only"}, false},
		{"list action alone", []string{"aws-marketplace:ListPrivateListings"}, false},
		{"view action alone", []string{"aws-marketplace:ViewSubscriptions"}, false},
		{"nothing", nil, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := (Account{Permissions: tc.perms}).CanViewPrivateOffers(); got != tc.want {
				t.Fatalf("CanViewPrivateOffers(%v) = %v, want %v", tc.perms, got, tc.want)
			}
		})
	}
}
