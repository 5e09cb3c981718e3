package ses

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"syscall"
	"testing"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	smithy "github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/stretchr/testify/require"

	"github.com/sendonce/sendonce/pkg/retry"
)

// apiErr builds the error shape the SDK returns for an answer from SES.
func apiErr(status int, code, msg string) error {
	return &smithy.OperationError{ServiceID: "SESv2", OperationName: "SendEmail", Err: &awshttp.ResponseError{
		ResponseError: &smithyhttp.ResponseError{
			Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}},
			Err:      &smithy.GenericAPIError{Code: code, Message: msg},
		},
	}}
}

// transportErr builds the error shape of a call that got no answer.
func transportErr(err error) error {
	return &smithy.OperationError{ServiceID: "SESv2", OperationName: "SendEmail", Err: &smithyhttp.RequestSendError{Err: err}}
}

func TestClassifyEveryCode(t *testing.T) {
	codes := make([]string, 0, len(Codes))
	for c := range Codes {
		codes = append(codes, c)
	}
	sort.Strings(codes)
	for _, code := range codes {
		t.Run(code, func(t *testing.T) {
			want := Codes[code]
			// The code decides whatever the status, and whether or not the
			// request was written (an answer implies it was).
			for _, status := range []int{400, 403, 404, 429, 500} {
				require.Equal(t, want, Classify(apiErr(status, code, "some message"), false), "status %d", status)
				require.Equal(t, want, Classify(apiErr(status, code, "some message"), true), "status %d", status)
			}
		})
	}
}

func TestClassify(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: &net.OpError{Err: syscall.ECONNREFUSED}}
	dns := &net.DNSError{Err: "no such host", Name: "email.example.invalid", IsNotFound: true}
	reset := &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
	for _, tc := range []struct {
		name    string
		err     error
		written bool
		want    retry.Class
	}{
		{"nil", nil, true, ""},
		{"429 TooManyRequests", apiErr(429, "TooManyRequestsException", "Too many requests"), true, retry.Throttled},
		{"429 without code", apiErr(429, "", ""), true, retry.Throttled},
		{"throttling max rate", apiErr(400, "Throttling", "Maximum sending rate exceeded."), true, retry.Throttled},
		{"throttling daily quota", apiErr(400, "Throttling", "Daily message quota exceeded."), true, retry.Quota},
		{"ThrottlingException daily quota", apiErr(400, "ThrottlingException", "Daily message quota exceeded"), true, retry.Quota},
		{"TooManyRequests daily quota", apiErr(429, "TooManyRequestsException", "Daily message quota exceeded."), true, retry.Quota},
		{"LimitExceeded", apiErr(400, "LimitExceededException", "Limit exceeded"), true, retry.Quota},
		{"MessageRejected", apiErr(400, "MessageRejected", "Email address is not verified."), true, retry.Permanent},
		{"NotFound", apiErr(404, "NotFoundException", "Template does not exist"), true, retry.Permanent},
		{"unknown 4xx", apiErr(400, "SomethingNewException", ""), true, retry.Permanent},
		{"404 without code (emulator)", apiErr(404, "", "The resource you attempted to access doesn't exist."), true, retry.Permanent},
		{"401 without code", apiErr(401, "", ""), true, retry.Stop},
		{"403 unknown code", apiErr(403, "SomethingForbidden", ""), true, retry.Stop},
		{"AccountSuspended", apiErr(400, "AccountSuspendedException", ""), true, retry.Stop},
		{"SendingPaused", apiErr(400, "SendingPausedException", ""), true, retry.Stop},
		{"408", apiErr(408, "", ""), true, retry.Ambiguous},
		{"500 InternalServiceError", apiErr(500, "InternalServiceErrorException", ""), true, retry.Ambiguous},
		{"503 without code", apiErr(503, "", ""), true, retry.Ambiguous},
		{"503 even if not written", apiErr(503, "", ""), false, retry.Ambiguous},
		{"200 that failed to decode", apiErr(200, "", ""), true, retry.Ambiguous},
		{"refused", transportErr(refused), false, retry.NotSent},
		{"dns", transportErr(dns), false, retry.NotSent},
		{"reset after write", transportErr(reset), true, retry.Ambiguous},
		{"reset before write", transportErr(reset), false, retry.NotSent},
		{"EOF after write", transportErr(io.ErrUnexpectedEOF), true, retry.Ambiguous},
		{"timeout after write", transportErr(context.DeadlineExceeded), true, retry.Ambiguous},
		{"timeout before write", transportErr(context.DeadlineExceeded), false, retry.NotSent},
		{"cancelled before write", context.Canceled, false, retry.NotSent},
		{"unknown after write", errors.New("boom"), true, retry.Ambiguous},
		{"unknown before write", fmt.Errorf("resolving credentials: %w", errors.New("boom")), false, retry.NotSent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, Classify(tc.err, tc.written))
		})
	}
}

func TestEveryClassHasAnAction(t *testing.T) {
	for _, c := range Codes {
		_, ok := retry.Actions[c]
		require.True(t, ok, "class %q has no action", c)
	}
	for _, r := range Messages {
		_, ok := retry.Actions[r.Class]
		require.True(t, ok, "class %q has no action", r.Class)
	}
}

func TestTagValue(t *testing.T) {
	require.Equal(t, "2026-11_spring", TagValue("2026-11_spring"))
	require.Equal(t, "", TagValue(""))

	a, b := TagValue("a.b@example.com"), TagValue("a_b@example.com")
	require.NotEqual(t, a, b, "distinct values must stay distinct")
	for _, v := range []string{a, b, TagValue(string(make([]byte, 400))), TagValue("héllo wörld/ü")} {
		require.True(t, fits(v), "%q does not fit the SES charset", v)
		require.LessOrEqual(t, len(v), maxTag)
	}
	require.Equal(t, a, TagValue("a.b@example.com"), "stable")
}
