package job

import "regexp"

// addressLike matches anything shaped like an email address, including
// non-ASCII and percent-encoded (%40) ones.
var addressLike = regexp.MustCompile(`[^\s<>"'(),;:=&?\[\]]+(@|%40)[^\s<>"'(),;:\[\]]+`)

// Redacted replaces what an address looks like in s.
const Redacted = "<address>"

// RedactAddresses returns s with every address-like word replaced by
// "<address>". Error text from outside (SES answers, net/mail) can echo the
// recipient; it goes through this before it reaches a ledger entry, a fence
// record, a DLQ header or a log line.
func RedactAddresses(s string) string {
	if !containsAt(s) {
		return s
	}
	return addressLike.ReplaceAllString(s, Redacted)
}

func containsAt(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '@' || s[i] == '%' {
			return true
		}
	}
	return false
}
