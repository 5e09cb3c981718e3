package producer

import (
	"bytes"
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/stretchr/testify/require"

	"github.com/sendonce/sendonce/pkg/pseudonym"
	"github.com/sendonce/sendonce/pkg/ses"
	"github.com/sendonce/sendonce/pkg/sesfake"
)

// fakeSES starts sesfake (keeping every email) and a real ses.Client on it.
func fakeSES(t *testing.T) (*sesfake.Server, *ses.Client) {
	t.Helper()
	for k, v := range map[string]string{"AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"} {
		t.Setenv(k, v)
	}
	srv := sesfake.New(sesfake.Config{Keep: true})
	require.NoError(t, srv.Start())
	t.Cleanup(func() { _ = srv.Close() })
	cl, err := ses.New(context.Background(), ses.Config{}, nil, func(o *sesv2.Options) { o.BaseEndpoint = aws.String(srv.URL()) })
	require.NoError(t, err)
	return srv, cl
}

func TestTestSend(t *testing.T) {
	srv, cl := fakeSES(t)
	require.NoError(t, srv.CreateTemplate("monthly_news", "Hi {{first_name}}", "", "Hello {{first_name}}"))
	cfg := testConfig()
	cfg.UnsubscribeURL = "https://example.com/u/{{user_id}}?c={{campaign}}&t={{token}}"
	cfg.UnsubscribeKey = bytes.Repeat([]byte("k"), 32)

	res, err := TestSend(context.Background(), cfg, csvSource(t, 10), "u7", "qa@example.org", cl)
	require.NoError(t, err)
	require.NotEmpty(t, res.MessageID)
	require.Equal(t, 8, res.Row)

	msgs := srv.Messages()
	require.Len(t, msgs, 1, "exactly one email, to the test address")
	m := msgs[0]
	require.Equal(t, res.MessageID, m.MessageID)
	require.Equal(t, []string{"qa@example.org"}, m.To, "sent to --to, not to the user's address")
	require.Equal(t, "Hi Name 7", m.Subject, "rendered with the user's variables")
	require.Equal(t, map[string]string{"campaign": "2026-11", "test": "true"}, m.Tags, "tagged as a test, without the user hash the sender tags")
	require.Equal(t, "marketing", m.ConfigurationSet)
	require.Contains(t, m.Headers, sesfake.Header{Name: HeaderListUnsubscribe,
		Value: "<https://example.com/u/u7?c=2026-11&t=" + pseudonym.UnsubscribeToken(cfg.UnsubscribeKey, "2026-11", "u7") + ">"}, "the user's own unsubscribe link")

	var out bytes.Buffer
	require.NoError(t, res.WriteText(&out))
	require.Contains(t, out.String(), "message id: "+res.MessageID)

	_, err = TestSend(context.Background(), cfg, csvSource(t, 3), "u99", "qa@example.org", cl)
	require.ErrorIs(t, err, ErrUserNotFound)
	cfg.Template = "nosuch"
	_, err = TestSend(context.Background(), cfg, csvSource(t, 3), "u1", "qa@example.org", cl)
	require.ErrorContains(t, err, `rendering template "nosuch"`)
	require.Len(t, srv.Messages(), 1, "nothing sent when the user or the template is wrong")
}

func TestSESPreflightLookups(t *testing.T) {
	srv, cl := fakeSES(t)
	ctx := context.Background()
	require.NoError(t, srv.CreateTemplate("monthly_news", "Hi", "", "Hello"))
	require.NoError(t, cl.Template(ctx, "monthly_news"))
	require.ErrorIs(t, cl.Template(ctx, "nosuch"), ses.ErrTemplateNotFound)

	srv.SetIdentitySending("news@example.com", false)
	srv.SetIdentitySending("example.com", false)
	ok, err := cl.IdentityVerified(ctx, "news@example.com")
	require.NoError(t, err)
	require.False(t, ok)
	srv.SetIdentitySending("example.com", true)
	ok, err = cl.IdentityVerified(ctx, "news@example.com")
	require.NoError(t, err)
	require.True(t, ok, "a verified domain verifies its addresses")
}
