package reconcile

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sendonce/sendonce/pkg/ledger"
	"github.com/sendonce/sendonce/pkg/pseudonym"
)

func TestParseEventTypes(t *testing.T) {
	for _, tc := range []struct {
		typ        string
		extra      map[string]any
		label      string
		verdict    Verdict
		fact       Fact
		bounceType string
		reason     string
	}{
		{"Send", nil, "Send", VerdictSent, FactNone, "", ""},
		{"DeliveryDelay", map[string]any{"deliveryDelay": map[string]any{"delayType": "MailboxFull"}}, "DeliveryDelay", VerdictSent, FactNone, "", ""},
		{"Delivery", nil, "Delivery", VerdictSent, FactDelivered, "", ""},
		{"Bounce", bounceHard, "Bounce", VerdictSent, FactBounced, ledger.BounceHard, ""},
		{"Bounce", bounceSoft, "Bounce", VerdictSent, FactBounced, ledger.BounceSoft, ""},
		{"Complaint", map[string]any{"complaint": map[string]any{"complaintFeedbackType": "abuse"}}, "Complaint", VerdictSent, FactComplained, "", ""},
		{"Open", nil, "Open", VerdictSent, FactNone, "", ""},
		{"Reject", rejectBad, "Reject", VerdictFailed, FactNone, "", "rejected by SES: Bad content"},
		{"Rendering Failure", renderFail, "RenderingFailure", VerdictFailed, FactNone, "", "rendering failure of template MyTemplate: Attribute 'name' is not present in the rendering data."},
		{"RenderingFailure", map[string]any{"renderingFailure": map[string]any{"errorMessage": "boom"}}, "RenderingFailure", VerdictFailed, FactNone, "", "rendering failure: boom"},
	} {
		raw := sesJSON(t, evSpec{typ: tc.typ, campaign: "2026-11", user: "u-1", attempt: "a1", extra: tc.extra})
		for name, body := range map[string][]byte{"raw": raw, "sns": snsWrap(t, raw), "sns with spaces": append([]byte("\n "), snsWrap(t, raw)...)} {
			ev, err := parse(body, testKey)
			require.NoError(t, err, tc.typ, name)
			require.True(t, ev.known && ev.ours, tc.typ, name)
			require.Equal(t, tc.label, ev.label)
			require.Equal(t, SettleEvent{Campaign: "2026-11", User: "u-1", Attempt: "a1", Verdict: tc.verdict, Fact: tc.fact,
				MessageID: "ses-u-1-a1", Reason: tc.reason}, ev.settle, tc.typ, name)
			require.Equal(t, tc.bounceType, ev.bounceType, tc.typ)
		}
	}
}

func TestParseOtherSenders(t *testing.T) {
	ref, err := pseudonym.SealUserRef([]byte(strings.Repeat("o", 32)), "u-1")
	require.NoError(t, err)
	for name, tags := range map[string]map[string][]string{
		"no tags":               {},
		"only ses tags":         {"ses:configuration-set": {"shared"}},
		"no attempt":            {TagCampaign: {"c"}, TagUserRef: {ref}},
		"another key":           {TagCampaign: {"c"}, TagAttempt: {"a"}, TagUserRef: {ref}},
		"a ref that is not one": {TagCampaign: {"c"}, TagAttempt: {"a"}, TagUserRef: {"abc"}},
	} {
		ev, err := parse(snsWrap(t, sesJSON(t, evSpec{typ: "Send", tags: tags})), testKey)
		require.NoError(t, err, name)
		require.True(t, ev.known, name)
		require.False(t, ev.ours, name)
	}
}

func TestParseUnparsableAndIgnored(t *testing.T) {
	for name, body := range map[string]string{
		"garbage":          "hello",
		"empty":            "",
		"array":            `[1,2]`,
		"no event type":    `{"mail":{"messageId":"m"}}`,
		"no message id":    `{"eventType":"Send","mail":{}}`,
		"bad envelope":     `{"Type":"Notification","Message":"not json"}`,
		"wrong field type": `{"eventType":7,"mail":{"messageId":"m"}}`,
	} {
		ev, err := parse([]byte(body), testKey)
		require.ErrorIs(t, err, ErrUnparsable, name)
		require.Equal(t, eventUnparsable, ev.label, name)
	}
	ev, err := parse([]byte(`{"Type":"SubscriptionConfirmation","Message":"You have chosen to subscribe","SubscribeURL":"https://sns"}`), testKey)
	require.NoError(t, err)
	require.True(t, ev.notEvent)
	ev, err = parse(sesJSON(t, evSpec{typ: "Subscription", campaign: "c", user: "u", attempt: "a"}), testKey)
	require.NoError(t, err)
	require.False(t, ev.known)
	require.Equal(t, eventOther, ev.label)
}

// A campaign id that SES's tag charset alters (a dot) reaches the event as
// an altered campaign tag; the sender sealed the real one in user_ref.
func TestParseCampaignSealedWithTheUser(t *testing.T) {
	ref, err := pseudonym.SealUserRef(testKey, "2026.11"+pseudonym.RefSeparator+"u-1")
	require.NoError(t, err)
	tags := map[string][]string{TagCampaign: {"2026_11-1a2b3c4d"}, TagAttempt: {"a1"}, TagUserRef: {ref}}
	ev, err := parse(snsWrap(t, sesJSON(t, evSpec{typ: "Send", tags: tags})), testKey)
	require.NoError(t, err)
	require.True(t, ev.ours)
	require.Equal(t, "2026.11", ev.settle.Campaign)
	require.Equal(t, "u-1", ev.settle.User)
}
