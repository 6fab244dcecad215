package webhook

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// ErrRefusedAddress is a delivery refused because its endpoint's name led to
// an address of this machine or of a private network (SSRF): an operator's
// URL must not let marketbridge reach what only it can reach.
var ErrRefusedAddress = errors.New("webhook: refused to connect to a private, loopback, link-local or multicast address")

// refusedPrefixes are the networks no endpoint may lead to, beside
// loopback, link-local, unspecified and multicast addresses, which netip
// tells by itself.
var refusedPrefixes = []netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"),     // RFC 1918
	netip.MustParsePrefix("172.16.0.0/12"),  // RFC 1918
	netip.MustParsePrefix("192.168.0.0/16"), // RFC 1918
	netip.MustParsePrefix("100.64.0.0/10"),  // carrier-grade NAT (RFC 6598)
	netip.MustParsePrefix("0.0.0.0/8"),      // "this network"
	netip.MustParsePrefix("192.0.0.0/24"),   // IETF protocol assignments
	netip.MustParsePrefix("198.18.0.0/15"),  // benchmarking, used inside networks
	netip.MustParsePrefix("240.0.0.0/4"),    // reserved, and the broadcast address
	netip.MustParsePrefix("fc00::/7"),       // unique local IPv6
	netip.MustParsePrefix("fec0::/10"),      // site-local IPv6 (deprecated, still routed by some)
	netip.MustParsePrefix("64:ff9b:1::/48"), // local-use NAT64 (RFC 8215)
	netip.MustParsePrefix("2001::/32"),      // Teredo: hides an IPv4 address behind a relay
	netip.MustParsePrefix("::/96"),          // IPv4-compatible (deprecated): ::10.0.0.1
}

// Prefixes whose addresses carry an IPv4 address that a gateway connects
// to in their stead: the embedded address must be allowed too, or an
// endpoint of 64:ff9b::a9fe:a9fe would reach the metadata service through
// a VPC's NAT64 gateway.
var (
	nat64Prefix = netip.MustParsePrefix("64:ff9b::/96") // RFC 6052: the IPv4 address in the last 32 bits
	sixToFour   = netip.MustParsePrefix("2002::/16")    // RFC 3056: the IPv4 address in bits 16 to 47
)

// embeddedIPv4 is the IPv4 address a NAT64 or 6to4 address stands for.
func embeddedIPv4(ip netip.Addr) (netip.Addr, bool) {
	b := ip.As16()
	switch {
	case nat64Prefix.Contains(ip):
		return netip.AddrFrom4([4]byte(b[12:16])), true
	case sixToFour.Contains(ip):
		return netip.AddrFrom4([4]byte(b[2:6])), true
	}
	return netip.Addr{}, false
}

// AllowedAddress says whether a delivery may connect to ip.
func AllowedAddress(ip netip.Addr) bool {
	ip = ip.Unmap() // ::ffff:10.0.0.1 is 10.0.0.1
	if !ip.IsValid() || ip.IsLoopback() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified() || ip.IsPrivate() {
		return false
	}
	for _, p := range refusedPrefixes {
		if p.Contains(ip) {
			return false
		}
	}
	if v4, ok := embeddedIPv4(ip); ok {
		return AllowedAddress(v4)
	}
	return true
}

// guardDial is a net.Dialer's Control: it runs after the name is resolved,
// for each address about to be connected to, so that a name that resolves
// to a public address when the endpoint is saved and to a private one later
// (DNS rebinding) is still refused.
func guardDial(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %q", ErrRefusedAddress, address)
	}
	if !AllowedAddress(ap.Addr()) {
		return fmt.Errorf("%w: %s", ErrRefusedAddress, ap.Addr())
	}
	return nil
}

// Client timeouts: a receiver should answer at once and do its work later.
const (
	connectTimeout = 5 * time.Second
	requestTimeout = 10 * time.Second
)

// NewClient returns the HTTP client deliveries go through: bounded in time,
// following no redirect (a 3xx is a failure, as the endpoint's URL is what
// the operator chose), using no proxy from the environment, and, unless
// allowPrivate, connecting to public addresses only. resolver is nil for
// the system's.
func NewClient(allowPrivate bool, resolver *net.Resolver) *http.Client {
	dialer := &net.Dialer{Timeout: connectTimeout, KeepAlive: 30 * time.Second, Resolver: resolver}
	if !allowPrivate {
		dialer.Control = guardDial
	}
	transport := &http.Transport{
		Proxy:                 nil,
		DialContext:           dialer.DialContext,
		TLSHandshakeTimeout:   connectTimeout,
		ResponseHeaderTimeout: requestTimeout,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     true,
	}
	return &http.Client{
		Transport: transport,
		Timeout:   requestTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// maxURLLength bounds an endpoint's URL.
const maxURLLength = 2000

// CheckURL says what is wrong with an endpoint's URL, if anything: it must
// be http or https with a host, carry no credentials (a secret in a URL ends
// in logs and pages) and no fragment, and, unless allowPrivate, not name a
// refused address literally. Names are checked again at each connection.
func CheckURL(raw string, allowPrivate bool) error {
	if raw == "" {
		return errors.New("a URL is required")
	}
	if len(raw) > maxURLLength {
		return fmt.Errorf("a URL has at most %d characters", maxURLLength)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("not a URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return errors.New("the URL must start with https:// (or http://)")
	}
	if u.Host == "" || u.Hostname() == "" || u.Opaque != "" {
		return errors.New("the URL must name a host")
	}
	if u.User != nil {
		return errors.New("the URL may not carry a user name or password: the signature authenticates deliveries")
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return errors.New("the URL may not have a #fragment")
	}
	if strings.ContainsAny(raw, " \t\r\n") {
		return errors.New("the URL may not contain spaces")
	}
	if !allowPrivate {
		host := u.Hostname()
		if ip, err := netip.ParseAddr(host); err == nil && !AllowedAddress(ip) {
			return fmt.Errorf("%s is a private, loopback or link-local address; deliveries go to public addresses only (see --webhooks-allow-private)", host)
		}
		if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
			return errors.New("localhost is this machine; deliveries go to public addresses only (see --webhooks-allow-private)")
		}
	}
	return nil
}
