package job

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Strings that exercise every escape encoding/json makes.
var trickyStrings = []string{
	"",
	"plain",
	`quote " and backslash \ and slash /`,
	"controls \x00\x01\x07\b\t\n\v\f\r\x1b\x1f\x7f",
	"html <b>&amp;</b> >",
	"line sep \u2028 para sep \u2029 end",
	"unicode é ü 日本語 🙂",
	"invalid \xff \xfe\xfd utf8 \xc3 trailing \xe2\x80",
	"\xed\xa0\x80 surrogate half",
	"\xf4\x90\x80\x80 beyond U+10FFFF",
	string([]byte{0xe2, 0x80, 0xa8}) + string([]byte{0xe2, 0x80, 0xa9}),
	"\ufffd literal replacement",
	strings.Repeat("long ", 100),
}

// Template data as json.RawMessage: json.Marshal checks it, compacts it and
// escapes <, >, &, U+2028 and U+2029 in it.
var trickyData = []string{
	`{}`,
	`{"kwh":"42"}`,
	` { "a" : 1 ,` + "\n\t" + `"b" : [ 1 , 2 , { "c" : null } ] , "d":true,"e":false } ` + "\n",
	`{"html":"<script>&</script>","sep":"` + "\u2028\u2029" + `","esc":"\u2028\"\\ \n"}`,
	`{"raw utf8":"` + "\xff\xfe" + `", "ok":"é"}`,
	`{"n":-1.5e+10,"m":0,"s":"a b\tc"}`,
	`{"nested":{"x":{"y":[[],[{}]]}}}`,
	`{"name":"User 1","kwh":"1234"}`,
	`{"a":"` + "\xff\xc3é\x7f" + `","":""}`,
	`{"a":"b","c":"d","e":""}`,
	`[1,2]`, // not an object: Validate rejects it, but it encodes
	`"str"`,
	`null`,
}

func tricky(t testing.TB) []*Job {
	var jobs []*Job
	for _, s := range trickyStrings {
		j := validJob()
		j.Campaign, j.UserID, j.Email, j.Template, j.From, j.ConfigurationSet = s, s, s, s, s, s
		j.Headers = map[string]string{s: s, "List-Unsubscribe": "<https://x/u?a=1&b=" + s + ">"}
		jobs = append(jobs, j)
	}
	for _, d := range trickyData {
		j := validJob()
		j.Data = json.RawMessage(d)
		jobs = append(jobs, j)
	}
	loc := time.FixedZone("odd", -(5*3600 + 30*60 + 17))
	jobs = append(jobs, []*Job{
		{}, // every field zero (Encode sets the version)
		{Version: 1, Campaign: "c", Attempt: -3, Data: json.RawMessage{}, Headers: map[string]string{}},
		{Version: -7, Attempt: 1 << 40, CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 123456789, loc)},
		{Version: 1, CreatedAt: time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)},
		{Version: 1, CreatedAt: time.Date(0, 1, 1, 0, 0, 0, 1000, time.FixedZone("", 23*3600+59*60))},
		{Version: 1, CreatedAt: time.Now(), ExpiresAt: ptr(time.Now().Add(time.Hour).Local())},
		{Version: 1, Headers: map[string]string{"b": "2", "a": "1", "c": "", "": "empty key", "A": "upper"}},
		{Version: 1, Headers: manyHeaders(20)},
	}...)
	return jobs
}

func ptr[T any](v T) *T { return &v }

func manyHeaders(n int) map[string]string {
	h := map[string]string{}
	for i := range n {
		h[strings.Repeat("k", n-i)] = strings.Repeat("v", i)
	}
	return h
}

// checkSameAsMarshal encodes j both ways and requires the same bytes (or
// the same error), and that Decode gives the same job from both.
func checkSameAsMarshal(t *testing.T, j *Job) {
	t.Helper()
	if j.Version == 0 {
		j.Version = SchemaVersion // as Encode does
	}
	want, wantErr := json.Marshal(j)
	got, err := j.Encode()
	if wantErr != nil {
		require.Error(t, err)
		require.ErrorContains(t, err, wantErr.Error())
		return
	}
	require.NoError(t, err)
	require.Equal(t, string(want), string(got))
	// ... and not because Encode fell back to json.Marshal.
	fast, ok := j.appendJSON(nil)
	require.True(t, ok, "hand-written encoder gave up on a job json.Marshal encodes")
	require.Equal(t, string(want), string(fast))

	// Decoded back, both by encoding/json and by Decode when the job is
	// valid: the same job.
	var a, b Job
	require.NoError(t, json.Unmarshal(want, &a))
	require.NoError(t, json.Unmarshal(got, &b))
	require.Equal(t, a, b)
	da, errA := Decode(want)
	db, errB := Decode(got)
	require.Equal(t, errA, errB)
	require.Equal(t, da, db)

	// The record carries the same value, and the key is the user id.
	r, err := Record("t", j)
	require.NoError(t, err)
	require.Equal(t, string(want), string(r.Value))
	require.Equal(t, j.UserID, string(r.Key))
	require.Equal(t, j.Campaign, Header(r, HeaderCampaign))
}

func TestEncodeMatchesMarshal(t *testing.T) {
	for i, j := range tricky(t) {
		t.Run(strings.ToValidUTF8(j.UserID+"/"+string(j.Data), "?")+"/"+string(rune('a'+i%26)), func(t *testing.T) {
			checkSameAsMarshal(t, j)
		})
	}
}

