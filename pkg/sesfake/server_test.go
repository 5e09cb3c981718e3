package sesfake

import (
	"context"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/stretchr/testify/require"

	"github.com/sendonce/sendonce/pkg/retry"
	"github.com/sendonce/sendonce/pkg/ses"
)

func start(t testing.TB, cfg Config) *Server {
	t.Helper()
	s := New(cfg)
	require.NoError(t, s.Start())
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// sdk is the real SES v2 client pointed at the fake.
func sdk(url string) *sesv2.Client {
	return sesv2.New(sesv2.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(url),
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDTEST", "SECRET", ""),
	})
}

func client(t testing.TB, url string) *ses.Client {
	return ses.NewFromAPI(sdk(url), ses.Config{Timeout: 5 * time.Second}, nil)
}

func message(to string) ses.Message {
	return ses.Message{
		From:         "news@example.com",
		To:           to,
		Template:     "welcome",
		TemplateData: `{"name":"Ann","promo":{"code":"X42"}}`,
		Headers: map[string]string{
			"List-Unsubscribe":      "<https://example.com/u?t=1>",
			"List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
		},
		Tags:             map[string]string{"campaign": "spring-26", "user": "u1"},
		ConfigurationSet: "marketing",
	}
}

func TestSDK(t *testing.T) {
	ctx := context.Background()
	s := start(t, Config{MaxSendRate: 14, Max24HourSend: 50000, Keep: true})
	c := client(t, s.URL())
	api := sdk(s.URL())

	require.NoError(t, c.CreateTemplate(ctx, "welcome", "Old {{name}}", "<p>old</p>", ""))
	require.NoError(t, c.CreateTemplate(ctx, "welcome", "Hello {{name}}", "<p>Hi <b>{{name}}</b>, code {{promo.code}}</p>", "Hi {{name}}, code {{promo.code}}"))
	got, err := api.GetEmailTemplate(ctx, &sesv2.GetEmailTemplateInput{TemplateName: aws.String("welcome")})
	require.NoError(t, err)
	require.Equal(t, "Hello {{name}}", aws.ToString(got.TemplateContent.Subject))

	id, err := c.Send(ctx, message("ann@example.org"))
	require.NoError(t, err)
	require.NotEmpty(t, id)
	require.Equal(t, 1, s.Accepted("ann@example.org"))
	require.Equal(t, 1, s.Count())

	msgs := s.Messages()
	require.Len(t, msgs, 1)
	m := msgs[0]
	require.Equal(t, id, m.MessageID)
	require.Equal(t, "Hello Ann", m.Subject)
	require.Equal(t, "<p>Hi <b>Ann</b>, code X42</p>", m.HTML)
	require.Equal(t, "Hi Ann, code X42", m.Text)
	require.Equal(t, "marketing", m.ConfigurationSet)
	require.Equal(t, map[string]string{"campaign": "spring-26", "user": "u1"}, m.Tags)
	require.Contains(t, m.Headers, Header{"List-Unsubscribe", "<https://example.com/u?t=1>"})

	// Simple content, straight from the SDK.
	_, err = api.SendEmail(ctx, &sesv2.SendEmailInput{
		FromEmailAddress: aws.String("news@example.com"),
		Destination:      &types.Destination{ToAddresses: []string{"bob@example.org"}},
		Content: &types.EmailContent{Simple: &types.Message{
			Subject: &types.Content{Data: aws.String("plain")},
			Body:    &types.Body{Text: &types.Content{Data: aws.String("body")}},
		}},
	})
	require.NoError(t, err)
	require.Equal(t, "plain", s.Messages()[1].Subject)

	a, err := c.Account(ctx)
	require.NoError(t, err)
	require.Equal(t, ses.Account{MaxSendRate: 14, Max24HourSend: 50000, SentLast24Hours: 2, SendingEnabled: true, ProductionAccessEnabled: true}, a)

	mimeText, err := c.Render(ctx, "welcome", `{"name":"Cy"}`)
	require.NoError(t, err)
	require.Contains(t, mimeText, "Subject: Hello Cy")
	require.Contains(t, mimeText, "Hi Cy, code \r\n")

	// Errors the SDK and the classification understand.
	_, err = c.Send(ctx, ses.Message{From: "news@example.com", To: "x@example.org", Template: "nope"})
	requireClass(t, err, retry.Permanent, "NotFoundException")
	_, err = c.Send(ctx, ses.Message{From: "news@example.com", To: "x@example.org", Template: "welcome", TemplateData: "[1]"})
	requireClass(t, err, retry.Permanent, "BadRequestException")
	_, err = c.Render(ctx, "nope", "{}")
	var nf *types.NotFoundException
	require.ErrorAs(t, err, &nf)
	_, err = api.CreateEmailTemplate(ctx, &sesv2.CreateEmailTemplateInput{TemplateName: aws.String("welcome"), TemplateContent: &types.EmailTemplateContent{Subject: aws.String("x")}})
	var ae *types.AlreadyExistsException
	require.ErrorAs(t, err, &ae)
	_, err = api.DeleteEmailTemplate(ctx, &sesv2.DeleteEmailTemplateInput{TemplateName: aws.String("welcome")})
	require.NoError(t, err)
	_, err = api.GetEmailTemplate(ctx, &sesv2.GetEmailTemplateInput{TemplateName: aws.String("welcome")})
	require.ErrorAs(t, err, &nf)

	require.Equal(t, map[string]int{OutcomeAccepted: 2, OutcomeNotFound: 1, OutcomeBadRequest: 1}, s.Calls())
}

