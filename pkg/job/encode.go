package job

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// The job value is written by hand, byte for byte what json.Marshal writes
// for a Job (field order, omitempty, map keys sorted, HTML-safe escaping,
// invalid UTF-8 as \ufffd, U+2028/2029 escaped, template data compacted with
// <, > and & escaped, times in RFC 3339 with nanoseconds): the producer
// encodes every row, and encoding/json's reflection was a third of its CPU.
// Whatever this encoder does not take on (template data that is not valid
// JSON, a time json.Marshal refuses) goes through json.Marshal, so that the
// errors are its errors too. TestAppendJSONMatchesMarshal and
// FuzzAppendJSON hold the two byte-identical.

// appendJSON appends the JSON of j to dst; false means "use json.Marshal"
// (dst is then to be ignored).
func (j *Job) appendJSON(dst []byte) ([]byte, bool) {
	dst, _, ok := j.appendJSONAt(dst)
	return dst, ok
}

// appendJSONAt is appendJSON that also says where in dst the user id's
// string starts (its opening quote), for Record to take the key from.
func (j *Job) appendJSONAt(dst []byte) (_ []byte, userAt int, _ bool) {
	dst = append(dst, `{"v":`...)
	dst = strconv.AppendInt(dst, int64(j.Version), 10)
	dst = append(dst, `,"campaign":`...)
	dst = appendString(dst, j.Campaign)
	dst = append(dst, `,"user_id":`...)
	userAt = len(dst)
	dst = appendString(dst, j.UserID)
	dst = append(dst, `,"email":`...)
	dst = appendString(dst, j.Email)
	dst = append(dst, `,"template":`...)
	dst = appendString(dst, j.Template)
	if len(j.Data) > 0 {
		dst = append(dst, `,"data":`...)
		var ok bool
		if dst, ok = appendCompactData(dst, j.Data); !ok {
			return dst, userAt, false
		}
	}
	dst = append(dst, `,"from":`...)
	dst = appendString(dst, j.From)
	if j.ConfigurationSet != "" {
		dst = append(dst, `,"configuration_set":`...)
		dst = appendString(dst, j.ConfigurationSet)
	}
	if len(j.Headers) > 0 {
		dst = append(dst, `,"headers":`...)
		dst = appendHeaders(dst, j.Headers)
	}
	dst = append(dst, `,"created_at":`...)
	var ok bool
	if dst, ok = appendTime(dst, j.CreatedAt, &lastCreated); !ok {
		return dst, userAt, false
	}
	if j.ExpiresAt != nil {
		dst = append(dst, `,"expires_at":`...)
		if dst, ok = appendTime(dst, *j.ExpiresAt, &lastExpires); !ok {
			return dst, userAt, false
		}
	}
	dst = append(dst, `,"attempt":`...)
	dst = strconv.AppendInt(dst, int64(j.Attempt), 10)
	return append(dst, '}'), userAt, true
}

// sizeHint is the length of the value when no string needs escaping and
// the data is compact: the value is allocated once, at its size.
func (j *Job) sizeHint() int {
	n := len(`{"v":,"campaign":"","user_id":"","email":"","template":"","from":"","created_at":,"attempt":}`) +
		len(j.Campaign) + len(j.UserID) + len(j.Email) + len(j.Template) + len(j.From) +
		intLen(j.Version) + intLen(j.Attempt) + timeLen(j.CreatedAt)
	if len(j.Data) > 0 {
		n += len(`,"data":`) + len(j.Data)
	}
	if j.ConfigurationSet != "" {
		n += len(`,"configuration_set":""`) + len(j.ConfigurationSet)
	}
	if len(j.Headers) > 0 {
		n += len(`,"headers":{}`)
		for k, v := range j.Headers {
			n += len(k) + len(v) + len(`"":"",`) + escapes(k) + escapes(v)
		}
	}
	if j.ExpiresAt != nil {
		n += len(`,"expires_at":`) + timeLen(*j.ExpiresAt)
	}
	return n
}

// escapes is how much longer the escaping of the ASCII in s makes it:
// header values are <URL>, and < and > take six bytes each.
func escapes(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '<' || c == '>' || c == '&' || c < 0x20:
			n += 5
		case c == '"' || c == '\\':
			n++
		}
	}
	return n
}

func intLen(v int) int {
	n := 1
	if v < 0 {
		n, v = 2, -v // the most negative int only makes the hint short
	}
	for ; v >= 10; v /= 10 {
		n++
	}
	return n
}

// timeLen is the length of a quoted RFC 3339 time with nanoseconds, at most
// (the fraction may lose trailing zeros).
func timeLen(t time.Time) int {
	n := len(`"2006-01-02T15:04:05Z"`)
	if t.Nanosecond() != 0 {
		n += len(".999999999")
	}
	if t.Location() != time.UTC {
		n += len("+07:00") - 1
	}
	return n
}

// appendHeaders writes the map with its keys sorted, as encoding/json does.
func appendHeaders(dst []byte, h map[string]string) []byte {
	var buf [8]string
	keys := buf[:0]
	for k := range h {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, strings.Compare)
	dst = append(dst, '{')
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, k)
		dst = append(dst, ':')
		dst = appendString(dst, h[k])
	}
	return append(dst, '}')
}

