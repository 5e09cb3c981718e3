package ses

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/sendonce/sendonce/pkg/testenv"
)

// TestPreflightOnEmulator: what the pre-flight lookups make of the real
// emulator's answers (aws-ses-v2-local: a template 404 without an error
// code the SDK reads, and no GetEmailIdentity at all).
func TestPreflightOnEmulator(t *testing.T) {
	testenv.SESEndpoint(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := New(ctx, Config{}, prometheus.NewRegistry())
	require.NoError(t, err)
	name := testenv.Name(t, "tmpl")
	if len(name) > 64 {
		name = name[len(name)-64:]
	}
	require.ErrorIs(t, c.Template(ctx, name), ErrTemplateNotFound)
	require.NoError(t, c.CreateTemplate(ctx, name, "Hi {{name}}", "", "Hello {{name}}"))
	require.NoError(t, c.Template(ctx, name))

	_, err = c.IdentityVerified(ctx, "reports@example.com")
	require.ErrorIs(t, err, ErrNotImplemented, "the emulator has no GetEmailIdentity: publish warns and goes on")
}
