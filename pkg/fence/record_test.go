package fence

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const sesID = "0100018c7e3a2b1f-9f6a2c1e-3b7d-4e2a-8f1c-2d9e6b5a4c3f-000000"

func TestMessageIDPacking(t *testing.T) {
	tests := []struct {
		id     string
		packed bool
	}{
		{sesID, true},
		{"0100018c7e3a2b1f-00000000-0000-0000-0000-000000000000-999999", true},
		{"0100018C7E3A2B1F-9F6A2C1E-3B7D-4E2A-8F1C-2D9E6B5A4C3F-000000", false}, // upper case would not round-trip
		{"ses-123", false},
		{"", false},
		{"0100018c7e3a2b1f-9f6a2c1e-3b7d-4e2a-8f1c-2d9e6b5a4c3f-00000", false},
		{"0100018c7e3a2b1f-9f6a2c1e-3b7d-4e2a-8f1c-2d9e6b5a4c3g-000000", false},
		{"a|b|c", false},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			p := packMessageID(tt.id)
			if tt.packed {
				require.Len(t, p, 28)
			} else {
				require.Equal(t, tt.id, p)
			}
			require.Equal(t, tt.id, unpackMessageID(p))
		})
	}
}

func TestValueRoundTrip(t *testing.T) {
	at := time.UnixMilli(1763051123456)
	tests := []struct {
		name  string
		value string
		want  Record
	}{
		{"claimed", inflightValue(Claimed, at, "tok"), Record{State: Claimed, Deadline: at, Owner: "tok", Attempt: "tok"}},
		{"sending", inflightValue(Sending, at, "tok"), Record{State: Sending, Deadline: at, Owner: "tok", Attempt: "tok"}},
		{"resend claimed", "C|1763051123456|tok|", Record{State: Claimed, Deadline: at, Owner: "tok", Attempt: "tok", Resend: true}},
		{"sent packed", terminalValue(Sent, at, "AAAAAAAAAAA", packMessageID(sesID)), Record{State: Sent, At: at, MessageID: sesID, Attempt: "AAAAAAAAAAA"}},
		{"sent verbatim", terminalValue(Sent, at, "att", "ses-1|x"), Record{State: Sent, At: at, MessageID: "ses-1|x", Attempt: "att"}},
		{"sent by event, complained", "s*3|1763051123456|att|m", Record{State: Sent, At: at, MessageID: "m", Attempt: "att", ByEvent: true, Fact: FactComplained}},
		{"sent, delivered", "s1|1763051123456|att|m", Record{State: Sent, At: at, MessageID: "m", Attempt: "att", Fact: FactDelivered}},
		{"failed", terminalValue(Failed, at, "att", "bad | address"), Record{State: Failed, At: at, Reason: "bad | address", Attempt: "att"}},
		{"failed by event", "f*|1763051123456|att|Rendering", Record{State: Failed, At: at, Reason: "Rendering", Attempt: "att", ByEvent: true}},
		{"ambiguous", terminalValue(Ambiguous, at, "att", "timeout"), Record{State: Ambiguous, At: at, Reason: "timeout", Attempt: "att"}},
		{"dead", terminalValue(DeadLettered, at, "att", "max attempts"), Record{State: DeadLettered, At: at, Reason: "max attempts", Attempt: "att"}},
		{"expired", terminalValue(Expired, at, "att", ""), Record{State: Expired, At: at, Attempt: "att"}},
		{"restored", terminalValue(Expired, at, "", ""), Record{State: Expired, At: at}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeValue(tt.value)
			require.NoError(t, err)
			require.True(t, tt.want.At.Equal(got.At) && tt.want.Deadline.Equal(got.Deadline))
			got.At, got.Deadline, tt.want.At, tt.want.Deadline = time.Time{}, time.Time{}, time.Time{}, time.Time{}
			require.Equal(t, tt.want, got)
			if tt.want.State.Terminal() {
				tt.want.At = at
				v, err := encodeRecord(tt.want)
				require.NoError(t, err)
				require.Equal(t, tt.value, v, "encodeRecord is the inverse")
			}
		})
	}
	sent := terminalValue(Sent, at, "AAAAAAAAAAA", packMessageID(sesID))
	require.Equal(t, "s|1763051123456|AAAAAAAAAAA|"+packMessageID(sesID), sent)
	// A hash stays a compact listpack while every value is at most
	// hash-max-listpack-value (64) bytes: a sent record with both flags
	// and a failed one with the longest reason must fit.
	require.LessOrEqual(t, len("s*3"+sent[1:]), 64)
	require.LessOrEqual(t, len(terminalValue(Failed, at, "AAAAAAAAAAA", strings.Repeat("x", MaxReason))), 64)
}

func TestDecodeValueRejectsGarbage(t *testing.T) {
	for _, v := range []string{"", "x", "s|1", "s|1|a", "q|1|a|b", "s|abc|a|b", "sz|1|a|b", "s*1x|1|a|b"} {
		_, err := decodeValue(v)
		require.ErrorIs(t, err, errBadValue, v)
	}
}

func TestEncodeRecordOnlyTerminal(t *testing.T) {
	_, err := encodeRecord(Record{State: Sending})
	require.Error(t, err)
	v, err := encodeRecord(Record{State: Failed, At: time.UnixMilli(5), Reason: strings.Repeat("é", 100)})
	require.NoError(t, err)
	r, err := decodeValue(v)
	require.NoError(t, err)
	require.LessOrEqual(t, len(r.Reason), MaxReason)
	require.True(t, strings.HasPrefix(strings.Repeat("é", 100), r.Reason))
	require.Equal(t, strings.Repeat("é", MaxReason/2), r.Reason)
}

func TestOutcomeString(t *testing.T) {
	require.Equal(t, "won", Won.String())
	require.Equal(t, "held", Held.String())
	require.Equal(t, "Outcome(9)", Outcome(9).String())
}
