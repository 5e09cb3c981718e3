package ses

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
)

// CreateTemplate creates the template, or updates it if one of that name
// exists: the caller's template is the source of truth, so running the same
// deployment step twice converges instead of failing. Empty html or text is
// left out (SES needs at least one of them).
func (c *Client) CreateTemplate(ctx context.Context, name, subject, html, text string) error {
	content := &types.EmailTemplateContent{Subject: aws.String(subject)}
	if html != "" {
		content.Html = aws.String(html)
	}
	if text != "" {
		content.Text = aws.String(text)
	}
	err := c.createTemplate(ctx, name, content)
	if err == nil || !alreadyExists(err) {
		return err
	}
	return c.updateTemplate(ctx, name, content)
}

func (c *Client) createTemplate(ctx context.Context, name string, content *types.EmailTemplateContent) error {
	ctx, cancel, written := c.call(ctx)
	defer cancel()
	start := time.Now()
	_, err := c.api.CreateEmailTemplate(ctx, &sesv2.CreateEmailTemplateInput{TemplateName: aws.String(name), TemplateContent: content})
	c.m.observe(opCreateTemplate, start, Classify(err, written.Load()))
	if err != nil {
		return fmt.Errorf("ses CreateEmailTemplate %q: %w", name, err)
	}
	return nil
}

func (c *Client) updateTemplate(ctx context.Context, name string, content *types.EmailTemplateContent) error {
	ctx, cancel, written := c.call(ctx)
	defer cancel()
	start := time.Now()
	_, err := c.api.UpdateEmailTemplate(ctx, &sesv2.UpdateEmailTemplateInput{TemplateName: aws.String(name), TemplateContent: content})
	c.m.observe(opUpdateTemplate, start, Classify(err, written.Load()))
	if err != nil {
		return fmt.Errorf("ses UpdateEmailTemplate %q: %w", name, err)
	}
	return nil
}

// alreadyExists recognises SES's AlreadyExistsException, and the emulator's
// version of it, which carries its code where the SDK does not look (a 400
// whose message says "already exists").
func alreadyExists(err error) bool {
	var ae *types.AlreadyExistsException
	if errors.As(err, &ae) {
		return true
	}
	code, msg, status := describe(err)
	return code == "AlreadyExistsException" ||
		(code == "" && status == 400 && strings.Contains(strings.ToLower(msg), "already exists"))
}

// Render renders a stored template with templateData (a JSON object) and
// returns the MIME text of the email SES would send
// (TestRenderEmailTemplate); empty templateData means "{}". The producer's
// preview uses it.
func (c *Client) Render(ctx context.Context, template, templateData string) (string, error) {
	if templateData == "" {
		templateData = "{}" // SES requires TemplateData here
	}
	ctx, cancel, written := c.call(ctx)
	defer cancel()
	start := time.Now()
	out, err := c.api.TestRenderEmailTemplate(ctx, &sesv2.TestRenderEmailTemplateInput{
		TemplateName: aws.String(template),
		TemplateData: aws.String(templateData),
	})
	c.m.observe(opRender, start, Classify(err, written.Load()))
	if err != nil {
		return "", fmt.Errorf("ses TestRenderEmailTemplate %q: %w", template, err)
	}
	return aws.ToString(out.RenderedTemplate), nil
}