// appendTime writes t as time.Time.MarshalJSON does, and says false for the
// times it refuses (a year outside [0,9999], a zone hour outside [0,23]);
// last caches the text of the previous time.
func appendTime(dst []byte, t time.Time, last *atomic.Pointer[encodedTime]) ([]byte, bool) {
	if c := last.Load(); c != nil && c.t == t {
		return append(dst, c.b...), true
	}
	n := len(dst)
	dst, ok := formatTime(dst, t)
	if ok {
		last.Store(&encodedTime{t: t, b: slices.Clone(dst[n:])})
	}
	return dst, ok
}

// The last creation and expiry times formatted: a producer run writes the
// same two into every job.
var lastCreated, lastExpires atomic.Pointer[encodedTime]

type encodedTime struct {
	t time.Time // compared with ==: same instant, same location, same text
	b []byte    // quoted
}

func formatTime(dst []byte, t time.Time) ([]byte, bool) {
	dst = append(dst, '"')
	n0 := len(dst)
	dst = t.AppendFormat(dst, time.RFC3339Nano)
	switch {
	case len(dst)-n0 < len("2006-01-02T15:04:05Z"), dst[n0+len("2006")] != '-':
		return dst, false
	case dst[len(dst)-1] != 'Z':
		c := dst[len(dst)-len("Z07:00")]
		hh := dst[len(dst)-len("07:00"):]
		if ('0' <= c && c <= '9') || 10*(hh[0]-'0')+(hh[1]-'0') >= 24 {
			return dst, false
		}
	}
	return append(dst, '"'), true
}

const hexDigits = "0123456789abcdef"

// htmlSafe[b] is true for the ASCII bytes encoding/json writes as they are
// (with HTML escaping on, its default).
var htmlSafe = func() (s [utf8.RuneSelf]bool) {
	for b := 0x20; b < utf8.RuneSelf; b++ {
		s[b] = b != '"' && b != '\\' && b != '<' && b != '>' && b != '&'
	}
	return s
}()

// appendString writes s as encoding/json writes a string.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if htmlSafe[b] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default: // other control bytes, <, > and &
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		if c == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		if c == '\u2028' || c == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[c&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// appendCompactData writes template data as encoding/json writes a
// json.RawMessage: checked, without insignificant whitespace, with <, >, &,
// U+2028 and U+2029 escaped (other bytes, invalid UTF-8 included, as they
// are). False when the data is not valid JSON (json.Marshal's error).
func appendCompactData(dst []byte, d json.RawMessage) ([]byte, bool) {
	if plainObject(d) {
		return append(dst, d...), true
	}
	if !json.Valid(d) {
		return dst, false
	}
	// d is valid JSON: outside strings only whitespace is dropped, inside
	// them only the HTML-sensitive characters change.
	inString, escaped := false, false
	start := 0
	for i := 0; i < len(d); i++ {
		c := d[i]
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			case c == '<' || c == '>' || c == '&':
				dst = append(dst, d[start:i]...)
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
				start = i + 1
			case c == 0xE2 && i+2 < len(d) && d[i+1] == 0x80 && d[i+2]&^1 == 0xA8:
				dst = append(dst, d[start:i]...)
				dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[d[i+2]&0xF])
				i += 2
				start = i + 1
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case ' ', '\t', '\n', '\r':
			dst = append(dst, d[start:i]...)
			start = i + 1
		}
	}
	return append(dst, d[start:]...), true
}

// plainObject reports whether d is a JSON object that json.Marshal writes
// as it is: compact, of string keys and string values only, in which no
// byte needs escaping or dropping — the template data the sources build
// ({"name":"…","kwh":"…"}). Checking that is a fraction of json.Valid's
// cost; anything else (numbers, nesting, escapes, whitespace, <, >, &, a
// possible U+2028/2029) is left to json.Valid and the compaction.
func plainObject(d []byte) bool {
	if len(d) < 2 || d[0] != '{' || d[len(d)-1] != '}' {
		return false
	}
	if len(d) == 2 {
		return true
	}
	i := 1
	str := func() bool { // a plain string at i, i moved past it
		if i >= len(d) || d[i] != '"' {
			return false
		}
		i++
		for i < len(d) && plainByte[d[i]] {
			i++
		}
		if i >= len(d) || d[i] != '"' {
			return false
		}
		i++
		return true
	}
	for {
		if !str() || i >= len(d) || d[i] != ':' {
			return false
		}
		i++
		if !str() || i >= len(d) {
			return false
		}
		switch d[i] {
		case ',':
			i++
		case '}':
			return i == len(d)-1
		default:
			return false
		}
	}
}

// plainByte[b]: b stands for itself in a JSON string and in json.Marshal's
// output of it within a json.RawMessage (bytes of 0x80 and up are kept as
// they are, but for 0xE2, which may start U+2028 or U+2029).
var plainByte = func() (s [256]bool) {
	for b := 0x20; b < 256; b++ {
		s[b] = b != '"' && b != '\\' && b != '<' && b != '>' && b != '&' && b != 0xE2
	}
	return s
}()