// TestEncodeDecodeFields checks a round trip field by field for strings
// that encoding/json changes on the way (invalid UTF-8 comes back as
// U+FFFD).
func TestEncodeDecodeFields(t *testing.T) {
	for _, s := range trickyStrings {
		j := validJob()
		j.Campaign, j.UserID, j.Email, j.Template, j.From, j.ConfigurationSet = "c"+s, "u"+s, "e"+s, "t"+s, "f"+s, "s"+s
		j.Headers = map[string]string{"h" + s: "v" + s}
		j.Data = json.RawMessage(`{"x":` + string(mustMarshal(t, s)) + `}`)
		b, err := j.Encode()
		require.NoError(t, err)
		got, err := Decode(b)
		require.NoError(t, err)
		fix := func(x string) string { return string([]rune(x)) } // invalid byte -> U+FFFD
		require.Equal(t, fix(j.Campaign), got.Campaign)
		require.Equal(t, fix(j.UserID), got.UserID)
		require.Equal(t, fix(j.Email), got.Email)
		require.Equal(t, fix(j.Template), got.Template)
		require.Equal(t, fix(j.From), got.From)
		require.Equal(t, fix(j.ConfigurationSet), got.ConfigurationSet)
		require.Equal(t, map[string]string{fix("h" + s): fix("v" + s)}, got.Headers)
		require.JSONEq(t, string(j.Data), string(got.Data))
		require.True(t, j.CreatedAt.Equal(got.CreatedAt))
		require.True(t, j.ExpiresAt.Equal(*got.ExpiresAt))
		require.Equal(t, j.Attempt, got.Attempt)
		require.Equal(t, j.Version, got.Version)
	}
}

func mustMarshal(t *testing.T, v any) []byte {
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

func TestEncodeErrorsAsMarshal(t *testing.T) {
	for name, mutate := range map[string]func(*Job){
		"data not json":        func(j *Job) { j.Data = json.RawMessage(`{"a":`) },
		"data two values":      func(j *Job) { j.Data = json.RawMessage(`{} {}`) },
		"data key after value": func(j *Job) { j.Data = json.RawMessage(`{"a":"b":"c"}`) },
		"data trailing comma":  func(j *Job) { j.Data = json.RawMessage(`{"a":"b",}`) },
		"data no value":        func(j *Job) { j.Data = json.RawMessage(`{"a"}`) },
		"data control char":    func(j *Job) { j.Data = json.RawMessage("{\"a\":\"\x01\"}") },
		"data two objects":     func(j *Job) { j.Data = json.RawMessage(`{"a":"b"}{"c":"d"}`) },
		"data bad literal":     func(j *Job) { j.Data = json.RawMessage(`{"a":tru}`) },
		"data only spaces":     func(j *Job) { j.Data = json.RawMessage("  ") },
		"year 10000":           func(j *Job) { j.CreatedAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) },
		"year -1":              func(j *Job) { j.ExpiresAt = ptr(time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC)) },
		"zone hour 24":         func(j *Job) { j.CreatedAt = time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("", 24*3600)) },
		"zone hour 99 neg":     func(j *Job) { j.CreatedAt = time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("", -99*3600)) },
		"zone with seconds":    func(j *Job) { j.CreatedAt = time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("", 3600+7)) },
	} {
		t.Run(name, func(t *testing.T) {
			j := validJob()
			mutate(j)
			checkSameAsMarshal(t, j)
		})
	}
}

// FuzzEncode holds the hand-written encoder byte-identical to json.Marshal
// for any strings, template data, times and numbers.
func FuzzEncode(f *testing.F) {
	for i, s := range trickyStrings {
		f.Add(s, s, trickyData[i%len(trickyData)], int64(i)*1e17, int32(i*3600), i, i%3 == 0)
	}
	f.Add("u", "a@example.com", `{"a":1}`, int64(-62135596800), int32(0), 0, true)
	f.Fuzz(func(t *testing.T, s1, s2, data string, unixNano int64, offset int32, n int, hdr bool) {
		at := time.Unix(0, unixNano).In(time.FixedZone("z", int(offset%200000)))
		j := &Job{
			Version: n % 3, Campaign: s1, UserID: s2, Email: s1 + s2, Template: s2, From: s1,
			ConfigurationSet: s2, Data: json.RawMessage(data), CreatedAt: at, Attempt: n,
		}
		if hdr {
			j.Headers = map[string]string{s1: s2, s2: s1, "List-Unsubscribe": s2}
			j.ExpiresAt = ptr(at.Add(time.Duration(n) * time.Hour).UTC())
		}
		checkSameAsMarshal(t, j)
	})
}

// FuzzPlainObject: what plainObject lets through as it is must be valid JSON
// that json.Marshal writes unchanged.
func FuzzPlainObject(f *testing.F) {
	for _, d := range trickyData {
		f.Add(d)
	}
	f.Add(`{"a":"b":"c"}`)
	f.Add(`{"a":"b"}{"c":"d"}`)
	f.Fuzz(func(t *testing.T, d string) {
		if !plainObject([]byte(d)) {
			return
		}
		require.True(t, json.Valid([]byte(d)), "%q", d)
		out, err := json.Marshal(json.RawMessage(d))
		require.NoError(t, err)
		require.Equal(t, d, string(out))
	})
}

func TestPlainObject(t *testing.T) {
	for d, want := range map[string]bool{
		`{}`: true, `{"a":"b"}`: true, `{"name":"User 1","kwh":"1234"}`: true, `{"":""}`: true,
		"{\"a\":\"\xff\"}": true,
		`{"a":1}`:          false, `{"a":"<"}`: false, `{"a":"\n"}`: false, `{ "a":"b"}`: false, `{"a":"b" }`: false,
		`{"a":"b":"c"}`: false, `{"a":"b",}`: false, `{"a"}`: false, `{"a":"b"}{}`: false, `[]`: false, `{`: false,
		"{\"a\":\"\u2028\"}": false,
	} {
		require.Equal(t, want, plainObject([]byte(d)), d)
	}
}
