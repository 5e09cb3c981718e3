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
		{"claimed", inflightValue(Claimed, at, "tok"), Record{State: Claimed, Deadline: at, Owner: "tok"}},
		{"sending", inflightValue(Sending, at, "tok"), Record{State: Sending, Deadline: at, Owner: "tok"}},
		{"sent packed", terminalValue(Sent, at, packMessageID(sesID)), Record{State: Sent, At: at, MessageID: sesID}},
		{"sent verbatim", terminalValue(Sent, at, "ses-1|x"), Record{State: Sent, At: at, MessageID: "ses-1|x"}},
		{"failed", terminalValue(Failed, at, "bad | address"), Record{State: Failed, At: at, Reason: "bad | address"}},
		{"ambiguous", terminalValue(Ambiguous, at, "timeout"), Record{State: Ambiguous, At: at, Reason: "timeout"}},
		{"dead", terminalValue(DeadLettered, at, "max attempts"), Record{State: DeadLettered, At: at, Reason: "max attempts"}},
		{"expired", terminalValue(Expired, at, ""), Record{State: Expired, At: at}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeValue(tt.value)
			require.NoError(t, err)
			require.True(t, tt.want.At.Equal(got.At) && tt.want.Deadline.Equal(got.Deadline))
			got.At, got.Deadline, tt.want.At, tt.want.Deadline = time.Time{}, time.Time{}, time.Time{}, time.Time{}
			require.Equal(t, tt.want, got)
		})
	}
	require.Equal(t, "s|1763051123456|"+packMessageID(sesID), terminalValue(Sent, at, packMessageID(sesID)))
	require.LessOrEqual(t, len(terminalValue(Sent, at, packMessageID(sesID))), 44, "a sent value must fit Redis's 44-byte embedded string")
}

func TestDecodeValueRejectsGarbage(t *testing.T) {
	for _, v := range []string{"", "x", "s|1", "q|1|a", "s|abc|a", "ss|1|a"} {
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
