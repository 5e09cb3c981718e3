package source

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Required column names.
const (
	ColUserID = "user_id"
	ColEmail  = "email"
)

// columns maps a header (CSV) or result columns (Athena) to the row: where
// user_id and email are, and which columns are template variables.
type columns struct {
	n      int
	userID int
	email  int
	extra  []int    // indexes of the template variables
	keys   [][]byte // `"name":` of each extra column, JSON-encoded once
}

func newColumns(names []string) (*columns, error) {
	c := &columns{n: len(names), userID: -1, email: -1}
	seen := make(map[string]bool, len(names))
	for i, name := range names {
		if i == 0 {
			name = strings.TrimPrefix(name, "\uFEFF") // a byte order mark from spreadsheet exports
		}
		name = strings.TrimSpace(name)
		if name == "" {
			return nil, fmt.Errorf("%w: column %d has no name", ErrBadHeader, i+1)
		}
		if seen[name] {
			return nil, fmt.Errorf("%w: column %q appears twice", ErrBadHeader, name)
		}
		seen[name] = true
		switch name {
		case ColUserID:
			c.userID = i
		case ColEmail:
			c.email = i
		default:
			key, _ := json.Marshal(name)
			c.extra = append(c.extra, i)
			c.keys = append(c.keys, append(key, ':'))
		}
	}
	var missing []string
	if c.userID < 0 {
		missing = append(missing, ColUserID)
	}
	if c.email < 0 {
		missing = append(missing, ColEmail)
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%w %s: the columns are %s; add the missing column (names are case-sensitive)",
			ErrMissingColumn, quoteList(missing), quoteList(names))
	}
	return c, nil
}

func quoteList(names []string) string {
	const show = 20
	q := make([]string, 0, min(len(names), show)+1)
	for i, n := range names {
		if i == show {
			q = append(q, fmt.Sprintf("… (%d more)", len(names)-show))
			break
		}
		q = append(q, fmt.Sprintf("%q", n))
	}
	return strings.Join(q, ", ")
}

// data builds the template data object of a row from its extra columns. A
// column whose null reports true is left out (Athena NULL). It returns nil
// when there are no variables.
func (c *columns) data(vals []string, null []bool) json.RawMessage {
	if len(c.extra) == 0 {
		return nil
	}
	size := 2
	for k, i := range c.extra {
		size += len(c.keys[k]) + len(vals[i]) + 3
	}
	b := make([]byte, 0, size+size/8)
	b = append(b, '{')
	first := true
	for k, i := range c.extra {
		if null != nil && null[i] {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, c.keys[k]...)
		b = appendJSONString(b, vals[i])
	}
	return append(b, '}')
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string: quotes, backslashes and
// control characters escaped, invalid UTF-8 replaced by U+FFFD, like
// encoding/json (without its HTML escaping, which JSON does not need).
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