func requireClass(t *testing.T, err error, class retry.Class, code string) {
	t.Helper()
	var se *ses.SendError
	require.ErrorAs(t, err, &se)
	require.Equal(t, class, se.Class, "%v", err)
	if code != "" {
		require.Equal(t, code, se.Code)
	}
}

func TestFaults(t *testing.T) {
	ctx := context.Background()
	faults := map[string]*Fault{
		"throttle": Throttle, "quota": QuotaExceeded, "reject": Reject, "unavailable": Unavailable,
		"after": UnavailableAfterAccept, "hangup": HangupAfterAccept,
	}
	s := start(t, Config{Fault: func(r *SendRequest) *Fault {
		return faults[strings.Split(r.To[0], "@")[0]]
	}})
	require.NoError(t, s.CreateTemplate("welcome", "Hi {{name}}", "", "Hello"))
	c := client(t, s.URL())

	for _, tc := range []struct {
		to       string
		class    retry.Class
		accepted int
	}{
		{"throttle@example.org", retry.Throttled, 0},
		{"quota@example.org", retry.Quota, 0},
		{"reject@example.org", retry.Permanent, 0},
		{"unavailable@example.org", retry.Ambiguous, 0},
		{"after@example.org", retry.Ambiguous, 1},
		{"hangup@example.org", retry.Ambiguous, 1},
		{"fine@example.org", "", 1},
	} {
		t.Run(tc.to, func(t *testing.T) {
			_, err := c.Send(ctx, message(tc.to))
			if tc.class == "" {
				require.NoError(t, err)
			} else {
				requireClass(t, err, tc.class, "")
			}
			require.Equal(t, tc.accepted, s.Accepted(tc.to))
		})
	}
	require.Equal(t, 3, s.Count())
	require.Equal(t, map[string]int{
		OutcomeAccepted: 1, "throttle": 1, "quota": 1, "reject": 1, "unavailable": 1,
		"unavailable_after_accept": 1, "hangup_after_accept": 1,
	}, s.Calls())
}

func TestOutbox(t *testing.T) {
	dir := t.TempDir()
	s := start(t, Config{OutboxDir: dir})
	require.NoError(t, s.CreateTemplate("welcome", "Hello {{name}} ✓", "<p>Hi <b>{{name}}</b>, code {{promo.code}}</p>", "Hi {{name}}, code {{promo.code}}"))
	c := client(t, s.URL())
	id, err := c.Send(context.Background(), message("ann+x@example.org"))
	require.NoError(t, err)
	m := message("bob@example.org")
	m.Tags = nil
	_, err = c.Send(context.Background(), m)
	require.NoError(t, err)

	path := filepath.Join(dir, "spring-26", "ann+x@example.org-"+id+".eml")
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	msg, err := mail.ReadMessage(f)
	require.NoError(t, err)
	require.Equal(t, "news@example.com", msg.Header.Get("From"))
	require.Equal(t, "ann+x@example.org", msg.Header.Get("To"))
	subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	require.NoError(t, err)
	require.Equal(t, "Hello Ann ✓", subject)
	require.Equal(t, "<https://example.com/u?t=1>", msg.Header.Get("List-Unsubscribe"))
	require.Equal(t, "List-Unsubscribe=One-Click", msg.Header.Get("List-Unsubscribe-Post"))
	require.Equal(t, "campaign=spring-26, user=u1", msg.Header.Get("X-SES-MESSAGE-TAGS"))

	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	require.NoError(t, err)
	require.Equal(t, "multipart/alternative", mt)
	parts := map[string]string{}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		b, err := io.ReadAll(p)
		require.NoError(t, err)
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		parts[ct] = strings.TrimSpace(string(b))
	}
	require.Equal(t, map[string]string{"text/plain": "Hi Ann, code X42", "text/html": "<p>Hi <b>Ann</b>, code X42</p>"}, parts)

	others, err := filepath.Glob(filepath.Join(dir, "default", "bob@example.org-*.eml"))
	require.NoError(t, err)
	require.Len(t, others, 1)
}

func TestConcurrentSends(t *testing.T) {
	s := start(t, Config{Keep: true})
	require.NoError(t, s.CreateTemplate("welcome", "Hi {{name}}", "", "Hello {{name}}"))
	c := client(t, s.URL())
	const workers, each = 32, 40
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				// Every worker sends to the same 40 recipients: each gets
				// `workers` emails.
				if _, err := c.Send(context.Background(), message(fmt.Sprintf("u%d@example.org", i))); err != nil {
					errs <- fmt.Errorf("worker %d: %w", w, err)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Equal(t, workers*each, s.Count())
	rcpt := s.Recipients()
	require.Len(t, rcpt, each)
	for r, n := range rcpt {
		require.Equal(t, workers, n, r)
	}
	ids := map[string]bool{}
	for _, m := range s.Messages() {
		require.False(t, ids[m.MessageID], "duplicate message id %s", m.MessageID)
		ids[m.MessageID] = true
	}
	require.Len(t, ids, workers*each)
}
