package producer

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/stretchr/testify/require"

	"github.com/sendonce/sendonce/pkg/testenv"
)

type fakeRenderer struct {
	in  *sesv2.TestRenderEmailTemplateInput
	err error
}

func (f *fakeRenderer) TestRenderEmailTemplate(_ context.Context, in *sesv2.TestRenderEmailTemplateInput, _ ...func(*sesv2.Options)) (*sesv2.TestRenderEmailTemplateOutput, error) {
	f.in = in
	if f.err != nil {
		return nil, f.err
	}
	return &sesv2.TestRenderEmailTemplateOutput{RenderedTemplate: aws.String("Subject: Hi " + aws.ToString(in.TemplateData))}, nil
}

func TestRenderPreview(t *testing.T) {
	cfg := testConfig()
	cfg.UnsubscribeURL = "https://example.com/u/{{user_id}}"
	r := &fakeRenderer{}
	p, err := RenderPreview(context.Background(), cfg, csvSource(t, 10, "u10,bad-address,x"), "u7", r)
	require.NoError(t, err)
	require.Equal(t, "monthly_news", aws.ToString(r.in.TemplateName))
	require.JSONEq(t, `{"first_name":"Name 7"}`, aws.ToString(r.in.TemplateData))
	require.Equal(t, 8, p.Row)
	require.Equal(t, "u7@example.com", p.Job.Email)
	var out bytes.Buffer
	require.NoError(t, p.WriteText(&out))
	require.Contains(t, out.String(), "header:    List-Unsubscribe: <https://example.com/u/u7>")
	require.Contains(t, out.String(), `Subject: Hi {"first_name":"Name 7"}`)

	_, err = RenderPreview(context.Background(), cfg, csvSource(t, 10), "u99", r)
	require.ErrorIs(t, err, ErrUserNotFound)
	require.ErrorContains(t, err, `user_id "u99"`)

	_, err = RenderPreview(context.Background(), cfg, csvSource(t, 10, "u10,bad-address,x"), "u10", r)
	require.ErrorContains(t, err, "would be rejected (invalid_email)")

	r.err = errors.New("NotFoundException: template does not exist")
	_, err = RenderPreview(context.Background(), cfg, csvSource(t, 3), "u1", r)
	require.ErrorContains(t, err, "does the template exist")
}

func TestRenderPreviewWithSES(t *testing.T) {
	testenv.SESEndpoint(t)
	ctx := context.Background()
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
	require.NoError(t, err)
	ses := sesv2.NewFromConfig(awsCfg)
	name := strings.ReplaceAll(testenv.Name(t, "tpl"), ".", "-")
	if len(name) > 64 {
		name = name[:64]
	}
	_, err = ses.CreateEmailTemplate(ctx, &sesv2.CreateEmailTemplateInput{
		TemplateName: aws.String(name),
		TemplateContent: &types.EmailTemplateContent{
			Subject: aws.String("Hello {{first_name}}"),
			Text:    aws.String("Dear {{first_name}}, your news."),
			Html:    aws.String("<p>Dear {{first_name}}</p>"),
		},
	})
	require.NoError(t, err)
	t.Cleanup(func() {
		_, _ = ses.DeleteEmailTemplate(ctx, &sesv2.DeleteEmailTemplateInput{TemplateName: aws.String(name)})
	})

	cfg := testConfig()
	cfg.Template = name
	p, err := RenderPreview(ctx, cfg, csvSource(t, 5), "u3", ses)
	require.NoError(t, err)
	require.Contains(t, p.Rendered, "Hello Name 3")
	require.Contains(t, p.Rendered, "Dear Name 3")
}
