package sesfault

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/stretchr/testify/require"

	"github.com/sendonce/sendonce/pkg/retry"
	"github.com/sendonce/sendonce/pkg/ses"
	"github.com/sendonce/sendonce/pkg/sesfake"
	"github.com/sendonce/sendonce/pkg/testenv"
)

func sesClient(url string) *ses.Client {
	api := sesv2.New(sesv2.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(url),
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDTEST", "SECRET", ""),
	})
	// The emulator is shared by every package under test and answers one
	// request at a time: give calls room (this is no timing test).
	return ses.NewFromAPI(api, ses.Config{Timeout: time.Minute}, nil)
}

// TestClassifiedBySES checks that each fault reaches pkg/ses with the class
// the sender acts on, and what upstream really accepted.
func TestClassifiedBySES(t *testing.T) {
	for _, tc := range []struct {
		name     string
		cfg      Config
		class    retry.Class
		accepted int
	}{
		{"throttle", Config{ThrottleRatio: 1}, retry.Throttled, 0},
		{"rate cap", Config{RateCap: 0.001, RateBurst: 1}, retry.Throttled, 0},
		{"503", Config{Err503Ratio: 1}, retry.Ambiguous, 0},
		{"503 after", Config{Err503AfterRatio: 1}, retry.Ambiguous, 1},
		{"reject", Config{RejectRecipient: func(string) bool { return true }}, retry.Permanent, 0},
		{"none", Config{}, "", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := sesfake.New(sesfake.Config{})
			require.NoError(t, fake.Start())
			defer fake.Close()
			require.NoError(t, fake.CreateTemplate("t", "s", "", "x"))
			tc.cfg.Target = fake.URL()
			p := newProxy(t, tc.cfg)
			c := sesClient(p.URL())
			if tc.name == "rate cap" { // spend the one token
				_, err := c.Send(context.Background(), ses.Message{From: "a@example.com", To: "first@example.org", Template: "t"})
				require.NoError(t, err)
			}
			_, err := c.Send(context.Background(), ses.Message{From: "a@example.com", To: "u@example.org", Template: "t"})
			if tc.class == "" {
				require.NoError(t, err)
			} else {
				var se *ses.SendError
				require.ErrorAs(t, err, &se)
				require.Equal(t, tc.class, se.Class, "%v", err)
			}
			require.Equal(t, tc.accepted, fake.Accepted("u@example.org"))
		})
	}
}

// TestInFrontOfEmulator runs the proxy in front of the real SES emulator,
// as the chaos test does.
func TestInFrontOfEmulator(t *testing.T) {
	endpoint := testenv.SESEndpoint(t)
	p := newProxy(t, Config{Target: endpoint, Err503AfterRatio: 1, MinLatency: time.Millisecond, MaxLatency: 5 * time.Millisecond})
	c := sesClient(p.URL())
	ctx := context.Background()
	name := testenv.Name(t, "tmpl")
	require.NoError(t, c.CreateTemplate(ctx, name, "Hi {{name}}", "", "Hello {{name}}"))
	a, err := c.Account(ctx)
	require.NoError(t, err)
	require.Positive(t, a.MaxSendRate)

	_, err = c.Send(ctx, ses.Message{From: "a@example.com", To: name + "@example.org", Template: name, TemplateData: `{"name":"Ann"}`})
	var se *ses.SendError
	require.ErrorAs(t, err, &se)
	require.Equal(t, retry.Ambiguous, se.Class)
	s := p.Stats()
	require.Equal(t, 1, s.SendEmail)
	require.Equal(t, 1, s.AcceptedAfter503, "the emulator accepted it")
	require.Equal(t, 3, s.Requests)
}
