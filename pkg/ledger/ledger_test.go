package ledger

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestRecordRoundTrip(t *testing.T) {
	e := Entry{Campaign: "2026-11", UserID: "u1", State: Sent, At: time.Date(2026, 11, 1, 6, 0, 0, 0, time.UTC), MessageID: "m-1", Attempt: 2,
		Reason: ReasonSettledByEvent, AttemptID: "a-1", Fact: FactBounced, BounceType: BounceHard}
	r, err := Record("p.ledger", e)
	require.NoError(t, err)
	require.Equal(t, "p.ledger", r.Topic)
	require.Equal(t, "2026-11:u1", string(r.Key))
	got, err := Decode(r.Value)
	require.NoError(t, err)
	require.Equal(t, e, got)
}

func TestDecodeRejects(t *testing.T) {
	for _, raw := range []string{`{`, `{}`, `{"campaign":"c","user_id":"u"}`, `{"campaign":"c","state":"sent"}`} {
		_, err := Decode([]byte(raw))
		require.Error(t, err, raw)
	}
}

func TestTerminal(t *testing.T) {
	tests := map[State]bool{Sent: true, Failed: true, DeadLettered: true, Expired: true, Ambiguous: true, Retrying: false, Redriven: false}
	for s, want := range tests {
		require.Equal(t, want, s.Terminal(), s)
	}
}

func TestDecodeState(t *testing.T) {
	r, err := Record("p.ledger", Entry{Campaign: "2026-11", UserID: "u1", State: Ambiguous, At: time.Now(), Reason: `lease expired "state":"sent"`})
	require.NoError(t, err)
	st, err := DecodeState(r.Value)
	require.NoError(t, err)
	require.Equal(t, Ambiguous, st)
	for _, raw := range []string{`{`, `{}`, `{"campaign":"c","user_id":"u"}`, `{"state":7}`} {
		_, err := DecodeState([]byte(raw))
		require.Error(t, err, raw)
	}
}

func TestNewFieldsOmittedWhenEmpty(t *testing.T) {
	r, err := Record("p.ledger", Entry{Campaign: "c", UserID: "u", State: Sent, At: time.Date(2026, 11, 1, 6, 0, 0, 0, time.UTC)})
	require.NoError(t, err)
	require.JSONEq(t, `{"campaign":"c","user_id":"u","state":"sent","at":"2026-11-01T06:00:00Z"}`, string(r.Value))
	r, err = Record("p.ledger", Entry{Campaign: "c", UserID: "u", State: Sent, At: time.Date(2026, 11, 1, 6, 0, 0, 0, time.UTC), Fact: FactBounced, BounceType: BounceSoft, AttemptID: "a"})
	require.NoError(t, err)
	require.JSONEq(t, `{"campaign":"c","user_id":"u","state":"sent","at":"2026-11-01T06:00:00Z","fact":"bounced","bounce_type":"soft","attempt_id":"a"}`, string(r.Value))
}
