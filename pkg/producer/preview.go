package producer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"

	"github.com/sendonce/sendonce/pkg/job"
	"github.com/sendonce/sendonce/pkg/source"
)

// Renderer is the SES call preview needs; *sesv2.Client has it.
type Renderer interface {
	TestRenderEmailTemplate(ctx context.Context, in *sesv2.TestRenderEmailTemplateInput, opts ...func(*sesv2.Options)) (*sesv2.TestRenderEmailTemplateOutput, error)
}

// ErrUserNotFound is returned by Preview when no row of the source has the
// user id.
var ErrUserNotFound = errors.New("user not found in the source")

// Preview is one user's email, rendered without sending.
type Preview struct {
	Row      int
	Job      *job.Job
	Rendered string // the MIME message SES rendered
}

// RenderPreview finds userID in src, builds its job exactly as Publish
// would and renders it with SES TestRenderEmailTemplate.
func RenderPreview(ctx context.Context, cfg PublishConfig, src source.Reader, userID string, r Renderer) (Preview, error) {
	for {
		row, err := src.Next(ctx)
		if errors.Is(err, io.EOF) {
			return Preview{}, fmt.Errorf("%w: no row of %s has user_id %q", ErrUserNotFound, cfg.Source, userID)
		}
		if err != nil {
			return Preview{}, fmt.Errorf("reading source %s: %w", cfg.Source, err)
		}
		if row.Err != nil || row.UserID != userID {
			continue
		}
		if reason, detail := CheckRow(&row); reason != "" {
			return Preview{}, fmt.Errorf("row %d of user %q would be rejected (%s): %s", row.Num, userID, reason, detail)
		}
		j := newBuilder(&cfg, time.Now()).build(&row)
		data := "{}"
		if len(j.Data) > 0 {
			data = string(j.Data)
		}
		out, err := r.TestRenderEmailTemplate(ctx, &sesv2.TestRenderEmailTemplateInput{
			TemplateName: aws.String(cfg.Template),
			TemplateData: aws.String(data),
		})
		if err != nil {
			return Preview{}, fmt.Errorf("rendering template %q with SES (does the template exist in this account and region?): %w", cfg.Template, err)
		}
		return Preview{Row: row.Num, Job: j, Rendered: aws.ToString(out.RenderedTemplate)}, nil
	}
}

// WriteText prints the envelope the sender would use and the rendered
// message.
func (p Preview) WriteText(w io.Writer) error {
	j := p.Job
	fmt.Fprintf(w, "campaign:  %s\nuser_id:   %s (row %d)\nto:        %s\nfrom:      %s\ntemplate:  %s\n", j.Campaign, j.UserID, p.Row, j.Email, j.From, j.Template)
	if j.ConfigurationSet != "" {
		fmt.Fprintf(w, "config set: %s\n", j.ConfigurationSet)
	}
	keys := make([]string, 0, len(j.Headers))
	for k := range j.Headers {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "header:    %s: %s\n", k, j.Headers[k])
	}
	fmt.Fprintf(w, "data:      %s\n\n", orEmpty(j.Data))
	_, err := fmt.Fprintln(w, p.Rendered)
	return err
}

func orEmpty(b []byte) string {
	if len(b) == 0 {
		return "{}"
	}
	return string(b)
}
