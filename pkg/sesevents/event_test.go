package sesevents

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The testdata files are the event records of the SES developer guide,
// "Examples of event data that Amazon SES publishes to Amazon SNS"
// (DeliveryDelay from the same guide), with long header lists trimmed.

func TestRoundTripAWSExamples(t *testing.T) {
	for _, tc := range []struct {
		file  string
		typ   Type
		check func(t *testing.T, e Event)
	}{
		{"send.json", Send, func(t *testing.T, e Event) {
			require.NotNil(t, e.Send)
			require.Equal(t, "myCustomTagValue1", e.Tag("myCustomTag1"))
			require.Len(t, e.Mail.Headers, 6)
			require.Equal(t, "Message sent from Amazon SES", e.Mail.CommonHeaders.Subject)
		}},
		{"delivery.json", Delivery, func(t *testing.T, e Event) {
			require.Equal(t, int64(11893), e.Delivery.ProcessingTimeMillis)
			require.Equal(t, []string{"recipient@example.com"}, e.Delivery.Recipients)
		}},
		{"bounce.json", Bounce, func(t *testing.T, e Event) {
			require.Equal(t, "Permanent", e.Bounce.BounceType)
			require.Equal(t, "General", e.Bounce.BounceSubType)
			require.Equal(t, "5.1.1", e.Bounce.BouncedRecipients[0].Status)
		}},
		{"complaint.json", Complaint, func(t *testing.T, e Event) {
			require.Equal(t, "abuse", e.Complaint.ComplaintFeedbackType)
			require.Equal(t, "recipient@example.com", e.Complaint.ComplainedRecipients[0].EmailAddress)
		}},
		{"reject.json", Reject, func(t *testing.T, e Event) {
			require.Equal(t, "Bad content", e.Reject.Reason)
		}},
		{"rendering_failure.json", RenderingFailure, func(t *testing.T, e Event) {
			require.Equal(t, "MyTemplate", e.Failure.TemplateName)
			require.Contains(t, e.Failure.ErrorMessage, "attributeName")
		}},
		{"delivery_delay.json", DeliveryDelay, func(t *testing.T, e Event) {
			require.Equal(t, "TransientCommunicationFailure", e.DeliveryDelay.DelayType)
			require.Equal(t, time.Date(2020, 6, 16, 0, 25, 40, 914e6, time.UTC), e.DeliveryDelay.ExpirationTime.Time)
		}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("testdata", tc.file))
			require.NoError(t, err)
			e, err := Parse(raw)
			require.NoError(t, err)
			require.Equal(t, tc.typ, e.EventType)
			require.Equal(t, "EXAMPLE7c191be45-e9aedb9a-02f9-4d12-a87d-dd0099a07f8a-000000", e.Mail.MessageID)
			require.Equal(t, "ConfigSet", e.Tag(TagConfigurationSet))
			tc.check(t, e)
			out, err := json.Marshal(e)
			require.NoError(t, err)
			require.JSONEq(t, string(raw), string(out), "the event writes back as SES wrote it")
		})
	}
}

func TestParseEnvelope(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "send.json"))
	require.NoError(t, err)
	env, err := json.Marshal(map[string]string{
		"Type":      "Notification",
		"MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
		"TopicArn":  "arn:aws:sns:us-east-1:123456789012:ses-events",
		"Message":   string(raw),
		"Timestamp": "2016-10-14T05:02:17.000Z",
	})
	require.NoError(t, err)
	e, err := Parse(env)
	require.NoError(t, err)
	require.Equal(t, Send, e.EventType)
	require.Equal(t, "ConfigSet", e.Tag(TagConfigurationSet))

	for _, bad := range []string{`not json`, `{}`, `{"Type":"Notification","Message":"{}"}`, `{"eventType":"Send","mail":{}}`} {
		_, err := Parse([]byte(bad))
		require.ErrorIs(t, err, ErrNotEvent, bad)
	}
}

func TestNewEvent(t *testing.T) {
	at := time.Date(2026, 11, 30, 8, 0, 0, 123456789, time.UTC)
	a := Accepted{
		MessageID: "m-1", From: "News <news@example.com>", To: []string{"ann@example.org"},
		ConfigurationSet: "marketing", Tags: map[string]string{"campaign": "c1", "user_hash": "h1", "attempt": "a1"},
		Template: "welcome", At: at,
	}
	for _, typ := range []Type{Send, Delivery, Bounce, Complaint, Reject, RenderingFailure, DeliveryDelay} {
		t.Run(string(typ), func(t *testing.T) {
			e := NewEvent(typ, a, at.Add(1500*time.Millisecond))
			b, err := json.Marshal(e)
			require.NoError(t, err)
			back, err := Parse(b)
			require.NoError(t, err)
			require.Equal(t, typ, back.EventType)
			require.Equal(t, "m-1", back.Mail.MessageID)
			require.Equal(t, []string{"ann@example.org"}, back.Mail.Destination)
			require.Equal(t, "News <news@example.com>", back.Mail.Source)
			require.Equal(t, map[string][]string{
				"campaign": {"c1"}, "user_hash": {"h1"}, "attempt": {"a1"},
				TagConfigurationSet: {"marketing"}, "ses:from-domain": {"example.com"},
			}, back.Mail.Tags)
			var m map[string]any
			require.NoError(t, json.Unmarshal(b, &m))
			require.Equal(t, "2026-11-30T08:00:00.123Z", m["mail"].(map[string]any)["timestamp"])
			key := map[Type]string{Send: "send", Delivery: "delivery", Bounce: "bounce", Complaint: "complaint", Reject: "reject", RenderingFailure: "failure", DeliveryDelay: "deliveryDelay"}[typ]
			require.Contains(t, m, key, "the event's own object")
			require.Len(t, m, 3, "eventType, mail and one object")
		})
	}
	require.Equal(t, int64(1500), NewEvent(Delivery, a, at.Add(1500*time.Millisecond)).Delivery.ProcessingTimeMillis)
	require.Equal(t, "welcome", NewEvent(RenderingFailure, a, at).Failure.TemplateName)
}
