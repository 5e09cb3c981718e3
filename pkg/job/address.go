package job

import (
	"errors"
	"fmt"
	"strings"
)

// ErrAddress is returned by CheckAddress for an address SES would refuse.
// Its messages never contain the address (nor any part of it): they end up
// in reject reports, DLQ headers and logs, which hold no personal data.
var ErrAddress = errors.New("invalid email address")

// Limits of an address (RFC 5321).
const (
	MaxLocalPart  = 64
	MaxDomain     = 253
	MaxLabel      = 63
	MaxAddressLen = 254
)

// atext are the characters of an unquoted local part besides letters and
// digits (RFC 5322 §3.2.3).
const atext = "!#$%&'*+-/=?^_`{|}~"

// CheckAddress checks a bare address the way SES accepts it: an ASCII
// dot-atom local part (no quoting) and an ASCII domain of LDH labels, an
// internationalised domain given in IDNA form (xn--…). `zoë@example.com`
// is refused: SES rejects non-ASCII local parts, and would do so only at
// send time. The error says what is wrong without echoing the input.
func CheckAddress(addr string) error {
	if addr == "" {
		return fmt.Errorf("%w: it is empty", ErrAddress)
	}
	if len(addr) > MaxAddressLen {
		return fmt.Errorf("%w: it is %d bytes, the limit is %d", ErrAddress, len(addr), MaxAddressLen)
	}
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return fmt.Errorf("%w: it has no @", ErrAddress)
	}
	if err := checkLocal(addr[:at]); err != nil {
		return err
	}
	return checkDomain(addr[at+1:])
}

func checkLocal(l string) error {
	switch {
	case l == "":
		return fmt.Errorf("%w: the local part (before @) is empty", ErrAddress)
	case len(l) > MaxLocalPart:
		return fmt.Errorf("%w: the local part is %d bytes, the limit is %d", ErrAddress, len(l), MaxLocalPart)
	case l[0] == '.' || l[len(l)-1] == '.' || strings.Contains(l, ".."):
		return fmt.Errorf("%w: the local part starts or ends with a dot, or has two dots in a row", ErrAddress)
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		switch {
		case c >= 0x80:
			return fmt.Errorf("%w: the local part (before @) has a non-ASCII character; SES accepts only ASCII local parts", ErrAddress)
		case isAlnum(c) || c == '.' || strings.IndexByte(atext, c) >= 0:
		default:
			return fmt.Errorf("%w: the local part has a space, quote, @ or control character (quoted local parts are not accepted)", ErrAddress)
		}
	}
	return nil
}

func checkDomain(d string) error {
	switch {
	case d == "":
		return fmt.Errorf("%w: the domain (after @) is empty", ErrAddress)
	case len(d) > MaxDomain:
		return fmt.Errorf("%w: the domain is %d bytes, the limit is %d", ErrAddress, len(d), MaxDomain)
	case d[0] == '[':
		return fmt.Errorf("%w: address literals ([1.2.3.4]) are not accepted", ErrAddress)
	}
	if strings.IndexByte(d, '.') < 0 {
		return fmt.Errorf("%w: the domain has a single label (no dot)", ErrAddress)
	}
	for rest := d; ; {
		lb, tail, more := strings.Cut(rest, ".")
		if err := checkLabel(lb); err != nil {
			return err
		}
		if !more {
			return nil
		}
		rest = tail
	}
}

func checkLabel(lb string) error {
	switch {
	case lb == "":
		return fmt.Errorf("%w: the domain has an empty label (a leading, trailing or double dot)", ErrAddress)
	case len(lb) > MaxLabel:
		return fmt.Errorf("%w: a domain label is %d bytes, the limit is %d", ErrAddress, len(lb), MaxLabel)
	case lb[0] == '-' || lb[len(lb)-1] == '-':
		return fmt.Errorf("%w: a domain label starts or ends with a hyphen", ErrAddress)
	}
	for i := 0; i < len(lb); i++ {
		c := lb[i]
		switch {
		case c >= 0x80:
			return fmt.Errorf("%w: the domain has a non-ASCII character; give it in IDNA form (xn--…, e.g. `idn2` or Python's str.encode(\"idna\"))", ErrAddress)
		case isAlnum(c) || c == '-':
		default:
			return fmt.Errorf("%w: the domain has a character other than letters, digits, hyphens and dots", ErrAddress)
		}
	}
	return nil
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// CheckDomain checks a bare domain (ASCII LDH labels, IDNA form), as
// written in an allow-list of sender domains.
func CheckDomain(d string) error { return checkDomain(d) }

// name reports whether s is 1 to 64 letters, digits or one of extra.
func name(s, extra string) bool {
	if len(s) < 1 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isAlnum(s[i]) && strings.IndexByte(extra, s[i]) < 0 {
			return false
		}
	}
	return true
}

// Errors of CheckCampaignID and CheckTemplate.
var (
	ErrCampaignID = errors.New("invalid campaign id: use 1 to 64 letters, digits, '.', '_' or '-'")
	ErrTemplate   = errors.New("invalid template name: use the SES template name, 1 to 64 letters, digits, '_' or '-'")
)

// CheckCampaignID checks a campaign id: it is part of ledger keys and fence
// keys (campaign:user), so it holds no colon.
func CheckCampaignID(id string) error {
	if !name(id, "._-") {
		return ErrCampaignID
	}
	return nil
}

// CheckTemplate checks an SES template name.
func CheckTemplate(template string) error {
	if !name(template, "_-") {
		return ErrTemplate
	}
	return nil
}
